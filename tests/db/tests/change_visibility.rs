//! `feed.visible` (migration 20261126130200): which changes of a batch each subscriber may
//! select, under their own role and claims, in one call for the whole batch.

use db_tests::connect;
use serde_json::{json, Value};

const ADA: &str = "11111111-1111-4111-8111-111111111111";
const BASIL: &str = "22222222-2222-4222-8222-222222222222";
const ELM: &str = "55555555-5555-4555-8555-555555555555";
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
