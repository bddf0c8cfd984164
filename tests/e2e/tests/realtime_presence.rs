//! Presence over the real stack: track, re-track, untrack, state on join, and leaves
//! when a socket goes away. Every meta carries the verified user id.

use e2e::{unique_topic, Client, ADA, BASIL};
use realtime_protocol::{Frame, Vsn};
use serde_json::{json, Value};

fn presence_config(key: &str) -> Value {
    json!({"presence": {"enabled": true, "key": key}})
}

async fn track(c: &mut Client, topic: &str, join_ref: &str, payload: Value) -> Value {
    let r = c
        .push(topic, "presence", json!({"type": "presence", "event": "track", "payload": payload}), Some(join_ref))
        .await;
    Value::Object(c.reply_to(&r).await)
}

fn is(event: &'static str) -> impl Fn(&Frame) -> bool {
    move |f| f.event == event
}

#[tokio::test]
async fn a_track_reaches_everyone_with_the_verified_user_id_and_newcomers_get_the_state() {
    let topic = unique_topic("presence");
    let mut ada = Client::connect(ADA, Vsn::V2).await;
    let join_ref = ada.join(&topic, presence_config("ada")).await;
    let state = ada.recv_until("presence_state", is("presence_state")).await;
    assert!(state.payload.is_empty(), "an empty room: {:?}", state.payload);

    let mut basil = Client::connect(BASIL, Vsn::V1).await;
    let basil_ref = basil.join(&topic, presence_config("basil")).await;
    basil.recv_until("presence_state", is("presence_state")).await;

    let reply = track(&mut ada, &topic, &join_ref, json!({"status": "online", "user_id": BASIL})).await;
    assert_eq!(reply["status"], "ok");
    for client in [&mut ada, &mut basil] {
        let diff = client.recv_until("presence_diff", is("presence_diff")).await;
        let meta = &diff.payload["joins"]["ada"]["metas"][0];
        assert_eq!(meta["status"], "online");
        assert_eq!(meta["user_id"], ADA, "the verified user id wins over the forged one");
        assert!(meta["phx_ref"].as_str().is_some_and(|r| !r.is_empty()));
    }

    let mut clover = Client::connect(BASIL, Vsn::V2).await;
    clover.join(&topic, presence_config("late")).await;
    let state = clover.recv_until("presence_state", is("presence_state")).await;
    assert_eq!(state.payload["ada"]["metas"][0]["status"], "online");
    assert_eq!(state.payload["ada"]["metas"].as_array().map(Vec::len), Some(1));
    let _ = basil_ref;
}

#[tokio::test]
async fn a_retrack_is_a_leave_and_a_join_pointing_back_and_untrack_is_a_leave() {
    let topic = unique_topic("retrack");
    let mut ada = Client::connect(ADA, Vsn::V2).await;
    let join_ref = ada.join(&topic, presence_config("ada")).await;
    track(&mut ada, &topic, &join_ref, json!({"status": "online"})).await;
    let first = ada.recv_until("first diff", is("presence_diff")).await;
    let first_ref = first.payload["joins"]["ada"]["metas"][0]["phx_ref"].clone();

    track(&mut ada, &topic, &join_ref, json!({"status": "away"})).await;
    let second = ada.recv_until("second diff", is("presence_diff")).await;
    assert_eq!(second.payload["leaves"]["ada"]["metas"][0]["phx_ref"], first_ref);
    assert_eq!(second.payload["joins"]["ada"]["metas"][0]["phx_ref_prev"], first_ref);
    assert_eq!(second.payload["joins"]["ada"]["metas"][0]["status"], "away");

    let r = ada.push(&topic, "presence", json!({"type": "presence", "event": "untrack"}), Some(&join_ref)).await;
    assert_eq!(ada.reply_to(&r).await["status"], "ok");
    let third = ada.recv_until("untrack diff", is("presence_diff")).await;
    assert_eq!(third.payload["leaves"]["ada"]["metas"][0]["status"], "away");
    assert_eq!(third.payload["joins"], json!({}));
}

#[tokio::test]
async fn two_connections_of_one_user_under_one_key_are_two_metas_and_a_closed_socket_leaves() {
    let topic = unique_topic("devices");
    let mut phone = Client::connect(ADA, Vsn::V2).await;
    let mut tablet = Client::connect(ADA, Vsn::V2).await;
    let mut watcher = Client::connect(BASIL, Vsn::V2).await;
    let phone_ref = phone.join(&topic, presence_config("ada")).await;
    let tablet_ref = tablet.join(&topic, presence_config("ada")).await;
    watcher.join(&topic, presence_config("basil")).await;
    track(&mut phone, &topic, &phone_ref, json!({"device": "phone"})).await;
    track(&mut tablet, &topic, &tablet_ref, json!({"device": "tablet"})).await;

    let mut late = Client::connect(BASIL, Vsn::V2).await;
    late.join(&topic, presence_config("late")).await;
    let state = late.recv_until("presence_state", is("presence_state")).await;
    let mut devices: Vec<String> = state.payload["ada"]["metas"]
        .as_array()
        .expect("metas")
        .iter()
        .map(|m| m["device"].as_str().unwrap_or_default().to_string())
        .collect();
    devices.sort();
    assert_eq!(devices, ["phone", "tablet"]);

    phone.close().await;
    let leave = late
        .recv_until("the phone's leave", |f| {
            f.event == "presence_diff" && !f.payload["leaves"].as_object().is_some_and(|l| l.is_empty())
        })
        .await;
    assert_eq!(leave.payload["leaves"]["ada"]["metas"][0]["device"], "phone");
}

#[tokio::test]
async fn a_track_payload_that_is_not_a_map_is_refused() {
    let topic = unique_topic("badtrack");
    let mut ada = Client::connect(ADA, Vsn::V2).await;
    let join_ref = ada.join(&topic, presence_config("ada")).await;
    let reply = track(&mut ada, &topic, &join_ref, json!("online")).await;
    assert_eq!(reply, json!({"status": "error", "response": {"reason": "Presence track payload must be a map"}}));
}
