//! The attack suite, floods and sizes: binary and heartbeat floods on both sockets,
//! oversized frames and presence, readers that stop reading, and token refresh floods
//! (which must neither go unbounded nor open a database connection each).

use e2e::{assert_still_serving, limit, unique_topic, user_token, Client, Message, ADA, BASIL};
use realtime_protocol::{BinaryBroadcast, PayloadEncoding, Vsn};
use serde_json::{json, Value};
use std::time::Duration;

fn binary_broadcast(topic: &str, join_ref: &str, n: u32) -> Vec<u8> {
    BinaryBroadcast {
        join_ref: Some(join_ref.into()),
        msg_ref: None,
        topic: topic.into(),
        event: "bin".into(),
        meta: String::new(),
        encoding: PayloadEncoding::Binary,
        payload: n.to_be_bytes().to_vec(),
    }
    .encode_client()
    .expect("a kind 3 frame")
}

async fn socket(direct: bool, user: &str, topic: &str) -> Client {
    if direct {
        Client::connect_direct(&user_token(user), topic, false, Vsn::V2).await
    } else {
        Client::connect(user, Vsn::V2).await
    }
}

#[tokio::test]
async fn binary_broadcast_floods_are_cut_off_on_both_sockets() {
    for direct in [false, true] {
        let topic = unique_topic("binary-flood");
        let mut flooder = socket(direct, ADA, &topic).await;
        let mut listener = Client::connect(BASIL, Vsn::V2).await;
        let join_ref = flooder.join(&topic, json!({})).await;
        listener.join(&topic, json!({})).await;
        for n in 0..1000 {
            if !flooder.try_send(Message::binary(binary_broadcast(&topic, &join_ref, n))).await {
                break;
            }
        }
        let system = flooder.recv_until("the system error", |f| f.event == "system").await;
        assert_eq!(system.payload["message"], "Too many messages per second", "direct {direct}");
        let mut delivered = 0;
        while let Some(e2e::Received::Binary(_)) = listener.try_recv(Duration::from_millis(1500)).await {
            delivered += 1;
        }
        // At most the two seconds' allowance (room::limits::EVENT_AVERAGING_SECONDS) and a
        // little refill.
        assert!(delivered <= 220, "direct {direct}: {delivered} of 1000 binary frames delivered in a burst");
    }
    assert_still_serving().await;
}

#[tokio::test]
async fn heartbeat_floods_are_answered_and_leave_the_server_serving() {
    let mut c = Client::connect(ADA, Vsn::V2).await;
    for n in 0..2000 {
        c.send_text(format!(r#"[null,"{n}","phoenix","heartbeat",{{}}]"#)).await;
    }
    let last = c.recv_until("the last heartbeat reply", |f| f.msg_ref.as_deref() == Some("1999")).await;
    assert_eq!(last.payload["status"], "ok");
    assert_still_serving().await;
}

#[tokio::test]
async fn a_frame_over_the_limit_closes_either_socket_with_1009() {
    let max = limit("E2E_MAX_FRAME");
    for direct in [false, true] {
        let topic = unique_topic("too-big");
        let mut c = socket(direct, ADA, &topic).await;
        let join_ref = c.join(&topic, json!({})).await;
        let big = json!([join_ref, "2", topic, "broadcast", {"type": "broadcast", "event": "x", "payload": {"b": "x".repeat(max)}}]);
        c.send_text(big.to_string()).await;
        let (code, reason) = c.closed(Duration::from_secs(10)).await.expect("a close frame");
        assert_eq!(code, 1009, "direct {direct}: {reason}");
        assert!(reason.contains(&max.to_string()), "the reason names the limit: {reason}");
        let mut b = socket(direct, ADA, &topic).await;
        let join_ref = b.join(&topic, json!({})).await;
        b.send_binary(
            binary_broadcast(&topic, &join_ref, 0).into_iter().chain(std::iter::repeat_n(0u8, max)).collect(),
        )
        .await;
        assert_eq!(b.closed(Duration::from_secs(10)).await.map(|c| c.0), Some(1009), "binary, direct {direct}");
    }
    assert_still_serving().await;
}

#[tokio::test]
async fn presence_over_the_limit_is_refused_and_never_reaches_later_joiners() {
    let max = limit("E2E_MAX_PRESENCE");
    for direct in [false, true] {
        let topic = unique_topic("fat-presence");
        let mut c = socket(direct, ADA, &topic).await;
        let join_ref = c.join(&topic, json!({"presence": {"key": "ada", "enabled": true}})).await;
        let fat = json!({"type": "presence", "event": "track", "payload": {"blob": "x".repeat(max)}});
        let r = c.push(&topic, "presence", fat, Some(&join_ref)).await;
        assert_eq!(
            c.reply_to(&r).await["response"]["reason"],
            format!("PresencePayloadTooLarge: Presence payload exceeds {max} bytes")
        );
        let mut later = Client::connect(BASIL, Vsn::V2).await;
        later.join(&topic, json!({"presence": {"key": "basil", "enabled": true}})).await;
        let state = later.recv_until("presence_state", |f| f.event == "presence_state").await;
        assert_eq!(Value::Object(state.payload), json!({}), "direct {direct}: nothing was tracked");
    }
    assert_still_serving().await;
}

#[tokio::test]
async fn a_reader_that_stops_reading_is_told_and_closed_with_4001_while_the_others_lose_nothing() {
    let bound = limit("E2E_MAX_BUFFERED");
    let payload = limit("E2E_MAX_PAYLOAD") / 2;
    for direct in [false, true] {
        let topic = unique_topic("paused");
        let url = if direct {
            e2e::direct_url(&user_token(BASIL), &topic, false, Vsn::V2)
        } else {
            e2e::ws_url(&format!("apikey={}&vsn=2.0.0", user_token(BASIL)))
        };
        let mut paused = Client::connect_with_small_buffer(&url, Vsn::V2).await;
        paused.join(&topic, json!({})).await;
        let mut publisher = Client::connect(ADA, Vsn::V2).await;
        let join_ref = publisher.join(&topic, json!({})).await;
        // A reader that keeps up, on the same kind of socket: it must get every message.
        let mut reader = socket(direct, ADA, &topic).await;
        reader.join(&topic, json!({})).await;
        let reading = tokio::spawn(async move {
            let (mut got, mut quiet, mut beat) = (Vec::new(), 0, tokio::time::Instant::now());
            while quiet < 5 {
                if beat.elapsed() > Duration::from_secs(2) {
                    reader.try_send(Message::text(r#"[null,"hb","phoenix","heartbeat",{}]"#)).await;
                    beat = tokio::time::Instant::now();
                }
                match reader.try_recv(Duration::from_secs(1)).await {
                    Some(e2e::Received::Frame(f)) if f.event == "broadcast" => {
                        got.push(f.payload["payload"]["n"].as_u64().unwrap_or(u64::MAX));
                        quiet = 0;
                    }
                    Some(_) => {}
                    None => quiet += 1,
                }
            }
            got
        });
        // Sixteen times the bound (the kernel's socket buffers hold a few megabytes before
        // the server's own queue grows), at 50 messages a second (under the rate limit),
        // while the paused client reads nothing but keeps sending heartbeats.
        let total = 16 * bound / payload + 1;
        let mut pushed = 0u64;
        for n in 0..total {
            pushed += 1;
            let message = json!({"type": "broadcast", "event": "bulk", "payload": {"n": n, "b": "x".repeat(payload)}});
            publisher.push(&topic, "broadcast", message, Some(&join_ref)).await;
            if n % 25 == 0
                && !paused.try_send(Message::text(format!(r#"[null,"hb{n}","phoenix","heartbeat",{{}}]"#))).await
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (close, frames) = paused.closed_after(Duration::from_secs(30)).await;
        let (code, reason) = close.expect("a close frame after the backlog");
        assert_eq!(code, 4001, "direct {direct}: {reason}");
        assert!(reason.contains(&bound.to_string()), "the reason names the bound: {reason}");
        let told = frames.iter().rev().find(|f| f.event == "system");
        let message = told.and_then(|f| f.payload["message"].as_str()).unwrap_or_default();
        assert!(message.starts_with("ClientTooSlow:"), "direct {direct}: the last frames say why: {told:?}");
        // The publisher heartbeats while the reader drains (five quiet seconds), or the
        // idle timeout (5 s on the test stack) would close it before the stats are read.
        let mut reading = reading;
        let got = loop {
            tokio::select! {
                got = &mut reading => break got.expect("the reader"),
                _ = tokio::time::sleep(Duration::from_secs(2)) => {
                    publisher.try_send(Message::text(r#"[null,"hb","phoenix","heartbeat",{}]"#)).await;
                }
            }
        };
        let sent: Vec<u64> = (0..pushed).collect();
        assert_eq!(got.len(), sent.len(), "direct {direct}: the reader that keeps up loses nothing");
        assert_eq!(got, sent, "direct {direct}: in order");
        // The room has forgotten the slow client (it never completed the close): only the
        // publisher is left, and the closing is counted, whichever socket caught it (the
        // room for a direct socket, the Worker's hub for a multiplexed one).
        let stats = e2e::room_stats(&topic).await;
        assert_eq!(stats["joined_sockets"], 1, "direct {direct}: {stats}");
        assert_eq!(stats["closed_too_slow"], 1, "direct {direct}: {stats}");
    }
    assert_still_serving().await;
}

#[tokio::test]
async fn token_refresh_floods_end_the_channel_and_reuse_one_database_connection() {
    let budget = limit("E2E_TOKEN_REFRESHES");
    let inbox = format!("realtime:user:{ADA}");
    let before = database_connections().await;
    let mut clients = Vec::new();
    for _ in 0..5 {
        let mut c = Client::connect(ADA, Vsn::V2).await;
        let join_ref = c.join(&inbox, json!({"private": true})).await;
        clients.push((c, join_ref));
    }
    let mut peak = before;
    for (c, join_ref) in clients.iter_mut() {
        for _ in 0..budget + 5 {
            c.push(&inbox, "access_token", json!({"access_token": user_token(ADA)}), Some(join_ref)).await;
        }
        let system = c.recv_until("the system error", |f| f.event == "system").await;
        assert_eq!(system.payload["message"], "Too many token refreshes");
        c.recv_until("phx_close", |f| f.event == "phx_close").await;
        peak = peak.max(database_connections().await);
    }
    assert!(
        peak <= before + 3,
        "{} refreshes and 5 private joins took the database from {before} to {peak} connections",
        5 * (budget + 5)
    );
    assert_still_serving().await;
}

/// Client connections the database has right now.
async fn database_connections() -> i64 {
    let client = e2e::database().await;
    let row = client
        .query_one("select count(*) from pg_stat_activity where backend_type = 'client backend'", &[])
        .await
        .expect("count connections");
    // This query's own connection is not the Worker's.
    row.get::<_, i64>(0) - 1
}

#[tokio::test]
async fn floods_of_garbage_unknown_events_and_leaves_change_nothing_for_anyone() {
    for direct in [false, true] {
        let topic = unique_topic("garbage");
        let mut c = socket(direct, ADA, &topic).await;
        let join_ref = c.join(&topic, json!({})).await;
        for n in 0..500 {
            c.send_text("{not json").await;
            c.send_text(r#"["1","2"]"#).await;
            c.send_binary(vec![3, 255, 255, 255, 255, 255, 1, 0]).await;
            c.send_binary(vec![9; 16]).await;
            c.push(&topic, "dance", json!({"n": n}), Some(&join_ref)).await;
            c.push(&unique_topic("never-joined"), "phx_leave", json!({}), None).await;
        }
        c.send_text(r#"[null,"last","phoenix","heartbeat",{}]"#).await;
        let last = c.recv_until("the heartbeat after the flood", |f| f.msg_ref.as_deref() == Some("last")).await;
        assert_eq!(last.payload["status"], "ok", "direct {direct}: the socket still answers");
    }
    assert_still_serving().await;
}
