//! The attack suite, REST broadcast: the anon key, a stranger and a member try to write
//! into private channels, with every spelling of the `private` flag, and with oversized
//! payloads and bodies. The REST broadcast follows exactly the rules of a socket's join.

use e2e::{assert_still_serving, base_url, limit, now, sign, stranger_token, user_token, Client, ADA};
use realtime_protocol::Vsn;
use serde_json::{json, Value};

fn anon() -> String {
    sign(&json!({"role": "anon", "exp": now() + 600}))
}

async fn post_raw(bearer: Option<&str>, body: String) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/realtime/v1/api/broadcast", base_url()))
        .header("apikey", anon())
        .header("content-type", "application/json")
        .body(body);
    if let Some(b) = bearer {
        req = req.header("authorization", format!("Bearer {b}"));
    }
    let response = req.send().await.expect("POST broadcast");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn post(bearer: Option<&str>, message: Value) -> (u16, Value) {
    post_raw(bearer, json!({"messages": [message]}).to_string()).await
}

/// Ada listening on her private inbox.
async fn ada_listening() -> Client {
    let mut ada = Client::connect(ADA, Vsn::V2).await;
    ada.join(&format!("realtime:user:{ADA}"), json!({"private": true})).await;
    ada
}

#[tokio::test]
async fn nobody_but_the_write_policy_s_choice_reaches_a_private_inbox_over_rest() {
    let mut ada = ada_listening().await;
    let stranger = stranger_token("rest-intruder").1;
    let inbox = format!("user:{ADA}");
    for (who, bearer) in [("anon key", None), ("stranger", Some(stranger.as_str()))] {
        for private in [json!(true), json!("true"), json!("TRUE")] {
            let (status, body) =
                post(bearer, json!({"topic": inbox, "event": "x", "payload": {}, "private": private})).await;
            assert_eq!(status, 401, "{who}, private {private}: {body}");
            assert_eq!(
                body["reason"],
                format!("Unauthorized: You do not have permissions to write to this Channel topic: {inbox}")
            );
        }
        for private in [json!(false), json!("false"), json!(null), json!(0)] {
            let (status, body) =
                post(bearer, json!({"topic": inbox, "event": "x", "payload": {}, "private": private})).await;
            assert_eq!(status, 401, "{who}, private {private}: {body}");
            assert_eq!(
                body["reason"],
                format!("Unauthorized: Channel {inbox} is private: join it with config.private = true")
            );
        }
        for spelling in [format!("User:{ADA}"), format!("realtime:user:{ADA}"), format!(" user:{ADA}")] {
            let (status, _) = post(bearer, json!({"topic": spelling, "event": "x", "payload": {}})).await;
            assert_eq!(status, 401, "{who}: public {spelling:?}");
        }
    }
    ada.expect_silence("nothing an intruder sent reached Ada").await;

    // Ada herself, through the write policy: delivered.
    let (status, body) =
        post(Some(&user_token(ADA)), json!({"topic": inbox, "event": "note", "payload": {"n": 1}, "private": "true"}))
            .await;
    assert_eq!(status, 202, "{body}");
    let got = ada.recv_until("her own REST message", |f| f.event == "broadcast").await;
    assert_eq!(got.payload["payload"], json!({"n": 1}));
    assert_still_serving().await;
}

#[tokio::test]
async fn oversized_rest_payloads_and_bodies_are_413_and_not_delivered() {
    let topic = e2e::unique_topic("rest-big");
    let mut listener = Client::connect(ADA, Vsn::V2).await;
    listener.join(&topic, json!({})).await;
    let name = topic.trim_start_matches("realtime:");
    let payload = limit("E2E_MAX_PAYLOAD");
    let (status, body) =
        post(Some(&user_token(ADA)), json!({"topic": name, "event": "x", "payload": {"b": "x".repeat(payload + 1)}}))
            .await;
    assert_eq!((status, body["message"].clone()), (413, json!("Payload too large")));
    let frame = limit("E2E_MAX_FRAME");
    let body =
        json!({"messages": [{"topic": name, "event": "x", "payload": {}}], "pad": "x".repeat(frame)}).to_string();
    let (status, _) = post_raw(Some(&user_token(ADA)), body).await;
    assert_eq!(status, 413);
    listener.expect_silence("oversized REST broadcasts are not delivered").await;
    assert_still_serving().await;
}

#[tokio::test]
async fn malformed_rest_topics_are_422_with_the_reason() {
    for topic in ["a\u{0}b", "realtime:", &"x".repeat(300)] {
        let (status, body) = post(Some(&user_token(ADA)), json!({"topic": topic, "event": "x", "payload": {}})).await;
        assert_eq!(status, 422, "{topic:?}: {body}");
    }
    let (status, _) = post_raw(Some(&user_token(ADA)), "{not json".into()).await;
    assert_eq!(status, 422);
    assert_still_serving().await;
}
