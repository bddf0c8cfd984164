//! The migrations apply on a fresh database and on one that already has the Supabase
//! baseline (as a Supabase project does), and the baseline applies twice; on a database
//! whose `realtime` schema belongs to Supabase's Realtime (its partitioned
//! `realtime.messages` and its own `realtime.send`), they leave those alone and broadcasts
//! from the database still reach the change feed.

use db_tests::connect;
use std::process::Command;

fn url_for(db: &str) -> String {
    let base = std::env::var("E2E_DATABASE_URL").expect("E2E_DATABASE_URL: run with `make test`");
    let (head, tail) = base.rsplit_once('/').expect("a database URL");
    let query = tail.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
    format!("{head}/{db}{query}")
}

fn run(program: &str, args: &[&str]) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = Command::new(program).args(args).current_dir(root).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn fresh_database(name: &str) -> String {
    let admin = connect().await;
    admin.batch_execute(&format!("drop database if exists {name}")).await.unwrap();
    admin.batch_execute(&format!("create database {name}")).await.unwrap();
    url_for(name)
}

#[tokio::test]
async fn baseline_migrations_and_seed_apply_to_a_fresh_database() {
    let url = fresh_database(&format!("fresh_{}", std::process::id())).await;
    run("bash", &["scripts/db-setup.sh", &url]);
    // And again: nothing left to apply, the seed changes nothing.
    run("bash", &["scripts/db-setup.sh", &url]);
}

#[tokio::test]
async fn migrations_apply_on_a_database_that_already_has_the_baseline() {
    let url = fresh_database(&format!("baselined_{}", std::process::id())).await;
    let psql_url = url.split('?').next().unwrap_or(&url).to_string();
    for _ in 0..2 {
        run("psql", &[&psql_url, "-q", "-v", "ON_ERROR_STOP=1", "-f", "supabase/baseline.sql"]);
    }
    run("sqlx", &["migrate", "run", "--source", "migrations", "--database-url", &url, "--no-dotenv"]);
    run("psql", &[&psql_url, "-q", "-v", "ON_ERROR_STOP=1", "-f", "supabase/seed.sql"]);
}

/// What a Supabase project has before our migrations run: Realtime's schema, its
/// `messages` table partitioned by day and owned by its admin role, and its `send()`,
/// which turns errors into warnings.
const SUPABASE_REALTIME: &str = r#"
do $$ begin
    if not exists (select 1 from pg_roles where rolname = 'supabase_realtime_admin') then
        create role supabase_realtime_admin nologin;
    end if;
end $$;
create schema realtime authorization supabase_realtime_admin;
set role supabase_realtime_admin;
create table realtime.messages (
    topic text not null,
    extension text not null,
    payload jsonb,
    event text,
    private boolean default false,
    updated_at timestamp not null default now(),
    inserted_at timestamp not null default now(),
    id uuid not null default gen_random_uuid(),
    primary key (id, inserted_at)
) partition by range (inserted_at);
do $$ begin
    for d in 0..1 loop
        execute format('create table realtime.messages_%s partition of realtime.messages for values from (%L) to (%L)',
                       to_char(current_date + d, 'YYYY_MM_DD'), current_date + d, current_date + d + 1);
    end loop;
end $$;
alter table realtime.messages enable row level security;
create function realtime.topic() returns text language sql stable
    as $fn$ select nullif(current_setting('realtime.topic', true), '')::text $fn$;
create function realtime.send(payload jsonb, event text, topic text, private boolean default true) returns void
language plpgsql as $fn$
begin
    begin
        execute format('set local realtime.topic to %L', topic);
        insert into realtime.messages (payload, event, topic, private, extension)
        values (payload, event, topic, private, 'broadcast');
    exception when others then
        raise warning 'ErrorSendingBroadcastMessage: %', sqlerrm;
    end;
end
$fn$;
reset role;
"#;

#[tokio::test]
async fn on_supabase_s_own_realtime_schema_broadcasts_from_the_database_reach_the_feed() {
    let url = fresh_database(&format!("supabase_shape_{}", std::process::id())).await;
    let db = db_tests::connect_to(&url).await;
    db.batch_execute(SUPABASE_REALTIME).await.expect("Supabase's realtime schema");
    run("bash", &["scripts/db-setup.sh", &url]);

    let owner: String = db
        .query_one("select pg_get_userbyid(proowner)::text from pg_proc where oid = 'realtime.send'::regproc", &[])
        .await
        .expect("realtime.send")
        .get(0);
    assert_eq!(owner, "supabase_realtime_admin", "Supabase's send() is left in place");
    let triggers: i64 = db
        .query_one(
            "select count(*) from pg_trigger where tgrelid = 'realtime.messages'::regclass and not tgisinternal",
            &[],
        )
        .await
        .expect("triggers")
        .get(0);
    assert_eq!(triggers, 0, "nothing is added to a table this project does not own");

    db.execute("select realtime.send('{\"open\": 3}', 'tally', 'poll:p1', false)", &[]).await.expect("send");
    let mut delivered = Vec::new();
    for _ in 0..3 {
        for row in db
            // The seed's notifications broadcast unread counts too; this test follows its own.
            .query(
                "select record from feed.read(100)
                  where schema_name = 'realtime' and table_name = 'messages' and record->>'topic' = 'poll:p1'",
                &[],
            )
            .await
            .expect("feed.read")
        {
            delivered.push(row.get::<_, serde_json::Value>(0));
        }
    }
    assert_eq!(delivered.len(), 1, "read once, in the partition it was stored in: {delivered:?}");
    assert_eq!(delivered[0]["topic"], "poll:p1");
    assert_eq!(delivered[0]["event"], "tally");
    assert_eq!(delivered[0]["payload"], serde_json::json!({"open": 3}));
    assert_eq!(delivered[0]["private"], false);
}
