//! The realtime HTTP API: server-side broadcast and room health.

use e2e::{base_url, now, sign, unique_topic, user_token, Client, ADA, BASIL};
use realtime_protocol::Vsn;
use serde_json::{json, Value};

fn anon() -> String {
    sign(&json!({"role": "anon", "exp": now() + 600}))
}

fn service() -> String {
    e2e::service_token()
}

async fn post(apikey: Option<&str>, bearer: Option<&str>, body: &Value) -> (u16, String) {
    let mut req = reqwest::Client::new().post(format!("{}/realtime/v1/api/broadcast", base_url())).json(body);
    if let Some(k) = apikey {
        req = req.header("apikey", k);
    }
    if let Some(b) = bearer {
        req = req.header("authorization", format!("Bearer {b}"));
    }
    let response = req.send().await.expect("POST broadcast");
    (response.status().as_u16(), response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn a_rest_broadcast_is_accepted_with_202_and_delivered_to_subscribers() {
    let topic = unique_topic("rest");
    let mut listener = Client::connect(BASIL, Vsn::V1).await;
    listener.join(&topic, json!({})).await;
    let name = topic.trim_start_matches("realtime:");
    let body = json!({"messages": [{"topic": name, "event": "harvest", "payload": {"kg": 3}}]});
    let (status, text) = post(Some(&anon()), Some(&user_token(ADA)), &body).await;
    assert_eq!((status, text.as_str()), (202, ""));
    let got = listener.recv_frame().await;
    assert_eq!(Value::Object(got.payload), json!({"type": "broadcast", "event": "harvest", "payload": {"kg": 3}}));
}

#[tokio::test]
async fn a_rest_broadcast_without_valid_keys_is_401() {
    let body = json!({"messages": [{"topic": "x", "event": "e", "payload": {}}]});
    for (apikey, bearer) in [(None, None), (Some("junk".to_string()), None), (Some(anon()), Some("junk".to_string()))] {
        let (status, text) = post(apikey.as_deref(), bearer.as_deref(), &body).await;
        assert_eq!(status, 401);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), json!({"message": "Unauthorized"}));
    }
}

#[tokio::test]
async fn a_malformed_rest_broadcast_is_422_with_the_errors() {
    let bad = json!({"messages": [{"topic": "", "event": "e", "payload": 5}]});
    let (status, text) = post(Some(&anon()), Some(&user_token(ADA)), &bad).await;
    assert_eq!(status, 422);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["errors"]["messages[0]"], json!(["topic must be a non-empty string", "payload must be an object"]));
    let (status, _) = post(Some(&anon()), Some(&user_token(ADA)), &json!({"messages": []})).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn a_private_rest_broadcast_needs_write_access() {
    let body = json!({"messages": [{"topic": format!("user:{ADA}"), "event": "e", "payload": {}, "private": true}]});
    let (status, _) = post(Some(&anon()), Some(&user_token(BASIL)), &body).await;
    assert_eq!(status, 401, "Basil cannot write to Ada's inbox");
    let (status, _) = post(Some(&anon()), Some(&user_token(ADA)), &body).await;
    assert_eq!(status, 202, "Ada can");
}

#[tokio::test]
async fn a_refused_message_does_not_hold_the_others_and_each_one_s_fate_is_reported() {
    let topic = unique_topic("rest-mixed");
    let mut listener = Client::connect(BASIL, Vsn::V2).await;
    listener.join(&topic, json!({})).await;
    let inbox = format!("user:{ADA}");
    let body = json!({"messages": [
        {"topic": topic, "event": "first", "payload": {"n": 1}},
        {"topic": inbox, "event": "intrusion", "payload": {}, "private": true},
        {"topic": topic, "event": "third", "payload": {"n": 3}},
    ]});
    let (status, text) = post(Some(&anon()), Some(&user_token(BASIL)), &body).await;
    assert_eq!(status, 401, "{text}");
    let answer: Value = serde_json::from_str(&text).expect("a JSON answer");
    assert_eq!(
        answer["reason"],
        format!("Unauthorized: You do not have permissions to write to this Channel topic: {inbox}")
    );
    let fates: Vec<(u64, String)> = answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| (r["index"].as_u64().unwrap_or(99), r["status"].as_str().unwrap_or_default().to_string()))
        .collect();
    assert_eq!(fates, vec![(0, "sent".into()), (1, "refused".into()), (2, "sent".into())], "{answer}");
    for event in ["first", "third"] {
        let got = listener.recv_until("a sent message", |f| f.event == "broadcast").await;
        assert_eq!(got.payload["event"], event, "in order, the refused one in between held nothing");
    }
}

#[tokio::test]
async fn too_many_rest_messages_at_once_is_429() {
    let (_, token) = e2e::stranger_token("rest-flood");
    // Over the two seconds' allowance of 100 per second (room::limits::EVENT_AVERAGING_SECONDS).
    let messages: Vec<Value> = (0..250).map(|i| json!({"topic": "flood", "event": "e", "payload": {"i": i}})).collect();
    let (status, text) = post(Some(&anon()), Some(&token), &json!({ "messages": messages })).await;
    assert_eq!(status, 429);
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), json!({"message": "Too many requests"}));
}

#[tokio::test]
async fn the_rest_budget_is_the_user_s_and_a_refusal_says_when_to_retry() {
    let (_, token) = e2e::stranger_token("rest-budget");
    let batch = |n: usize| json!({"messages": (0..n).map(|i| json!({"topic": "budget", "event": "e", "payload": {"i": i}})).collect::<Vec<_>>()});
    let (status, _) = post(Some(&anon()), Some(&token), &batch(150)).await;
    assert_eq!(status, 202, "150 of a two-second allowance of 200");
    let response = reqwest::Client::new()
        .post(format!("{}/realtime/v1/api/broadcast", base_url()))
        .header("apikey", anon())
        .bearer_auth(&token)
        .json(&batch(100))
        .send()
        .await
        .expect("POST broadcast");
    assert_eq!(response.status().as_u16(), 429, "the next 100 do not fit what is left");
    let retry = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    assert!(retry.is_some_and(|s| (1..=2).contains(&s)), "Retry-After says when 100 fit again: {retry:?}");
}

#[tokio::test]
async fn room_health_is_for_the_service_role_and_counts_what_happened() {
    let topic = unique_topic("stats");
    let mut a = Client::connect(ADA, Vsn::V2).await;
    let mut b = Client::connect(BASIL, Vsn::V2).await;
    let join_ref = a.join(&topic, json!({"presence": {"key": "ada"}})).await;
    b.join(&topic, json!({})).await;
    a.push(&topic, "broadcast", json!({"type": "broadcast", "event": "e", "payload": {}}), Some(&join_ref)).await;
    b.recv_until("the broadcast", |f| f.event == "broadcast").await;

    let url = format!("{}/realtime/v1/api/rooms/{}", base_url(), topic);
    let denied = reqwest::Client::new().get(&url).header("apikey", user_token(ADA)).send().await.unwrap();
    assert_eq!(denied.status().as_u16(), 401);
    let stats: Value =
        reqwest::Client::new().get(&url).header("apikey", service()).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["topic"], topic);
    assert_eq!(stats["joined_sockets"], 2);
    assert_eq!(stats["distinct_users"], 2);
    assert_eq!(stats["presence_count"], 0);
    assert!(stats["messages_in"].as_u64().unwrap_or(0) >= 3, "two joins and a broadcast: {stats}");
    assert!(stats["messages_out"].as_u64().unwrap_or(0) >= 3, "two join replies and a delivery: {stats}");

    // A topic no channel could join: the operator's mistake, said as such (not 404).
    let bad = format!("{}/realtime/v1/api/rooms/{}", base_url(), "x".repeat(300));
    let refused = reqwest::Client::new().get(&bad).header("apikey", service()).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    let body: Value = refused.json().await.unwrap_or_default();
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.starts_with("topic: ")), "{body}");
}

#[tokio::test]
async fn a_room_that_loses_its_memory_still_delivers_to_every_socket_and_reports_the_same_presence() {
    let topic = unique_topic("evicted");
    let mut a = Client::connect(ADA, Vsn::V2).await;
    let mut b = Client::connect(BASIL, Vsn::V1).await;
    let a_ref = a.join(&topic, json!({"presence": {"key": "ada"}})).await;
    let b_ref = b.join(&topic, json!({"presence": {"key": "basil"}})).await;
    let r = a
        .push(
            &topic,
            "presence",
            json!({"type": "presence", "event": "track", "payload": {"mood": "sunny"}}),
            Some(&a_ref),
        )
        .await;
    assert_eq!(a.reply_to(&r).await["status"], "ok");
    b.recv_until("the track", |f| f.event == "presence_diff").await;

    let url = format!("{}/realtime/v1/api/rooms/{}/forget", base_url(), topic);
    let denied = reqwest::Client::new().post(&url).header("apikey", user_token(ADA)).send().await.unwrap();
    assert_eq!(denied.status().as_u16(), 401);
    let forgot = reqwest::Client::new().post(&url).header("apikey", service()).send().await.unwrap();
    assert_eq!(forgot.status().as_u16(), 204);

    // Both sockets still receive, in their own framing.
    a.push(&topic, "broadcast", json!({"type": "broadcast", "event": "after", "payload": {"n": 1}}), Some(&a_ref))
        .await;
    assert_eq!(
        b.recv_until("a broadcast after the wake-up", |f| f.event == "broadcast").await.payload["payload"],
        json!({"n": 1})
    );
    b.push(&topic, "broadcast", json!({"type": "broadcast", "event": "back", "payload": {"n": 2}}), Some(&b_ref)).await;
    assert_eq!(a.recv_until("a broadcast back", |f| f.event == "broadcast").await.payload["payload"], json!({"n": 2}));

    // The same presence, read back from storage.
    let mut late = Client::connect(BASIL, Vsn::V2).await;
    late.join(&topic, json!({"presence": {"key": "late", "enabled": true}})).await;
    let state = late.recv_until("presence_state", |f| f.event == "presence_state").await;
    assert_eq!(state.payload["ada"]["metas"][0]["mood"], "sunny");
    assert_eq!(state.payload["ada"]["metas"][0]["user_id"], ADA);

    // And a socket that leaves after the wake-up is still seen leaving.
    a.close().await;
    let leave = late.recv_until("Ada's leave", |f| f.event == "presence_diff").await;
    assert_eq!(leave.payload["leaves"]["ada"]["metas"][0]["mood"], "sunny");
}
