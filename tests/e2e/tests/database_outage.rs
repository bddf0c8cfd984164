//! The health endpoint and private-channel joins follow the database down and back up,
//! without a Worker restart; during the outage, channels keep their last good decision.
//! Run alone by scripts/test.sh: it stops the test PostgreSQL.

use e2e::get_json;
use serde_json::json;
use std::process::Command;
use std::time::Duration;

fn pg(args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pg.sh");
    let status = Command::new("bash").arg(script).args(args).status().expect("running scripts/pg.sh");
    assert!(status.success(), "scripts/pg.sh {args:?} failed");
}

async fn health_until(expected: u16, within: Duration) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (status, body) = get_json("/functions/v1/health").await;
        if status == expected {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "health stayed {status} ({body}), wanted {expected}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn database_outage_gives_503_then_recovers() {
    let data = std::env::var("E2E_PG_DATA").expect("E2E_PG_DATA: run with `make test`");
    let port = std::env::var("E2E_PG_PORT").expect("E2E_PG_PORT: run with `make test`");
    health_until(200, Duration::from_secs(10)).await;
    // Users of their own, so no earlier test's remembered decision answers for them.
    let (fresh_id, fresh_token) = e2e::stranger_token(&format!("outage-fresh-{}", e2e::now()));
    let (known_id, known_token) = e2e::stranger_token(&format!("outage-known-{}", e2e::now()));
    let known_inbox = format!("realtime:user:{known_id}");
    let mut known = e2e::Client::connect_with_token(&known_token, realtime_protocol::Vsn::V2).await;
    let known_ref = known.join(&known_inbox, json!({"private": true, "broadcast": {"self": true}})).await;
    // A subscriber to database changes, told when the feed loses and regains the database.
    let thread = "aaaaaaaa-0000-4000-8000-000000000001";
    let mut watcher = e2e::Client::connect(e2e::ADA, realtime_protocol::Vsn::V2).await;
    let binding =
        json!({"event": "INSERT", "schema": "public", "table": "messages", "filter": format!("thread_id=eq.{thread}")});
    watcher.join(&e2e::unique_topic("outage-changes"), json!({"postgres_changes": [binding]})).await;

    pg(&["stop", &data]);
    let body = health_until(503, Duration::from_secs(15)).await;
    assert_eq!(body["error"]["code"], "database_unavailable");
    assert_eq!(body["database"]["ok"], false);
    assert!(body["database"]["error"].as_str().is_some_and(|e| !e.is_empty()), "the cause is reported: {body}");

    // A private channel cannot be authorized without the database: a retryable refusal,
    // while public channels keep working.
    let fresh_inbox = format!("realtime:user:{fresh_id}");
    let mut client = e2e::Client::connect_with_token(&fresh_token, realtime_protocol::Vsn::V2).await;
    let (_, reply) = client.join_payload(&fresh_inbox, json!({"config": {"private": true}})).await;
    assert_eq!(reply["response"]["reason"], "DatabaseConnectionIssue: Could not check access to this channel, retry");
    client.join(&e2e::unique_topic("open-during-outage"), json!({})).await;

    // A channel allowed before the outage survives a token refresh during it, and keeps
    // its write access; the same user joins again on the decision the room remembers.
    let refreshed = e2e::sign(&json!({
        "sub": known_id, "role": "authenticated", "aud": "authenticated", "exp": e2e::now() + 7200
    }));
    known.push(&known_inbox, "access_token", json!({"access_token": refreshed}), Some(&known_ref)).await;
    known.expect_silence("a refresh during the outage does not close the channel").await;
    let note = json!({"type": "broadcast", "event": "during-outage", "payload": {"ok": true}});
    known.push(&known_inbox, "broadcast", note, Some(&known_ref)).await;
    let got = known.recv_until("its own broadcast", |f| f.event == "broadcast" || f.event == "system").await;
    assert_eq!(got.event, "broadcast", "still open and writable during the outage: {got:?}");
    let mut second = e2e::Client::connect_with_token(&known_token, realtime_protocol::Vsn::V2).await;
    second.join(&known_inbox, json!({"private": true})).await;

    let lost = watcher
        .recv_until("the feed's outage notice", |f| f.event == "system" && f.payload["extension"] == "postgres_changes")
        .await;
    assert_eq!(lost.payload["status"], "error");
    assert_eq!(lost.payload["message"], "DatabaseConnectionIssue: Could not check access to this channel, retry");

    pg(&["start", &data, &port]);
    let body = health_until(200, Duration::from_secs(30)).await;
    assert_eq!(body["database"]["ok"], true);
    let back = watcher
        .recv_until("the feed's recovery notice", |f| {
            f.event == "system" && f.payload["extension"] == "postgres_changes"
        })
        .await;
    assert_eq!(back.payload["status"], "ok");
    // Changes flow again once the database is back.
    let db = e2e::database().await;
    let body_text = format!("after the outage {}", e2e::now());
    db.execute(
        "insert into public.messages (thread_id, sender_id, body) values ($1::text::uuid, $2::text::uuid, $3)",
        &[&thread, &e2e::ADA, &body_text],
    )
    .await
    .expect("insert after the outage");
    let delivered = watcher
        .recv_until("the change after the outage", |f| {
            f.event == "postgres_changes" && f.payload["data"]["record"]["body"] == body_text.as_str()
        })
        .await;
    assert_eq!(delivered.payload["data"]["type"], "INSERT");
    let (_, reply) = client.join_payload(&fresh_inbox, json!({"config": {"private": true}})).await;
    assert_eq!(reply["status"], "ok", "the same socket joins once the database is back: {reply:?}");
}
