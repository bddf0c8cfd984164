//! The per-topic socket (`/realtime/v1/channel/websocket?topic=`): handed straight to the
//! room, same frames as the multiplexed socket for its one topic.

use e2e::{unique_topic, user_token, Client, ADA, BASIL};
use futures_util::{SinkExt, StreamExt};
use realtime_protocol::{Frame, Vsn};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

async fn direct(
    user: &str,
    topic: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let base = e2e::base_url().replacen("http", "ws", 1);
    let url = format!("{base}/realtime/v1/channel/websocket?apikey={}&vsn=2.0.0&topic={topic}", user_token(user));
    tokio_tungstenite::connect_async(url).await.expect("direct upgrade").0
}

async fn next_frame(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> Frame {
    loop {
        let msg = tokio::time::timeout(e2e::RECV_TIMEOUT, ws.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("readable");
        if let Message::Text(t) = msg {
            return Frame::decode(Vsn::V2, t.as_str()).expect("a frame");
        }
    }
}

#[tokio::test]
async fn a_direct_socket_heartbeats_joins_and_broadcasts_with_relayed_sockets() {
    let topic = unique_topic("direct");
    let mut ws = direct(ADA, &topic).await;
    ws.send(Message::text(r#"[null,"1","phoenix","heartbeat",{}]"#)).await.unwrap();
    let hb = next_frame(&mut ws).await;
    assert_eq!(
        (hb.topic.as_str(), hb.event.as_str(), hb.payload["status"].clone()),
        ("phoenix", "phx_reply", json!("ok"))
    );

    ws.send(Message::text(json!(["2", "2", topic, "phx_join", {"config": {}}]).to_string())).await.unwrap();
    assert_eq!(next_frame(&mut ws).await.payload["status"], "ok");

    let mut relayed = Client::connect(BASIL, Vsn::V1).await;
    let relayed_ref = relayed.join(&topic, json!({})).await;
    ws.send(Message::text(
        json!(["2", "3", topic, "broadcast", {"type": "broadcast", "event": "d", "payload": {"from": "direct"}}])
            .to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(relayed.recv_frame().await.payload["payload"], json!({"from": "direct"}));
    relayed
        .push(
            &topic,
            "broadcast",
            json!({"type": "broadcast", "event": "r", "payload": {"from": "relayed"}}),
            Some(&relayed_ref),
        )
        .await;
    assert_eq!(next_frame(&mut ws).await.payload["payload"], json!({"from": "relayed"}));

    let other = unique_topic("not-this-one");
    ws.send(Message::text(json!(["2", "4", other, "broadcast", {}]).to_string())).await.unwrap();
    let reply = next_frame(&mut ws).await;
    assert_eq!(Value::Object(reply.payload), json!({"status": "error", "response": {"reason": "unmatched topic"}}));
}

#[tokio::test]
async fn a_direct_socket_needs_a_topic_and_a_valid_apikey() {
    let path = "/realtime/v1/channel/websocket";
    let r = e2e::refused_upgrade_at(path, &format!("vsn=2.0.0&apikey={}", user_token(ADA)), &[]).await;
    assert_eq!(
        (r.status, &r.body["error"]["message"]),
        (400, &json!("TopicNameRequired: You must provide a topic name"))
    );
    let r = e2e::refused_upgrade_at(path, "vsn=2.0.0&topic=realtime:x&apikey=junk", &[]).await;
    assert_eq!((r.status, &r.body["error"]["message"]), (401, &json!("The token provided is not a valid JWT")));
    let r = e2e::refused_upgrade_at(path, "vsn=2.0.0&topic=realtime:x", &[]).await;
    assert_eq!((r.status, &r.body["error"]["message"]), (401, &json!("API key is missing")));
}
