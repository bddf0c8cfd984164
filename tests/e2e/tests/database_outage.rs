//! The health endpoint follows the database down and back up, without a Worker restart.
//! Run alone by scripts/test.sh: it stops the test PostgreSQL.

use e2e::get_json;
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

    pg(&["stop", &data]);
    let body = health_until(503, Duration::from_secs(15)).await;
    assert_eq!(body["error"], "database unavailable");
    assert_eq!(body["database"]["ok"], false);
    assert!(body["database"]["error"].as_str().is_some_and(|e| !e.is_empty()), "the cause is reported: {body}");

    pg(&["start", &data, &port]);
    let body = health_until(200, Duration::from_secs(30)).await;
    assert_eq!(body["database"]["ok"], true);
}
