//! The fan-out tree: multiplexed sockets reach a room through their gateways' hubs, so a
//! room sends a broadcast once per hub, not once per subscriber, while each client keeps
//! its own replies, `self` and presence.

use e2e::{unique_topic, Client, ADA, BASIL};
use realtime_protocol::Vsn;
use serde_json::json;
use std::time::Duration;

/// How many gateways the Worker spreads multiplexed connections over
/// (`gateway_object::GATEWAYS`).
const GATEWAYS: u64 = 8;

#[tokio::test]
async fn a_broadcast_leaves_the_room_once_per_hub_and_reaches_every_subscriber_once() {
    let topic = unique_topic("tree");
    let subscribers = 24;
    let mut listeners = Vec::new();
    for i in 0..subscribers {
        let mut c = Client::connect(if i % 2 == 0 { ADA } else { BASIL }, Vsn::V2).await;
        c.join(&topic, json!({})).await;
        listeners.push(c);
    }
    let mut publisher = Client::connect(ADA, Vsn::V2).await;
    let join_ref = publisher.join(&topic, json!({})).await;
    let before = e2e::room_stats(&topic).await;
    let hubs = before["hubs"].as_u64().expect("hubs counted");
    assert!((1..=GATEWAYS).contains(&hubs), "25 clients share at most one hub per gateway: {before}");
    assert_eq!(before["joined_sockets"], subscribers + 1, "every client is a member of its own: {before}");

    let messages = 5;
    for n in 0..messages {
        let payload = json!({"type": "broadcast", "event": "tick", "payload": {"n": n}});
        publisher.push(&topic, "broadcast", payload, Some(&join_ref)).await;
    }
    for (i, listener) in listeners.iter_mut().enumerate() {
        for n in 0..messages {
            let frame = listener.recv_until("a tick", |f| f.event == "broadcast").await;
            assert_eq!(frame.payload["payload"]["n"], n, "listener {i} gets every tick, in order");
        }
        assert!(
            listener.try_recv_until(Duration::from_millis(200), |f| f.event == "broadcast").await.is_none(),
            "listener {i} gets each tick once"
        );
    }
    // The sender is left out of its own broadcasts (no `self`), though its hub carries them.
    assert!(
        publisher.try_recv_until(Duration::from_millis(300), |f| f.event == "broadcast").await.is_none(),
        "no self"
    );
    let after = e2e::room_stats(&topic).await;
    let delta = |name: &str| after[name].as_u64().unwrap_or(0) - before[name].as_u64().unwrap_or(0);
    let sent = delta("messages_out");
    assert!(
        sent <= messages * hubs,
        "{messages} broadcasts to {subscribers} subscribers left the room {sent} times ({hubs} hubs): {after}"
    );
    // Each came with the time its gateway heard it, which the rate rules count
    // (room::hub_wire): the room announced on the hub's 101 that it reads stamps.
    assert_eq!(delta("messages_in_stamped"), messages, "the broadcasts came stamped: {after}");
}

#[tokio::test]
async fn members_of_one_hub_keep_their_own_replies_presence_and_self() {
    let topic = unique_topic("tree-own");
    let mut echo = Client::connect(ADA, Vsn::V2).await;
    let echo_ref = echo.join(&topic, json!({"broadcast": {"self": true, "ack": true}})).await;
    let mut quiet = Client::connect(BASIL, Vsn::V2).await;
    let quiet_ref = quiet.join(&topic, json!({"presence": {"key": "basil"}})).await;

    // An ack goes to its sender alone; `self` brings the sender its own broadcast.
    let msg_ref = echo
        .push(&topic, "broadcast", json!({"type": "broadcast", "event": "hi", "payload": {}}), Some(&echo_ref))
        .await;
    let (mut acked, mut echoed) = (false, false);
    while !(acked && echoed) {
        let frame = echo.recv_frame().await;
        acked |= frame.event == "phx_reply" && frame.msg_ref.as_deref() == Some(msg_ref.as_str());
        echoed |= frame.event == "broadcast";
    }
    let heard = quiet.recv_until("the broadcast", |f| f.event == "broadcast").await;
    assert_eq!(heard.join_ref, None, "fanned out, not addressed");

    // A presence track is answered to the tracker and diffed to both.
    let track = json!({"type": "presence", "event": "track", "payload": {"mood": "green"}});
    let track_ref = quiet.push(&topic, "presence", track, Some(&quiet_ref)).await;
    assert_eq!(quiet.reply_to(&track_ref).await["status"], "ok");
    for c in [&mut echo, &mut quiet] {
        let diff = c.recv_until("the presence diff", |f| f.event == "presence_diff").await;
        assert!(diff.payload["joins"]["basil"].is_object(), "{:?}", diff.payload);
    }

    // A leave is answered before the member is released, and the channel stops receiving.
    let leave_ref = quiet.push(&topic, "phx_leave", json!({}), Some(&quiet_ref)).await;
    assert_eq!(quiet.reply_to(&leave_ref).await["status"], "ok");
    let diff = echo.recv_until("the leave", |f| f.event == "presence_diff").await;
    assert!(diff.payload["leaves"]["basil"].is_object(), "{:?}", diff.payload);
    echo.push(&topic, "broadcast", json!({"type": "broadcast", "event": "after", "payload": {}}), Some(&echo_ref))
        .await;
    assert!(
        quiet.try_recv_until(Duration::from_millis(500), |f| f.event == "broadcast").await.is_none(),
        "nothing after the leave"
    );
}
