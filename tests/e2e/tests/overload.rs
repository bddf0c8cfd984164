//! Overload on the socket supabase-js uses: a subscriber that stops reading while others
//! receive 5,000 messages is closed with the documented reason, and costs the others
//! nothing (every message, in order; their latency is printed, not asserted).

use e2e::{limit, stranger_token, unique_topic, ws_url, Client, Message, Received};
use futures_util::{SinkExt, StreamExt};
use realtime_protocol::{Frame, Vsn};
use serde_json::json;
use std::time::{Duration, Instant};

const MESSAGES: u64 = 5_000;
const PUBLISHERS: u64 = 3;
/// Per publisher, under the event limit (100/s per socket and per user).
const RATE: u64 = 80;

/// A publisher on its own socket: it sends its share of the messages, numbered `first`,
/// `first + PUBLISHERS`, .., stamped with the time since `start`, and drains what it is
/// sent (the others' messages) so that it is never the slow one.
async fn publish(label: String, topic: String, first: u64, start: Instant) {
    let (_, token) = stranger_token(&label);
    let url = ws_url(&format!("apikey={token}&vsn=2.0.0"));
    let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("publisher connects");
    let (mut write, mut read) = ws.split();
    let join = Frame::new(&topic, "phx_join", e2e::object(json!({"config": {}})))
        .with_refs(Some("1".into()), Some("1".into()));
    write.send(Message::text(join.encode(Vsn::V2))).await.expect("join");
    loop {
        let Some(Ok(Message::Text(text))) = read.next().await else { panic!("publisher: no join reply") };
        let frame = Frame::decode(Vsn::V2, text.as_str()).expect("a frame");
        if frame.event == "phx_reply" {
            assert_eq!(frame.payload["status"], "ok", "publisher joins: {:?}", frame.payload);
            break;
        }
    }
    let drain = tokio::spawn(async move { while let Some(Ok(_)) = read.next().await {} });
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    let mut n = first;
    while n < MESSAGES {
        tick.tick().await;
        let ts = start.elapsed().as_micros() as u64;
        let payload = json!({"type": "broadcast", "event": "bulk",
                             "payload": {"n": n, "ts": ts, "b": "x".repeat(2_000)}});
        let frame = Frame::new(&topic, "broadcast", e2e::object(payload)).with_refs(Some("1".into()), None);
        write.send(Message::text(frame.encode(Vsn::V2))).await.expect("publish");
        n += PUBLISHERS;
    }
    // Stay joined until the readers had time to hear the last ones.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = write.close().await;
    drain.abort();
}

#[tokio::test]
async fn a_paused_reader_among_5000_messages_is_closed_and_the_others_lose_nothing() {
    let topic = unique_topic("overload");
    let bound = limit("E2E_MAX_BUFFERED");
    let start = Instant::now();
    let (_, paused_token) = stranger_token(&format!("{topic}-paused"));
    let mut paused =
        Client::connect_with_small_buffer(&ws_url(&format!("apikey={paused_token}&vsn=2.0.0")), Vsn::V2).await;
    paused.join(&topic, json!({})).await;
    let (_, reader_token) = stranger_token(&format!("{topic}-reader"));
    let mut reader = Client::connect_with_token(&reader_token, Vsn::V2).await;
    reader.join(&topic, json!({})).await;

    let reading = tokio::spawn(async move {
        let (mut got, mut latencies_us) = (Vec::new(), Vec::new());
        let mut beat = Instant::now();
        while (got.len() as u64) < MESSAGES {
            if beat.elapsed() > Duration::from_secs(2) {
                reader.try_send(Message::text(r#"[null,"hb","phoenix","heartbeat",{}]"#)).await;
                beat = Instant::now();
            }
            match reader.try_recv(Duration::from_secs(10)).await {
                Some(Received::Frame(f)) if f.event == "broadcast" => {
                    let body = &f.payload["payload"];
                    got.push(body["n"].as_u64().unwrap_or(u64::MAX));
                    let sent = body["ts"].as_u64().unwrap_or(0);
                    latencies_us.push((start.elapsed().as_micros() as u64).saturating_sub(sent));
                }
                Some(_) => {}
                None => break,
            }
        }
        (got, latencies_us)
    });
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| tokio::spawn(publish(format!("{topic}-publisher-{p}"), topic.clone(), p, start)))
        .collect();

    // The paused client reads nothing but keeps heartbeating (or the idle timeout would
    // close it first), until the server closes it.
    let mut beats = 0;
    while !publishers.iter().all(|p| p.is_finished()) && beats < 60 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if !paused.try_send(Message::text(format!(r#"[null,"hb{beats}","phoenix","heartbeat",{{}}]"#))).await {
            break;
        }
        beats += 1;
    }
    let (close, frames) = paused.closed_after(Duration::from_secs(30)).await;
    let (code, reason) = close.expect("the paused client gets a close frame");
    assert_eq!(code, 4001, "{reason}");
    assert!(reason.contains(&bound.to_string()), "the reason names the bound: {reason}");
    let told = frames.iter().rev().find(|f| f.event == "system");
    let message = told.and_then(|f| f.payload["message"].as_str()).unwrap_or_default();
    assert!(message.starts_with("ClientTooSlow:"), "the last frames say why: {told:?}");

    for p in publishers {
        p.await.expect("a publisher");
    }
    let (got, mut latencies_us) = reading.await.expect("the reader");
    // Each publisher's messages arrive in the order it sent them.
    for p in 0..PUBLISHERS {
        let mine: Vec<u64> = got.iter().copied().filter(|n| n % PUBLISHERS == p).collect();
        let sent: Vec<u64> = (p..MESSAGES).step_by(PUBLISHERS as usize).collect();
        assert_eq!(mine, sent, "the reader that keeps up gets every message of publisher {p}, in order");
    }
    latencies_us.sort_unstable();
    let at = |q: f64| latencies_us[((latencies_us.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    eprintln!(
        "overload: {MESSAGES} messages, the paused reader closed with 4001; the reader kept up: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        at(0.5),
        at(0.99),
        at(1.0)
    );
}
