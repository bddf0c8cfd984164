//! Crowd benchmark: P publishers on one topic, each at R messages per second (under the
//! per-user limit), plus S listeners, over the multiplexed or the per-topic socket, or
//! the bare JS room of bench/bare-room as the baseline. Prints how many publishers the
//! rate limit cut off (it should be none: each sends under the limit) and the
//! deliveries per second; with enough of them, the endpoint's saturation throughput.
//!
//!   crowd_bench edge|direct|bare <http-base-url> [publishers] [rate] [listeners] [seconds]
//!
//! Needs E2E_JWT_SECRET. Bounded: each publisher sends rate x seconds messages and stops.

use futures_util::{SinkExt, StreamExt};
use realtime_protocol::{Frame, Vsn};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Clone, Copy, PartialEq)]
enum Target {
    Edge,
    Direct,
    Bare,
}

async fn open(base: &str, target: Target, token: &str, topic: &str) -> Socket {
    let ws_base = base.replacen("http", "ws", 1);
    let url = match target {
        Target::Direct => format!("{ws_base}/realtime/v1/channel/websocket?apikey={token}&vsn=2.0.0&topic={topic}"),
        Target::Edge => format!("{ws_base}/realtime/v1/websocket?apikey={token}&vsn=2.0.0"),
        Target::Bare => format!("{ws_base}/?topic={topic}"),
    };
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("connect");
    if target == Target::Bare {
        return ws;
    }
    let join =
        Frame::new(topic, "phx_join", e2e::object(json!({"config": {}}))).with_refs(Some("1".into()), Some("1".into()));
    ws.send(Message::text(join.encode(Vsn::V2))).await.expect("join");
    loop {
        if let Message::Text(t) = ws.next().await.expect("join reply").expect("readable") {
            let f = Frame::decode(Vsn::V2, t.as_str()).expect("frame");
            if f.event == "phx_reply" {
                assert_eq!(f.payload["status"], "ok", "join refused: {:?}", f.payload);
                return ws;
            }
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let target = match args.first().map(String::as_str) {
        Some("edge") => Target::Edge,
        Some("direct") => Target::Direct,
        Some("bare") => Target::Bare,
        _ => {
            eprintln!("usage: crowd_bench edge|direct|bare <http-base-url> [publishers] [rate] [listeners] [seconds]");
            std::process::exit(2);
        }
    };
    let base = args.get(1).cloned().unwrap_or_else(|| "http://127.0.0.1:8787".into());
    let num = |i: usize, d: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (publishers, rate, listeners, seconds) = (num(2, 10), num(3, 90), num(4, 4), num(5, 5));
    let topic = format!("realtime:crowd-{}", std::process::id());
    let delivered = Arc::new(AtomicU64::new(0));
    let cut_off = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for i in 0..publishers + listeners {
        // Each publisher is a user of its own (the events budget is per user); listeners
        // share 100 users, so a topic's users stay under MAX_USERS_PER_CHANNEL (200).
        let who =
            if i < publishers { format!("{topic}-publisher-{i}") } else { format!("{topic}-listener-{}", i % 100) };
        let (_, token) = e2e::stranger_token(&who);
        let (write, mut read) = open(&base, target, &token, &topic).await.split();
        let (delivered, cut_off) = (delivered.clone(), cut_off.clone());
        readers.push(tokio::spawn(async move {
            let (mut was_cut, mut got, mut close) = (false, 0u64, None);
            // Publishing starts once every socket is open, which can take longer than the
            // quiet that ends a reader: the first message gets as long as opening may take.
            let quiet = |got: u64| Duration::from_secs(if got == 0 { 60 } else { 3 });
            while let Ok(Some(Ok(msg))) = tokio::time::timeout(quiet(got), read.next()).await {
                if let Message::Close(frame) = &msg {
                    close = Some(frame.as_ref().map_or(1005, |f| u16::from(f.code)));
                }
                if let Message::Text(t) = msg {
                    if t.as_str().contains("\"system\"") && t.as_str().contains("Too many messages") && !was_cut {
                        was_cut = true;
                        cut_off.fetch_add(1, Ordering::Relaxed);
                    } else if target == Target::Bare || t.as_str().contains("\"broadcast\"") {
                        delivered.fetch_add(1, Ordering::Relaxed);
                        got += 1;
                    }
                }
            }
            (got, close)
        }));
        if i < publishers {
            writers.push(write);
        }
    }
    let started = Instant::now();
    let mut senders = Vec::new();
    for mut write in writers {
        let topic = topic.clone();
        senders.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
            for seq in 0..rate * seconds {
                tick.tick().await;
                let text = if target == Target::Bare {
                    json!({"seq": seq}).to_string()
                } else {
                    let payload = json!({"type": "broadcast", "event": "tick", "payload": {"seq": seq}});
                    Frame::new(&topic, "broadcast", e2e::object(payload))
                        .with_refs(Some("1".into()), None)
                        .encode(Vsn::V2)
                };
                if write.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
            write
        }));
    }
    let mut open_writers = Vec::new();
    for s in senders {
        if let Ok(w) = s.await {
            open_writers.push(w);
        }
    }
    let send_secs = started.elapsed().as_secs_f64();
    // Sockets that heard nothing, and those the server closed (4001: too slow to read).
    let (mut silent, mut closed) = (0, std::collections::BTreeMap::<u16, u32>::new());
    for r in readers {
        if let Ok((got, close)) = r.await {
            silent += u32::from(got == 0);
            if let Some(code) = close {
                *closed.entry(code).or_default() += 1;
            }
        }
    }
    let expected = publishers * rate * seconds * (publishers + listeners - 1);
    println!(
        "{:<15} publishers={publishers} rate={rate}/s listeners={listeners} seconds={seconds} cut_off={} delivered={} of {expected} deliveries/s={:.0} silent_sockets={silent} closed_by_code={closed:?}",
        match target {
            Target::Direct => "edge (direct)",
            Target::Edge => "edge (relayed)",
            Target::Bare => "bare JS room",
        },
        cut_off.load(Ordering::Relaxed),
        delivered.load(Ordering::Relaxed),
        delivered.load(Ordering::Relaxed) as f64 / send_secs,
    );
    drop(open_writers);
}
