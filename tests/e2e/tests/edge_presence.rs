//! Global presence: a user is online while a socket of theirs is connected, goes offline
//! only after the grace period (the test stack's `PRESENCE_GRACE_MS`), not at all during
//! a quick reconnect, and looks offline to others while invisible. Each change arrives
//! on the private topic `presence:<user_id>`, which anyone signed in may read and nobody
//! may send to.

use e2e::{call, new_users, post_json, Client};
use realtime_protocol::Vsn;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn grace() -> Duration {
    Duration::from_millis(e2e::limit("E2E_PRESENCE_GRACE_MS") as u64)
}

/// A socket of `token`'s user subscribed to `user`'s presence topic.
async fn watch(token: &str, user: &str) -> Client {
    let mut c = Client::connect_with_token(token, Vsn::V2).await;
    c.join(&format!("realtime:presence:{user}"), json!({"private": true})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    c
}

/// The next presence change `watcher` receives.
async fn next_change(watcher: &mut Client, what: &str) -> Value {
    let frame = watcher.recv_until(what, |f| f.event == "broadcast" && f.payload["event"] == "presence").await;
    frame.payload["payload"].clone()
}

async fn status_seen_by(token: &str, user: &str) -> Value {
    let answer = call(Method::GET, &format!("/functions/v1/presence?user_ids={user}"), Some(token)).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body["items"][0]["status"].clone()
}

#[tokio::test]
async fn a_user_is_online_while_connected_and_offline_only_after_the_grace_period() {
    let u = new_users("presence-online", 2).await;
    let ((ada, ada_token), (_, basil_token)) = (&u[0], &u[1]);
    let mut basil = watch(basil_token, ada).await;
    assert_eq!(status_seen_by(basil_token, ada).await, "offline", "never connected yet");

    let socket = Client::connect_with_token(ada_token, Vsn::V2).await;
    let online = next_change(&mut basil, "Ada online").await;
    assert_eq!((online["user_id"].as_str(), online["status"].as_str()), (Some(ada.as_str()), Some("online")));
    assert_eq!(status_seen_by(basil_token, ada).await, "online");

    socket.close().await;
    let closed = Instant::now();
    let offline = next_change(&mut basil, "Ada offline").await;
    let after = closed.elapsed();
    assert_eq!(offline["status"], "offline");
    assert!(offline["last_seen_at"].is_string(), "{offline:?}");
    assert!(
        after + Duration::from_millis(300) >= grace(),
        "offline {after:?} after the close, before the grace period"
    );
    assert_eq!(status_seen_by(basil_token, ada).await, "offline");
}

#[tokio::test]
async fn a_per_topic_socket_counts_as_connected_too() {
    let u = new_users("presence-direct", 2).await;
    let ((ada, ada_token), (_, basil_token)) = (&u[0], &u[1]);
    let mut basil = watch(basil_token, ada).await;

    // Only a per-topic socket (the room's own), no multiplexed one.
    let socket = Client::connect_direct(ada_token, &e2e::unique_topic("presence-direct"), false, Vsn::V2).await;
    let online = next_change(&mut basil, "Ada online through a per-topic socket").await;
    assert_eq!((online["user_id"].as_str(), online["status"].as_str()), (Some(ada.as_str()), Some("online")));

    socket.close().await;
    let closed = Instant::now();
    let offline = next_change(&mut basil, "Ada offline once her per-topic socket closed").await;
    assert_eq!(offline["status"], "offline");
    assert!(closed.elapsed() + Duration::from_millis(300) >= grace(), "offline before the grace period");
}

#[tokio::test]
async fn a_quick_reconnect_does_not_flap() {
    let u = new_users("presence-reconnect", 2).await;
    let ((ada, ada_token), (_, basil_token)) = (&u[0], &u[1]);
    let mut basil = watch(basil_token, ada).await;
    let first = Client::connect_with_token(ada_token, Vsn::V2).await;
    assert_eq!(next_change(&mut basil, "Ada online").await["status"], "online");

    first.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _second = Client::connect_with_token(ada_token, Vsn::V2).await;
    let quiet = grace() + Duration::from_millis(1500);
    let flap = basil.try_recv_until(quiet, |f| f.event == "broadcast" && f.payload["event"] == "presence").await;
    assert!(flap.is_none(), "a reconnect within the grace period changed nothing: {flap:?}");
    assert_eq!(status_seen_by(basil_token, ada).await, "online");
}

#[tokio::test]
async fn an_invisible_user_looks_offline_to_others_and_nobody_can_forge_presence() {
    let u = new_users("presence-invisible", 3).await;
    let ((ada, ada_token), (_, basil_token), (_, elm_token)) = (&u[0], &u[1], &u[2]);
    let mut basil = watch(basil_token, ada).await;
    let _socket = Client::connect_with_token(ada_token, Vsn::V2).await;
    assert_eq!(next_change(&mut basil, "Ada online").await["status"], "online");

    let hidden = post_json("/functions/v1/presence", Some(ada_token), &json!({"status": "invisible"})).await;
    assert_eq!(hidden.status, 200, "{:?}", hidden.body);
    assert_eq!(
        (hidden.body["chosen"].as_str(), hidden.body["connected"].as_bool(), hidden.body["status"].as_str()),
        (Some("invisible"), Some(true), Some("offline")),
        "Ada's own view says what she chose and what others see"
    );
    assert_eq!(next_change(&mut basil, "Ada hidden").await["status"], "offline");
    assert_eq!(status_seen_by(basil_token, ada).await, "offline");

    let away =
        post_json("/functions/v1/presence", Some(ada_token), &json!({"status": "away", "activity": "Watering"})).await;
    assert_eq!(away.status, 200, "{:?}", away.body);
    let shown = next_change(&mut basil, "Ada away").await;
    assert_eq!((shown["status"].as_str(), shown["activity"].as_str()), (Some("away"), Some("Watering")));

    // Elm, signed in, may read Ada's topic but not write to it.
    let mut elm = watch(elm_token, ada).await;
    let forged = json!({"type": "broadcast", "event": "presence", "payload": {"user_id": ada, "status": "online"}});
    elm.push(&format!("realtime:presence:{ada}"), "broadcast", forged, None).await;
    basil.expect_silence("a broadcast a user sent on someone's presence topic").await;
}

#[tokio::test]
async fn presence_requests_are_checked() {
    let u = new_users("presence-refusals", 1).await;
    let (ada, token) = &u[0];
    for (path, status) in [
        ("/functions/v1/presence".to_string(), 400),
        ("/functions/v1/presence?user_ids=nope".to_string(), 400),
        (format!("/functions/v1/presence?user_ids={ada}&extra=1"), 400),
    ] {
        let answer = call(Method::GET, &path, Some(token)).await;
        assert_eq!(answer.status, status, "{path}: {:?}", answer.body);
    }
    let many: Vec<String> = (0..201).map(|i| format!("00000000-0000-4000-8000-{i:012}")).collect();
    let crowd = call(Method::GET, &format!("/functions/v1/presence?user_ids={}", many.join(",")), Some(token)).await;
    assert_eq!(crowd.status, 400, "{:?}", crowd.body);
    let two_hundred =
        call(Method::GET, &format!("/functions/v1/presence?user_ids={}", many[..200].join(",")), Some(token)).await;
    assert_eq!(two_hundred.status, 200, "{:?}", two_hundred.body);
    assert_eq!(two_hundred.body["items"].as_array().map(Vec::len), Some(200));
    let anon = call(Method::GET, &format!("/functions/v1/presence?user_ids={ada}"), None).await;
    assert_eq!(anon.status, 401, "{:?}", anon.body);
    let offline = post_json("/functions/v1/presence", Some(token), &json!({"status": "offline"})).await;
    assert_eq!(offline.status, 400, "offline is the system's to say: {:?}", offline.body);
}
