//! Channels over the real stack: join, broadcast fan-out, leave, several topics on one
//! socket, both framings, binary frames, and garbage that must not break anything.

use e2e::{object, unique_topic, Client, Received, ADA, BASIL};
use realtime_protocol::{BinaryBroadcast, Frame, PayloadEncoding, Vsn};
use serde_json::{json, Value};

fn broadcast_payload(event: &str, body: Value) -> Value {
    json!({"type": "broadcast", "event": event, "payload": body})
}

#[tokio::test]
async fn a_join_is_answered_ok_with_no_postgres_changes() {
    let topic = unique_topic("join");
    let mut client = Client::connect(ADA, Vsn::V2).await;
    let join_ref = client.next_ref();
    let frame = Frame::new(&topic, "phx_join", object(json!({"config": {"broadcast": {"self": false}}})))
        .with_refs(Some(join_ref.clone()), Some(join_ref.clone()));
    client.send(&frame).await;
    let reply = client.recv_frame().await;
    assert_eq!(reply.topic, topic);
    assert_eq!(reply.event, "phx_reply");
    assert_eq!(reply.join_ref.as_deref(), Some(join_ref.as_str()));
    assert_eq!(reply.msg_ref.as_deref(), Some(join_ref.as_str()));
    assert_eq!(Value::Object(reply.payload), json!({"status": "ok", "response": {"postgres_changes": []}}));
}

#[tokio::test]
async fn a_broadcast_reaches_every_other_subscriber_of_the_topic_and_no_other_topic() {
    let topic = unique_topic("fanout");
    let elsewhere = unique_topic("elsewhere");
    let mut sender = Client::connect(ADA, Vsn::V2).await;
    let mut peer = Client::connect(BASIL, Vsn::V2).await;
    let mut second_peer = Client::connect(BASIL, Vsn::V1).await;
    let mut outsider = Client::connect(BASIL, Vsn::V2).await;
    let join_ref = sender.join(&topic, json!({})).await;
    peer.join(&topic, json!({})).await;
    second_peer.join(&topic, json!({})).await;
    outsider.join(&elsewhere, json!({})).await;

    let body = broadcast_payload("watered", json!({"plant": "basil", "ml": 250}));
    sender.push(&topic, "broadcast", body.clone(), Some(&join_ref)).await;

    for client in [&mut peer, &mut second_peer] {
        let got = client.recv_frame().await;
        assert_eq!((got.topic.as_str(), got.event.as_str()), (topic.as_str(), "broadcast"));
        assert_eq!(Value::Object(got.payload), body);
        assert_eq!((got.join_ref, got.msg_ref), (None, None), "fan-out frames carry no refs");
    }
    sender.expect_silence("self is off by default").await;
    outsider.expect_silence("another topic hears nothing").await;
}

#[tokio::test]
async fn broadcast_self_and_ack_are_honoured() {
    let topic = unique_topic("self-ack");
    let mut client = Client::connect(ADA, Vsn::V2).await;
    let join_ref = client.join(&topic, json!({"broadcast": {"self": true, "ack": true}})).await;
    let r = client.push(&topic, "broadcast", broadcast_payload("ping", json!({"n": 1})), Some(&join_ref)).await;
    let mut saw_echo = false;
    let mut saw_ack = false;
    for _ in 0..2 {
        let f = client.recv_frame().await;
        match f.event.as_str() {
            "broadcast" => saw_echo = f.payload["payload"] == json!({"n": 1}),
            "phx_reply" => saw_ack = f.msg_ref.as_deref() == Some(r.as_str()) && f.payload["status"] == "ok",
            other => panic!("unexpected {other}"),
        }
    }
    assert!(saw_echo && saw_ack, "echo {saw_echo}, ack {saw_ack}");
}

#[tokio::test]
async fn a_leave_is_answered_then_closed_and_the_topic_goes_quiet() {
    let topic = unique_topic("leave");
    let mut leaver = Client::connect(ADA, Vsn::V2).await;
    let mut sender = Client::connect(BASIL, Vsn::V2).await;
    let join_ref = leaver.join(&topic, json!({})).await;
    let sender_join = sender.join(&topic, json!({})).await;

    let r = leaver.push(&topic, "phx_leave", json!({}), Some(&join_ref)).await;
    let reply = leaver.recv_frame().await;
    assert_eq!((reply.event.as_str(), reply.msg_ref.as_deref()), ("phx_reply", Some(r.as_str())));
    assert_eq!(reply.payload["status"], "ok");
    let close = leaver.recv_frame().await;
    assert_eq!(close.event, "phx_close");
    assert_eq!(
        (close.join_ref.as_deref(), close.msg_ref.as_deref()),
        (Some(join_ref.as_str()), Some(join_ref.as_str()))
    );

    sender.push(&topic, "broadcast", broadcast_payload("after", json!({})), Some(&sender_join)).await;
    leaver.expect_silence("a left channel receives nothing").await;
    let r = leaver.push(&topic, "broadcast", broadcast_payload("x", json!({})), Some(&join_ref)).await;
    assert_eq!(leaver.reply_to(&r).await["response"]["reason"], "unmatched topic");

    // The socket itself is still usable: join again.
    leaver.join(&topic, json!({})).await;
}

#[tokio::test]
async fn frames_for_a_topic_not_joined_get_unmatched_topic() {
    let mut client = Client::connect(ADA, Vsn::V2).await;
    let r = client.push(&unique_topic("never"), "broadcast", broadcast_payload("e", json!({})), Some("1")).await;
    let reply = client.reply_to(&r).await;
    assert_eq!(Value::Object(reply), json!({"status": "error", "response": {"reason": "unmatched topic"}}));
}

#[tokio::test]
async fn a_join_without_a_topic_name_is_refused() {
    let mut client = Client::connect(ADA, Vsn::V2).await;
    let (_, reply) = client.join_reply("realtime:", json!({})).await;
    assert_eq!(reply["status"], "error");
    assert_eq!(reply["response"]["reason"], "TopicNameRequired: You must provide a topic name");
}

#[tokio::test]
async fn one_socket_carries_several_topics() {
    let topics = [unique_topic("multi-a"), unique_topic("multi-b"), unique_topic("multi-c")];
    let mut hub = Client::connect(ADA, Vsn::V2).await;
    let mut sender = Client::connect(BASIL, Vsn::V2).await;
    for topic in &topics {
        hub.join(topic, json!({})).await;
    }
    for (i, topic) in topics.iter().enumerate() {
        let join_ref = sender.join(topic, json!({})).await;
        sender.push(topic, "broadcast", broadcast_payload("n", json!({"i": i})), Some(&join_ref)).await;
        let got = hub.recv_frame().await;
        assert_eq!(got.topic, *topic);
        assert_eq!(got.payload["payload"]["i"], i);
    }
}

#[tokio::test]
async fn a_binary_broadcast_reaches_vsn_2_as_kind_4_and_vsn_1_as_json() {
    let topic = unique_topic("binary");
    let mut sender = Client::connect(ADA, Vsn::V2).await;
    let mut v2 = Client::connect(BASIL, Vsn::V2).await;
    let mut v1 = Client::connect(BASIL, Vsn::V1).await;
    let join_ref = sender.join(&topic, json!({})).await;
    v2.join(&topic, json!({})).await;
    v1.join(&topic, json!({})).await;

    let push = BinaryBroadcast {
        join_ref: Some(join_ref),
        msg_ref: Some(sender.next_ref()),
        topic: topic.clone(),
        event: "moisture".into(),
        meta: String::new(),
        encoding: PayloadEncoding::Json,
        payload: br#"{"pct":41}"#.to_vec(),
    };
    sender.send_binary(push.encode_client().unwrap()).await;

    let expected = BinaryBroadcast { join_ref: None, msg_ref: None, ..push.clone() }.encode_server().unwrap();
    assert_eq!(v2.recv().await, Received::Binary(expected), "byte-for-byte kind 4");
    let json_form = v1.recv_frame().await;
    assert_eq!(json_form.event, "broadcast");
    assert_eq!(Value::Object(json_form.payload), broadcast_payload("moisture", json!({"pct": 41})));
}

#[tokio::test]
async fn a_json_broadcast_from_vsn_1_reaches_vsn_2() {
    let topic = unique_topic("v1-to-v2");
    let mut v1 = Client::connect(ADA, Vsn::V1).await;
    let mut v2 = Client::connect(BASIL, Vsn::V2).await;
    let join_ref = v1.join(&topic, json!({})).await;
    v2.join(&topic, json!({})).await;
    v1.push(&topic, "broadcast", broadcast_payload("hello", json!({"from": "v1"})), Some(&join_ref)).await;
    let got = v2.recv_frame().await;
    assert_eq!(Value::Object(got.payload), broadcast_payload("hello", json!({"from": "v1"})));
}

#[tokio::test]
async fn garbage_frames_never_break_the_socket_or_the_room() {
    let topic = unique_topic("garbage");
    let mut client = Client::connect(ADA, Vsn::V2).await;
    let mut peer = Client::connect(BASIL, Vsn::V2).await;
    let join_ref = client.join(&topic, json!({})).await;
    peer.join(&topic, json!({})).await;

    for garbage in [
        "",
        "not json",
        "{\"topic\": 1}",
        "[1,2,3]",
        "[null,null,\"phoenix\",\"heartbeat\",\"not an object\"]",
        "\u{0}\u{1}\u{2}",
        "[null,null,null,null,null]",
    ] {
        client.send_text(garbage).await;
    }
    // Binary frames of the wrong kind, truncated, or to a joined topic with a bad body.
    client.send_binary(vec![]).await;
    client.send_binary(vec![9, 9, 9]).await;
    client.send_binary(vec![3, 0, 0, 200, 0, 0, 1]).await;
    let mut bad_json = BinaryBroadcast {
        join_ref: Some(join_ref.clone()),
        msg_ref: None,
        topic: topic.clone(),
        event: "e".into(),
        meta: String::new(),
        encoding: PayloadEncoding::Json,
        payload: b"{not json".to_vec(),
    };
    client.send_binary(bad_json.encode_client().unwrap()).await;
    // An unknown event on the joined topic gets an error reply, not a crash.
    let r = client.push(&topic, "dance", json!({}), Some(&join_ref)).await;
    assert_eq!(client.reply_to(&r).await["status"], "error");

    // Same socket, same room: still working.
    let r = client.push("phoenix", "heartbeat", json!({}), None).await;
    assert_eq!(client.reply_to(&r).await["status"], "ok");
    client.push(&topic, "broadcast", broadcast_payload("still", json!({"ok": true})), Some(&join_ref)).await;
    let got = peer.recv_frame().await;
    assert_eq!(got.payload["payload"], json!({"ok": true}));
    bad_json.payload = br#"{"fine":1}"#.to_vec();
    client.send_binary(bad_json.encode_client().unwrap()).await;
    assert!(matches!(peer.recv().await, Received::Binary(_)));
}

/// One body for both sockets: the same session answers `stats`.
async fn a_socket_reports_its_own_counters(mut client: Client, topic: &str) {
    client.join(topic, json!({})).await;
    client.send_text("garbage").await;
    client.send_binary(vec![9]).await;
    let r = client.push("phoenix", "stats", json!({}), None).await;
    let reply = client.reply_to(&r).await;
    assert_eq!(reply["status"], "ok");
    let stats = &reply["response"];
    assert_eq!(stats["channels"], 1);
    assert_eq!(stats["dropped_frames"], 2);
    assert!(stats["frames_in"].as_u64().unwrap_or(0) >= 4, "{stats}");
    assert_eq!(stats["rate_limited_events"], 0);
}

#[tokio::test]
async fn the_multiplexed_socket_reports_its_own_counters() {
    let topic = unique_topic("counters");
    a_socket_reports_its_own_counters(Client::connect(ADA, Vsn::V2).await, &topic).await;
}

#[tokio::test]
async fn the_per_topic_socket_reports_its_own_counters() {
    let topic = unique_topic("counters-direct");
    let client = Client::connect_direct(&e2e::user_token(ADA), &topic, false, Vsn::V2).await;
    a_socket_reports_its_own_counters(client, &topic).await;
}
