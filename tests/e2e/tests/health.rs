//! `GET /functions/v1/health` with the database up.

use e2e::get_json;

#[tokio::test]
async fn health_reports_the_version_and_a_live_database_round_trip() {
    let (status, body) = get_json("/functions/v1/health").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"), "the Worker reports the workspace version");
    assert_eq!(body["database"]["ok"], true);
    let server_version = body["database"]["server_version"].as_str().unwrap_or_default();
    assert!(server_version.starts_with("15."), "PostgreSQL 15 answered, got {server_version:?}");
    assert!(body["database"]["latency_ms"].is_u64());
}

#[tokio::test]
async fn unknown_paths_answer_404_with_a_json_error() {
    let (status, body) = get_json("/functions/v1/no-such-function").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], serde_json::json!({"code": "not_found", "message": "no such endpoint"}));
}

#[tokio::test]
async fn a_plain_get_on_the_websocket_path_asks_for_an_upgrade() {
    let (status, body) = get_json("/realtime/v1/websocket?vsn=2.0.0").await;
    assert_eq!(status, 426);
    assert_eq!(body["error"]["code"], "upgrade_required");
    assert_eq!(body["error"]["message"], "Expected a WebSocket upgrade");
}
