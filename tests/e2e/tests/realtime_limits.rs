//! Every limit answers as PROTOCOL.md says, and a breach by one user leaves others alone.
//! The stack runs with small channel, user and payload limits (scripts/test.sh).

use e2e::{limit, stranger_token, unique_topic, Client, ADA, BASIL};
use realtime_protocol::Vsn;
use serde_json::{json, Value};

fn broadcast(body: Value) -> Value {
    json!({"type": "broadcast", "event": "e", "payload": body})
}

#[tokio::test]
async fn joins_over_the_channel_limit_are_refused() {
    let max = limit("E2E_MAX_CHANNELS");
    let mut c = Client::connect(ADA, Vsn::V2).await;
    for i in 0..max {
        c.join(&unique_topic(&format!("chan{i}")), json!({})).await;
    }
    let (_, reply) = c.join_reply(&unique_topic("one-too-many"), json!({})).await;
    assert_eq!(
        Value::Object(reply),
        json!({"status": "error", "response": {"reason": "ChannelRateLimitReached: Too many channels"}})
    );
}

#[tokio::test]
async fn joins_over_the_users_per_channel_limit_are_refused_but_a_present_user_may_add_a_device() {
    let max = limit("E2E_MAX_USERS");
    let topic = unique_topic("crowd");
    let mut present = Vec::new();
    for i in 0..max {
        let (_, token) = stranger_token(&format!("{topic}-{i}"));
        let mut c = Client::connect_with_token(&token, Vsn::V2).await;
        c.join(&topic, json!({})).await;
        present.push((c, token));
    }
    let (_, outsider) = stranger_token(&format!("{topic}-outsider"));
    let mut late = Client::connect_with_token(&outsider, Vsn::V2).await;
    let (_, reply) = late.join_reply(&topic, json!({})).await;
    assert_eq!(reply["response"]["reason"], "ConnectionRateLimitReached: Too many connected users");

    let mut second_device = Client::connect_with_token(&present[0].1, Vsn::V2).await;
    second_device.join(&topic, json!({})).await;
}

#[tokio::test]
async fn a_payload_over_the_limit_is_refused_with_payload_size_exceeded_and_not_delivered() {
    let max = limit("E2E_MAX_PAYLOAD");
    let topic = unique_topic("big");
    let mut sender = Client::connect(ADA, Vsn::V2).await;
    let mut peer = Client::connect(BASIL, Vsn::V2).await;
    let join_ref = sender.join(&topic, json!({"broadcast": {"ack": true}})).await;
    peer.join(&topic, json!({})).await;
    let r = sender.push(&topic, "broadcast", broadcast(json!({"blob": "x".repeat(max + 1)})), Some(&join_ref)).await;
    assert_eq!(
        Value::Object(sender.reply_to(&r).await),
        json!({"status": "error", "response": "payload_size_exceeded"})
    );
    peer.expect_silence("an oversized payload is not delivered").await;
    let r = sender.push(&topic, "broadcast", broadcast(json!({"blob": "x".repeat(max / 2)})), Some(&join_ref)).await;
    assert_eq!(sender.reply_to(&r).await["status"], "ok");
    assert_eq!(peer.recv_frame().await.event, "broadcast");
}

#[tokio::test]
async fn a_user_sending_too_fast_loses_the_channel_and_nobody_else_is_affected() {
    let topic = unique_topic("flood");
    let mut flooder = Client::connect(ADA, Vsn::V2).await;
    let mut calm = Client::connect(BASIL, Vsn::V2).await;
    let mut listener = Client::connect(BASIL, Vsn::V2).await;
    let join_ref = flooder.join(&topic, json!({})).await;
    let calm_ref = calm.join(&topic, json!({})).await;
    listener.join(&topic, json!({})).await;
    // Over the two seconds' allowance of 100 per second (room::limits::EVENT_AVERAGING_SECONDS).
    for i in 0..300 {
        flooder.push(&topic, "broadcast", broadcast(json!({"i": i})), Some(&join_ref)).await;
    }
    let system = flooder.recv_until("the system error", |f| f.event == "system").await;
    assert_eq!(system.payload["status"], "error");
    assert_eq!(system.payload["message"], "Too many messages per second");
    let close = flooder.recv_until("phx_close", |f| f.event == "phx_close").await;
    assert_eq!(close.join_ref.as_deref(), Some(join_ref.as_str()));

    calm.push(&topic, "broadcast", broadcast(json!({"calm": true})), Some(&calm_ref)).await;
    let got = listener.recv_until("the calm user's message", |f| f.payload["payload"]["calm"] == true).await;
    assert_eq!(got.event, "broadcast");
}

#[tokio::test]
async fn presence_calls_over_the_budget_get_a_system_error() {
    let topic = unique_topic("presence-budget");
    let mut c = Client::connect(ADA, Vsn::V2).await;
    let join_ref = c.join(&topic, json!({"presence": {"key": "ada"}})).await;
    for i in 0..5 {
        let r = c
            .push(
                &topic,
                "presence",
                json!({"type": "presence", "event": "track", "payload": {"i": i}}),
                Some(&join_ref),
            )
            .await;
        assert_eq!(c.reply_to(&r).await["status"], "ok", "call {i} is within budget");
    }
    let r =
        c.push(&topic, "presence", json!({"type": "presence", "event": "track", "payload": {}}), Some(&join_ref)).await;
    assert_eq!(c.reply_to(&r).await["response"]["reason"], "Client presence rate limit exceeded");
    let system = c.recv_until("the system error", |f| f.event == "system").await;
    assert_eq!(system.payload["message"], "Client presence rate limit exceeded");
}

/// A burst of joins, without waiting for replies: well over 100 inside one second. One
/// body for both sockets, whose session applies the same join rate.
async fn a_join_burst_is_rate_limited(mut c: Client, topic: &str) {
    const BURST: usize = 300;
    // MAX_JOINS_PER_SECOND: wrangler.toml's 100, which the test stack keeps.
    let budget = 100.0;
    let started = std::time::Instant::now();
    let mut refs = Vec::new();
    for _ in 0..BURST {
        let join_ref = c.next_ref();
        let frame = realtime_protocol::Frame::new(topic, "phx_join", e2e::object(json!({"config": {}})))
            .with_refs(Some(join_ref.clone()), Some(join_ref.clone()));
        c.send(&frame).await;
        refs.push(join_ref);
    }
    // On the relayed socket refusals come from the Worker and acceptances from the room:
    // in any order.
    let mut answered = std::collections::HashSet::new();
    let mut refused = 0;
    while answered.len() < refs.len() {
        let f = c.recv_until("a join reply", |f| f.event == "phx_reply").await;
        if f.payload["response"]["reason"] == "ClientJoinRateLimitReached: Too many joins per second" {
            refused += 1;
        }
        answered.insert(f.msg_ref.unwrap_or_default());
    }
    // A token bucket: the budget at once, then the budget per second for as long as the
    // burst took to send and answer (on a busy machine that is longer; the bound follows).
    let took = started.elapsed().as_secs_f64();
    let allowed = budget + budget * took;
    assert!(
        refused as f64 >= BURST as f64 - allowed - 1.0,
        "{BURST} joins in {took:.2} s with a budget of {budget} per second: {refused} refused"
    );
    assert!(refused > 0, "a burst over the budget is refused in part");
    let r = c.push("phoenix", "stats", json!({}), None).await;
    let stats = c.reply_to(&r).await;
    assert_eq!(stats["response"]["rate_limited_joins"], refused, "counted in the socket's stats: {stats:?}");
}

#[tokio::test]
async fn joins_faster_than_allowed_are_refused() {
    let topic = unique_topic("rejoin");
    a_join_burst_is_rate_limited(Client::connect(ADA, Vsn::V2).await, &topic).await;
}

#[tokio::test]
async fn joins_faster_than_allowed_are_refused_on_the_per_topic_socket_too() {
    let topic = unique_topic("rejoin-direct");
    let client = Client::connect_direct(&e2e::user_token(ADA), &topic, false, Vsn::V2).await;
    a_join_burst_is_rate_limited(client, &topic).await;
}

/// One body for both sockets: a socket that goes silent after its join is closed with
/// 1000 `idle timeout`, never before the timeout; one that heartbeats stays open.
async fn a_silent_socket_is_closed_and_a_heartbeating_one_is_not(mut silent: Client, mut alive: Client, topic: &str) {
    let idle = std::time::Duration::from_millis(limit("E2E_IDLE_TIMEOUT_MS") as u64);
    alive.join(topic, json!({})).await;
    // Taken before the join is sent, so the server's last frame from the socket comes
    // after it: a close at least one timeout later than this instant is never early.
    let since_last_frame = std::time::Instant::now();
    silent.join(topic, json!({})).await;
    let heartbeating = async move {
        let deadline = std::time::Instant::now() + 2 * idle;
        while std::time::Instant::now() < deadline {
            let r = alive.push("phoenix", "heartbeat", json!({}), None).await;
            assert_eq!(alive.reply_to(&r).await["status"], "ok", "a heartbeating socket is answered");
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        alive
    };
    let closing = async move {
        let (close, _) = silent.closed_after(3 * idle).await;
        (close, since_last_frame.elapsed())
    };
    let (mut alive, (close, after)) = tokio::join!(heartbeating, closing);
    assert_eq!(close, Some((1000, "idle timeout".to_string())), "the silent socket is closed as idle");
    assert!(after >= idle, "not before the timeout: closed {after:?} after its last frame");
    let r = alive.push("phoenix", "heartbeat", json!({}), None).await;
    assert_eq!(alive.reply_to(&r).await["status"], "ok", "the heartbeating socket is still open after two timeouts");
}

#[tokio::test]
async fn a_silent_socket_is_closed_after_the_idle_timeout() {
    let topic = unique_topic("idle");
    a_silent_socket_is_closed_and_a_heartbeating_one_is_not(
        Client::connect(ADA, Vsn::V2).await,
        Client::connect(BASIL, Vsn::V2).await,
        &topic,
    )
    .await;
}

#[tokio::test]
async fn a_silent_socket_is_closed_after_the_idle_timeout_on_the_per_topic_socket_too() {
    let topic = unique_topic("idle-direct");
    a_silent_socket_is_closed_and_a_heartbeating_one_is_not(
        Client::connect_direct(&e2e::user_token(ADA), &topic, false, Vsn::V2).await,
        Client::connect_direct(&e2e::user_token(BASIL), &topic, false, Vsn::V2).await,
        &topic,
    )
    .await;
}

#[tokio::test]
async fn a_user_s_sockets_on_one_topic_share_one_events_budget() {
    let topic = unique_topic("shared-budget");
    // One user on both kinds of socket, each under its own socket's allowance (200 in two
    // seconds), together well over the user's.
    let mut relayed = Client::connect(ADA, Vsn::V2).await;
    let mut direct = Client::connect_direct(&e2e::user_token(ADA), &topic, false, Vsn::V2).await;
    let mut other = Client::connect(BASIL, Vsn::V2).await;
    let relayed_ref = relayed.join(&topic, json!({})).await;
    let direct_ref = direct.join(&topic, json!({})).await;
    let other_ref = other.join(&topic, json!({})).await;
    for i in 0..150 {
        relayed.push(&topic, "broadcast", broadcast(json!({"r": i})), Some(&relayed_ref)).await;
        direct.push(&topic, "broadcast", broadcast(json!({"d": i})), Some(&direct_ref)).await;
    }
    let cut =
        |f: &realtime_protocol::Frame| f.event == "system" && f.payload["message"] == "Too many messages per second";
    let relayed_cut = relayed.try_recv_until(std::time::Duration::from_secs(3), cut).await.is_some();
    let direct_cut = direct.try_recv_until(std::time::Duration::from_secs(3), cut).await.is_some();
    assert!(relayed_cut || direct_cut, "300 events in a moment from one user: the channel that went over is closed");

    other.push(&topic, "broadcast", broadcast(json!({"other": true})), Some(&other_ref)).await;
    let mut listener = Client::connect(BASIL, Vsn::V2).await;
    listener.join(&topic, json!({})).await;
    other.push(&topic, "broadcast", broadcast(json!({"other": 2})), Some(&other_ref)).await;
    let got = listener.recv_until("another user's message", |f| f.payload["payload"]["other"] == 2).await;
    assert_eq!(got.event, "broadcast", "another user keeps sending");
}
