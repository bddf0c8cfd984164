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
