//! Broadcast from the database: `realtime.send(payload, event, topic, private)` reaches the
//! broadcast subscribers of that topic's room, private or public, and a send the write
//! policies refuse is an error the caller sees.

use e2e::{unique_topic, Client, ADA, BASIL};
use realtime_protocol::Vsn;
use serde_json::json;
use std::time::Duration;

/// `realtime.send` as `user` (the authenticated role with the user's claims).
async fn send_as(user: &str, payload: &str, event: &str, topic: &str, private: bool) -> Result<(), String> {
    let mut db = e2e::database().await;
    let tx = db.transaction().await.expect("begin");
    let claims = json!({"sub": user, "role": "authenticated", "aud": "authenticated"}).to_string();
    tx.execute("select set_config('request.jwt.claims', $1, true)", &[&claims]).await.expect("claims");
    tx.batch_execute("set local role authenticated").await.expect("role");
    tx.execute("select realtime.send($1::text::jsonb, $2, $3, $4)", &[&payload, &event, &topic, &private])
        .await
        .map_err(|e| e.code().map(|c| c.code().to_string()).unwrap_or_else(|| e.to_string()))?;
    tx.commit().await.expect("commit");
    Ok(())
}

#[tokio::test]
async fn realtime_send_reaches_a_private_inbox_and_a_public_channel_and_refusals_are_errors() {
    let inbox = format!("realtime:user:{ADA}");
    let mut ada = Client::connect(ADA, Vsn::V2).await;
    ada.join(&inbox, json!({"private": true})).await;
    let garden = unique_topic("db-garden");
    let mut basil = Client::connect(BASIL, Vsn::V1).await;
    basil.join(&garden, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let note = format!("note-{}", e2e::now());
    send_as(ADA, r#"{"unread": 3}"#, &note, &format!("user:{ADA}"), true).await.expect("Ada may write her inbox");
    let got = ada
        .recv_until("the database broadcast", |f| f.event == "broadcast" && f.payload["event"] == note.as_str())
        .await;
    assert_eq!(got.payload["type"], "broadcast");
    assert_eq!(got.payload["payload"]["unread"], 3);
    assert!(!got.payload["payload"]["id"].is_null(), "the message id rides in the payload");
    assert_eq!(got.payload["meta"]["id"], got.payload["payload"]["id"]);

    let name = garden.trim_start_matches("realtime:");
    send_as(ADA, r#"{"watered": true}"#, "tick", name, false).await.expect("an open channel");
    let got = basil.recv_until("the public database broadcast", |f| f.event == "broadcast").await;
    assert_eq!(got.payload["payload"]["watered"], true);

    let refused = send_as(BASIL, "{}", "x", &format!("user:{ADA}"), true).await;
    assert_eq!(refused, Err("42501".to_string()), "Basil may not write Ada's inbox, and is told so");
    ada.expect_silence("nothing from a refused send").await;
}

#[tokio::test]
async fn broadcast_replay_sends_the_latest_stored_broadcasts_first_then_the_live_ones_each_once() {
    let (me, token) = e2e::stranger_token(&format!("replay-{}", e2e::now()));
    let topic = format!("user:{me}");
    let since = e2e::now() * 1000 - 60_000;
    let tag = format!("replayed-{}", e2e::now());
    for n in 1..=3 {
        let payload = json!({"n": n}).to_string();
        send_as(&me, &payload, &tag, &topic, true).await.expect("my own inbox");
    }

    let mut me_client = Client::connect_with_token(&token, Vsn::V2).await;
    let config = json!({"private": true, "broadcast": {"replay": {"since": since, "limit": 2}}});
    me_client.join(&format!("realtime:{topic}"), config).await;
    let mut got = Vec::new();
    for _ in 0..2 {
        let f = me_client.recv_until("a replayed broadcast", |f| f.event == "broadcast").await;
        got.push((f.payload["payload"]["n"].clone(), f.payload["meta"]["replayed"].clone()));
    }
    assert_eq!(got, vec![(json!(2), json!(true)), (json!(3), json!(true))], "the latest two, oldest first");
    send_as(&me, r#"{"n": 4}"#, &tag, &topic, true).await.expect("a live one");
    let live = me_client.recv_until("the live broadcast", |f| f.event == "broadcast").await;
    assert_eq!(live.payload["payload"]["n"], 4);
    assert!(live.payload["meta"]["replayed"].is_null(), "live, not replayed: {live:?}");
    me_client.expect_silence("nothing twice: the replayed ones are not sent again live").await;

    // Nothing stored since a later moment: nothing replayed, the channel still joins.
    let mut later = Client::connect_with_token(&token, Vsn::V1).await;
    later
        .join(
            &format!("realtime:{topic}"),
            json!({"private": true, "broadcast": {"replay": {"since": e2e::now() * 1000 + 60_000}}}),
        )
        .await;
    later.expect_silence("nothing after a future moment").await;
}

#[tokio::test]
async fn broadcast_replay_is_refused_on_public_channels_when_malformed_and_to_strangers() {
    let (me, _) = e2e::stranger_token(&format!("replay-owner-{}", e2e::now()));
    let mut c = Client::connect(BASIL, Vsn::V2).await;
    let (_, reply) =
        c.join_payload(&unique_topic("open"), json!({"config": {"broadcast": {"replay": {"since": 0}}}})).await;
    assert_eq!(reply["response"]["reason"], "InvalidJoin: broadcast.replay works on private channels only");
    let (_, reply) = c
        .join_payload(
            &format!("realtime:user:{BASIL}"),
            json!({"config": {"private": true, "broadcast": {"replay": {"since": 0, "limit": 500}}}}),
        )
        .await;
    assert!(reply["response"]["reason"]
        .as_str()
        .unwrap_or_default()
        .starts_with("InvalidJoin: broadcast.replay needs"));
    send_as(&me, r#"{"secret": 1}"#, "private-note", &format!("user:{me}"), true).await.expect("the owner's inbox");
    let (_, reply) = c
        .join_payload(
            &format!("realtime:user:{me}"),
            json!({"config": {"private": true, "broadcast": {"replay": {"since": 0}}}}),
        )
        .await;
    assert_eq!(reply["status"], "error", "a stranger is refused before anything is replayed: {reply:?}");
    c.expect_silence("no replayed broadcast reaches a stranger").await;
}
