//! `feed.visible` (migration 20261126130200): which changes of a batch each subscriber may
//! select, under their own role and claims, in one call for the whole batch.

use db_tests::connect;
use serde_json::{json, Value};

const ADA: &str = "11111111-1111-4111-8111-111111111111";
const BASIL: &str = "22222222-2222-4222-8222-222222222222";
const ELM: &str = "55555555-5555-4555-8555-555555555555";
/// The seeded private group (Ada owns it) and the Ada-Basil thread.
const GROUP: &str = "bbbbbbbb-0000-4000-8000-000000000001";
const THREAD: &str = "aaaaaaaa-0000-4000-8000-000000000001";
/// A seed message of the Ada-Basil thread.
const MESSAGE: &str = "aaaaaaaa-0000-4000-8000-000000000101";

fn user(id: &str) -> Value {
    json!({"role": "authenticated", "claims": {"sub": id, "role": "authenticated", "aud": "authenticated"}})
}

async fn visible(claim_sets: &Value, changes: &Value) -> Vec<(i32, i32)> {
    let client = connect().await;
    let mut pairs: Vec<(i32, i32)> = client
        .query("select claim_set, change from feed.visible($1, $2)", &[claim_sets, changes])
        .await
        .expect("feed.visible")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    pairs.sort();
    let role: String = client.query_one("select current_user::text", &[]).await.expect("role").get(0);
    assert_eq!(role, "postgres", "the caller's role is restored");
    pairs
}

#[tokio::test]
async fn each_claim_set_sees_exactly_the_rows_its_policies_allow_in_one_call() {
    let claim_sets = json!([
        user(ADA),
        user(ELM),
        {"role": "anon", "claims": {"role": "anon"}},
        {"role": "service_role", "claims": {"role": "service_role"}},
        user(BASIL),
    ]);
    let changes = json!([
        {"schema": "public", "table": "messages", "pk": {"id": MESSAGE}},
        {"schema": "public", "table": "follow_relationships", "pk": {"follower_id": BASIL, "followee_id": ADA}},
        {"schema": "public", "table": "messages", "pk": {"id": "00000000-0000-4000-8000-000000000000"}},
    ]);
    // Ada: her thread's message and a follow. Elm, a stranger: the follow only. anon:
    // nothing. The service role: everything that exists. Basil: like Ada.
    let expected = vec![(0, 0), (0, 1), (1, 1), (3, 0), (3, 1), (4, 0), (4, 1)];
    assert_eq!(visible(&claim_sets, &changes).await, expected);
}

/// A deleted row cannot be looked up: it is judged by the table's own select policies,
/// evaluated on its old row as each subscriber. Its key alone can be private (who left
/// which private group), so a stranger must see none of it.
#[tokio::test]
async fn a_deleted_row_is_judged_by_the_select_policies_on_its_old_row() {
    let gone_member = "66666666-6666-4666-8666-666666666666";
    let claim_sets = json!([
        user(ADA),
        user(ELM),
        user(gone_member),
        {"role": "anon", "claims": {"role": "anon"}},
        {"role": "service_role", "claims": {"role": "service_role"}},
    ]);
    let member_key = json!({"group_id": GROUP, "user_id": gone_member});
    let participant_key = json!({"thread_id": THREAD, "user_id": BASIL});
    let message_id = "aaaaaaaa-0000-4000-8000-0000000009ff";
    let changes = json!([
        // A member left the private group (group_members keeps the whole old row).
        {"schema": "public", "table": "group_members", "pk": member_key,
         "deleted": {"group_id": GROUP, "user_id": gone_member, "role": "member", "status": "active"}},
        // Basil left the Ada-Basil thread (conversation_participants keeps its key).
        {"schema": "public", "table": "conversation_participants", "pk": participant_key, "deleted": participant_key},
        // A message of the thread was deleted (whole old row), and one known by its key only.
        {"schema": "public", "table": "messages", "pk": {"id": message_id},
         "deleted": {"id": message_id, "thread_id": THREAD, "sender_id": ADA, "body": "gone"}},
        {"schema": "public", "table": "messages", "pk": {"id": message_id}, "deleted": {"id": message_id}},
    ]);
    // Ada (the group's owner, in the thread): the member's leaving, Basil's leaving, the
    // message. Elm, a stranger: nothing. The member who left: their own leaving (the
    // policy shows members their own row). anon: nothing. The service role: everything.
    // A message known by its key only gives the thread policy nothing to go on: only the
    // service role sees it.
    let expected = vec![(0, 0), (0, 1), (0, 2), (2, 0), (4, 0), (4, 1), (4, 2), (4, 3)];
    assert_eq!(visible(&claim_sets, &changes).await, expected);
}

/// A deleted row the policies cannot be evaluated on (here a key that is not a UUID) is
/// seen by nobody, and costs the claim set nothing else: the same table's rows that are
/// looked up are still answered.
#[tokio::test]
async fn a_deleted_row_that_cannot_be_judged_hides_nothing_else() {
    let changes = json!([
        {"schema": "public", "table": "group_members", "pk": {"group_id": GROUP, "user_id": ADA}},
        {"schema": "public", "table": "group_members", "pk": {"group_id": "not-a-uuid", "user_id": ADA},
         "deleted": {"group_id": "not-a-uuid", "user_id": ADA}},
    ]);
    assert_eq!(visible(&json!([user(ADA)]), &changes).await, vec![(0, 0)], "Ada's own membership, still");
}

#[tokio::test]
async fn odd_or_forged_claim_sets_see_nothing_and_do_not_sink_the_batch() {
    let claim_sets = json!([
        {"role": "authenticated", "claims": {"sub": "not-a-uuid", "role": "authenticated"}},
        {"role": "postgres", "claims": {"role": "postgres"}},
        {"role": "authenticated; drop table public.messages", "claims": {}},
        user(ADA),
    ]);
    let changes = json!([{"schema": "public", "table": "messages", "pk": {"id": MESSAGE}}]);
    assert_eq!(visible(&claim_sets, &changes).await, vec![(3, 0)], "only Ada's claim set is answered");
}

/// The regression behind seconds of delivery latency: under a subscriber's role the
/// planner turned the row lookup into a sequential scan of the whole table with the select
/// policy on every row. With thousands of messages and fresh statistics, checking a few
/// changes must look rows up by primary key only (in one transaction, rolled back).
#[tokio::test]
async fn rows_are_looked_up_by_primary_key_not_by_scanning_the_table() {
    let mut client = connect().await;
    let tx = client.transaction().await.expect("begin");
    let thread: String = tx
        .query_one(
            "insert into public.conversation_threads (kind, title, created_by)
             values ('group', 'visibility scan check', $1::text::uuid) returning id::text",
            &[&ADA],
        )
        .await
        .expect("a thread")
        .get(0);
    tx.execute(
        "insert into public.conversation_participants (thread_id, user_id, role) values ($1::text::uuid, $2::text::uuid, 'owner')",
        &[&thread, &ADA],
    )
    .await
    .expect("a participant");
    let ids: Vec<String> = tx
        .query(
            "insert into public.messages (thread_id, sender_id, body)
             select $1::text::uuid, $2::text::uuid, 'bulk ' || n from generate_series(1, 5000) n returning id::text",
            &[&thread, &ADA],
        )
        .await
        .expect("5,000 messages")
        .iter()
        .map(|r| r.get(0))
        .collect();
    tx.batch_execute("analyze public.messages").await.expect("statistics");
    let scans = async |tx: &tokio_postgres::Transaction<'_>| -> (i64, i64) {
        let row = tx
            .query_one(
                "select coalesce(seq_scan, 0), coalesce(idx_scan, 0) from pg_stat_xact_user_tables
                  where relid = 'public.messages'::regclass",
                &[],
            )
            .await
            .expect("scan counters");
        (row.get(0), row.get(1))
    };
    let before = scans(&tx).await;
    let changes: Value =
        ids.iter().step_by(1000).map(|id| json!({"schema": "public", "table": "messages", "pk": {"id": id}})).collect();
    let found = tx
        .query("select claim_set, change from feed.visible($1, $2)", &[&json!([user(ADA), user(ELM)]), &changes])
        .await
        .expect("feed.visible");
    assert_eq!(found.len(), 5, "Ada sees the five, Elm none");
    let after = scans(&tx).await;
    assert_eq!(after.0, before.0, "no sequential scan of messages");
    assert!(after.1 > before.1, "index lookups instead");
    tx.rollback().await.expect("rollback");
}
