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

    pg(&["stop", &data]);
    let body = health_until(503, Duration::from_secs(15)).await;
    assert_eq!(body["error"], "database unavailable");
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

    pg(&["start", &data, &port]);
    let body = health_until(200, Duration::from_secs(30)).await;
    assert_eq!(body["database"]["ok"], true);
    let (_, reply) = client.join_payload(&fresh_inbox, json!({"config": {"private": true}})).await;
    assert_eq!(reply["status"], "ok", "the same socket joins once the database is back: {reply:?}");
}
