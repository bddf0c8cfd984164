//! Structural rules of the schema that fail the build when broken.

use db_tests::connect;

async fn offenders(sql: &str) -> Vec<String> {
    let client = connect().await;
    client.query(sql, &[]).await.expect("catalog query").iter().map(|r| r.get::<_, String>(0)).collect()
}

#[tokio::test]
async fn every_table_in_public_has_rls_enabled_and_at_least_one_policy() {
    let bad = offenders(
        "select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relkind in ('r', 'p')
            and (not c.relrowsecurity
                 or not exists (select 1 from pg_policies p where p.schemaname = 'public' and p.tablename = c.relname))",
    )
    .await;
    assert!(bad.is_empty(), "tables without RLS or without a policy: {bad:?}");
    let count = offenders(
        "select count(*)::text from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind = 'r'",
    )
    .await;
    assert!(count[0].parse::<u32>().unwrap_or(0) >= 14, "the community tables exist: {count:?}");
}

#[tokio::test]
async fn every_table_in_public_has_a_comment() {
    let bad = offenders(
        "select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relkind = 'r' and obj_description(c.oid, 'pg_class') is null",
    )
    .await;
    assert!(bad.is_empty(), "tables without `comment on table`: {bad:?}");
}

#[tokio::test]
async fn every_security_definer_function_sets_search_path() {
    let bad = offenders(
        "select n.nspname || '.' || p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
          where p.prosecdef and n.nspname in ('public', 'private', 'realtime')
            and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) c where c like 'search_path=%')",
    )
    .await;
    assert!(bad.is_empty(), "security definer functions without search_path: {bad:?}");
}

#[tokio::test]
async fn membership_helpers_live_outside_the_exposed_schema() {
    let bad = offenders(
        "select p.proname::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
          where n.nspname = 'public' and p.proname like 'is\\_%'",
    )
    .await;
    assert!(bad.is_empty(), "helpers in public: {bad:?}");
}

#[tokio::test]
async fn no_policy_reads_user_metadata() {
    let bad = offenders(
        "select schemaname || '.' || tablename || ': ' || policyname from pg_policies
          where coalesce(qual, '') || coalesce(with_check, '') ~* 'user_meta'",
    )
    .await;
    assert!(bad.is_empty(), "policies reading user metadata: {bad:?}");
}

#[tokio::test]
async fn every_policy_calls_auth_uid_through_a_select() {
    let bad = offenders(
        "select tablename || ': ' || policyname from pg_policies
          where schemaname = 'public'
            and regexp_replace(coalesce(qual, '') || coalesce(with_check, ''), 'SELECT auth\\.uid\\(\\)', '', 'g') ~ 'auth\\.uid\\(\\)'",
    )
    .await;
    assert!(bad.is_empty(), "policies calling auth.uid() per row: {bad:?}");
}

#[tokio::test]
async fn every_foreign_key_column_a_policy_filters_on_is_indexed() {
    let bad = offenders(
        "select c.conrelid::regclass::text || '.' || a.attname
           from pg_constraint c
           join pg_namespace n on n.oid = c.connamespace
           join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
          where c.contype = 'f' and n.nspname = 'public'
            and exists (select 1 from pg_policies p
                         where p.schemaname = 'public' and p.tablename = c.conrelid::regclass::text
                               and coalesce(p.qual, '') || coalesce(p.with_check, '') ~ ('\\m' || a.attname || '\\M'))
            and not exists (select 1 from pg_index i where i.indrelid = c.conrelid and i.indkey[0] = c.conkey[1])",
    )
    .await;
    assert!(bad.is_empty(), "foreign key columns used by a policy without an index: {bad:?}");
}

#[tokio::test]
async fn boolean_helpers_answer_false_not_null_for_strangers_and_unknown_ids() {
    // NULL in a policy refuses, but in a trigger `not helper(...)` is NULL too, and a
    // branch meant for outsiders silently never runs.
    let mut client = connect().await;
    let helpers: Vec<String> = client
        .query(
            "select p.proname::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
              where n.nspname = 'private' and p.prorettype = 'bool'::regtype
                and p.pronargs = 1 and p.proargtypes[0] = 'uuid'::regtype",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(helpers.len() >= 8, "the membership helpers are found: {helpers:?}");
    let tx = client.transaction().await.unwrap();
    tx.batch_execute(
        "select set_config('request.jwt.claims', '{\"sub\": \"55555555-5555-4555-8555-555555555555\", \"role\": \"authenticated\"}', true);
         set local role authenticated",
    )
    .await
    .unwrap();
    let mut nulls = Vec::new();
    for helper in &helpers {
        for id in ["bbbbbbbb-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000000"] {
            let row = tx.query_one(&format!("select private.{helper}($1::text::uuid)"), &[&id]).await.unwrap();
            if row.get::<_, Option<bool>>(0).is_none() {
                nulls.push(format!("{helper}({id})"));
            }
        }
    }
    assert!(nulls.is_empty(), "helpers answering NULL: {nulls:?}");
}
