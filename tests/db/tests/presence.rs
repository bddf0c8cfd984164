//! Global presence in the database (migration 20261127150000): the system records
//! whether a user is connected, the user chooses how they appear, and `user_presence`
//! shows others the result — offline while disconnected or invisible — with each change
//! broadcast on `presence:<user_id>`. Each test runs in a transaction it rolls back.

use db_tests::{act_as, connect, ADA, BASIL};
use serde_json::Value;
use tokio_postgres::Client;

async fn shown(client: &Client, user: &str) -> (String, Option<String>) {
    let row = client
        .query_one(
            "select status::text, to_json(last_seen_at)#>>'{}' from public.user_presence where user_id = $1::text::uuid",
            &[&user],
        )
        .await
        .expect("a presence row");
    (row.get(0), row.get(1))
}

async fn record(client: &Client, user: &str, connected: bool, seen: &str) {
    client.batch_execute("reset role").await.unwrap();
    client
        .execute(
            "select public.record_connectivity($1::text::uuid, $2, $3::text::timestamptz)",
            &[&user, &connected, &seen],
        )
        .await
        .expect("the system records a connection");
}

async fn broadcasts(client: &Client, user: &str) -> Vec<Value> {
    client.batch_execute("reset role").await.unwrap();
    client
        .query(
            "select payload from realtime.messages where topic = 'presence:' || $1 and event = 'presence' and private
              order by inserted_at, id",
            &[&user],
        )
        .await
        .expect("broadcasts")
        .iter()
        .map(|r| r.get::<_, Value>(0))
        .collect()
}

#[tokio::test]
async fn others_see_the_choice_only_while_connected_and_never_while_invisible() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    let before = broadcasts(&client, BASIL).await.len();
    record(&client, BASIL, true, "2026-11-27 10:00:00+00").await;
    assert_eq!(shown(&client, BASIL).await.0, "online");

    act_as(&client, BASIL).await;
    client.execute("select public.set_presence('invisible')", &[]).await.expect("hiding");
    act_as(&client, ADA).await;
    let hidden = shown(&client, BASIL).await;
    assert_eq!(hidden.0, "offline", "invisible looks offline");
    record(&client, BASIL, false, "2026-11-27 11:00:00+00").await;
    record(&client, BASIL, true, "2026-11-27 12:00:00+00").await;
    assert_eq!(shown(&client, BASIL).await, hidden, "nothing moves while invisible, last_seen_at included");

    act_as(&client, BASIL).await;
    client.execute("select public.set_presence('busy', 'Grafting')", &[]).await.expect("busy");
    assert_eq!(shown(&client, BASIL).await.0, "busy");
    record(&client, BASIL, false, "2026-11-27 13:00:00+00").await;
    let (status, seen) = shown(&client, BASIL).await;
    assert_eq!(status, "offline", "a busy user who disconnects is offline");
    assert!(seen.is_some_and(|s| s.starts_with("2026-11-27T13:00:00")), "last seen when the last socket went");

    let sent = broadcasts(&client, BASIL).await;
    let statuses: Vec<&str> = sent[before..].iter().filter_map(|p| p["status"].as_str()).collect();
    assert_eq!(statuses, ["online", "offline", "busy", "offline"], "one broadcast per visible change");
    client.batch_execute("rollback").await.unwrap();
}

#[tokio::test]
async fn a_user_cannot_claim_a_connection_or_an_invalid_status() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    act_as(&client, ADA).await;
    let claimed = client.execute("select public.record_connectivity($1::text::uuid, true, now())", &[&ADA]).await;
    assert_eq!(claimed.unwrap_err().code().map(|c| c.code()), Some("42501"));
    client.batch_execute("rollback; begin").await.unwrap();
    act_as(&client, ADA).await;
    let offline = client.execute("select public.set_presence('offline')", &[]).await;
    assert_eq!(offline.unwrap_err().code().map(|c| c.code()), Some("22023"), "offline is the system's to say");
    client.batch_execute("rollback").await.unwrap();
}

#[tokio::test]
async fn a_token_that_outlived_its_account_records_nothing() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    let ghost = "00000000-0000-4000-8000-0000000000aa";
    record(&client, ghost, true, "2026-11-27 10:00:00+00").await;
    let rows = client
        .query("select 1 from public.user_presence where user_id = $1::text::uuid", &[&ghost])
        .await
        .expect("presence");
    assert!(rows.is_empty(), "no account, no presence row (and no error that would be retried for ever)");
    client.batch_execute("rollback").await.unwrap();
}
