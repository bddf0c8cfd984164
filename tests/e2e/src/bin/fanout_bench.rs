//! Fan-out benchmark: one topic, N subscribers, one publisher at R messages per second.
//! Prints deliveries per second, send-to-delivery latency (p50 / p99 / max) and, for this
//! project's endpoints, how many frames the room sent per message (from its stats).
//!
//!   fanout_bench edge <http-base-url> [subscribers] [rate] [seconds]   the multiplexed socket, relayed (vsn 2)
//!   fanout_bench direct <http-base-url> [subscribers] [rate] [seconds] the per-topic socket, straight to the room
//!   fanout_bench bare <http-base-url> [subscribers] [rate] [seconds]   the bare JS room in bench/bare-room
//!
//!   fanout_bench compare <http-base-url> [subscribers] [rate] [seconds] [rounds]
//!       the per-topic and the multiplexed socket in alternating rounds (direct, then
//!       multiplexed, `rounds` times, default 3): each round's figures, then the median
//!       of the rounds' p99 ratios. One short run's p99 is set by a handful of messages
//!       caught in a stall of the whole machine (FANOUT_TRACE shows every subscriber of
//!       such a message late together, the bare JS room too), so one pair of runs can say
//!       1.0x or 1.7x for the same code; alternating rounds spread those stalls over both.
//!
//! Needs E2E_JWT_SECRET for `edge`, `direct` and `compare`. Bounded: each run sends
//! rate x seconds messages and stops. FANOUT_TRACE=<file> writes one line per delivery
//! (subscriber, send time µs, latency µs) of the last run.

use e2e::percentile_ms;
use futures_util::{SinkExt, StreamExt};
use realtime_protocol::{Frame, Vsn};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Barrier};
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Copy, PartialEq)]
enum Target {
    /// The multiplexed socket (`/realtime/v1/websocket`), relayed by the Worker.
    Edge,
    /// The per-topic socket (`/realtime/v1/channel/websocket`), straight to the room.
    Direct,
    Bare,
}

struct Config {
    target: Target,
    base: String,
    subscribers: usize,
    rate: u64,
    seconds: u64,
    topic: String,
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(cfg: &Config, user: &str) -> Socket {
    let ws_base = cfg.base.replacen("http", "ws", 1);
    let url = match cfg.target {
        Target::Edge => format!("{ws_base}/realtime/v1/websocket?apikey={}&vsn=2.0.0", e2e::user_token(user)),
        Target::Direct => format!(
            "{ws_base}/realtime/v1/channel/websocket?apikey={}&vsn=2.0.0&topic={}",
            e2e::user_token(user),
            cfg.topic
        ),
        Target::Bare => format!("{ws_base}/?topic={}", cfg.topic),
    };
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("connect");
    if cfg.target != Target::Bare {
        let join = Frame::new(&cfg.topic, "phx_join", e2e::object(json!({"config": {}})))
            .with_refs(Some("1".into()), Some("1".into()));
        ws.send(Message::text(join.encode(Vsn::V2))).await.expect("join");
        loop {
            let msg = ws.next().await.expect("join reply").expect("readable");
            if let Message::Text(t) = msg {
                let f = Frame::decode(Vsn::V2, t.as_str()).expect("frame");
                if f.event == "phx_reply" {
                    assert_eq!(f.payload["status"], "ok", "join refused: {:?}", f.payload);
                    break;
                }
            }
        }
    }
    ws
}

/// The publisher's send time, in microseconds since the benchmark started.
fn stamp_of(target: Target, text: &str) -> Option<u64> {
    let v: Value = serde_json::from_str(text).ok()?;
    match target {
        Target::Edge | Target::Direct => v.get(4)?.get("payload")?.get("ts")?.as_u64(),
        Target::Bare => v.get("ts")?.as_u64(),
    }
}

/// The room's count of frames sent, from the realtime API (service role).
async fn room_frames_out(cfg: &Config) -> Option<u64> {
    if cfg.target == Target::Bare {
        return None;
    }
    let service = e2e::service_token();
    let url = format!("{}/realtime/v1/api/rooms/{}", cfg.base, e2e::url_encode(&cfg.topic));
    let response = reqwest::Client::new()
        .get(url)
        .header("apikey", &service)
        .header("authorization", format!("Bearer {service}"))
        .send()
        .await
        .ok()?;
    let stats: Value = response.json().await.ok()?;
    stats["messages_out"].as_u64()
}

/// One run's figures.
struct Figures {
    p99_ms: f64,
    /// Every delivery's latency (µs), for figures over all rounds.
    latencies: Vec<u64>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let target = match args.first().map(String::as_str) {
        Some("edge") => Some(Target::Edge),
        Some("direct") => Some(Target::Direct),
        Some("bare") => Some(Target::Bare),
        Some("compare") => None,
        _ => {
            eprintln!(
                "usage: fanout_bench edge|direct|bare|compare <http-base-url> [subscribers] [rate] [seconds] [rounds]"
            );
            std::process::exit(2);
        }
    };
    let num = |i: usize, d: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let config = |target| Config {
        target,
        base: args.get(1).cloned().unwrap_or_else(|| "http://127.0.0.1:8787".into()),
        subscribers: num(2, 200) as usize,
        rate: num(3, 100),
        seconds: num(4, 10),
        // A topic per run: a room holds no state of an earlier run.
        topic: format!("realtime:bench-{}-{}", std::process::id(), e2e::now_micros()),
    };
    let Some(target) = target else {
        let rounds = num(5, 3).max(1);
        let (mut ratios, mut all_direct, mut all_relayed) = (Vec::new(), Vec::new(), Vec::new());
        for round in 1..=rounds {
            // Each goes first in every other round, so what favours the first or the second
            // run of a round (a warm machine, the last run's teardown) favours neither.
            let mut order = [Target::Direct, Target::Edge];
            if round % 2 == 0 {
                order.reverse();
            }
            let mut figures = Vec::new();
            for target in order {
                print!("round {round}/{rounds}: ");
                figures.push((target, run(Arc::new(config(target))).await));
            }
            let take = |wanted: Target, figures: &mut Vec<(Target, Figures)>| {
                let at = figures.iter().position(|(t, _)| *t == wanted).unwrap_or(0);
                figures.remove(at).1
            };
            let direct = take(Target::Direct, &mut figures);
            let relayed = take(Target::Edge, &mut figures);
            ratios.push(relayed.p99_ms / direct.p99_ms);
            all_direct.extend(direct.latencies);
            all_relayed.extend(relayed.latencies);
        }
        all_direct.sort_unstable();
        all_relayed.sort_unstable();
        let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        ratios.sort_by(f64::total_cmp);
        let n = ratios.len();
        let median = if n % 2 == 1 { ratios[n / 2] } else { (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0 };
        println!(
            "p99 multiplexed / per-topic socket, by round: {} (median {:.2}); all rounds: p50 {:.1} / {:.1} ms, p99 {:.1} / {:.1} ms ({:.2})",
            shown.join(" "),
            median,
            percentile_ms(&all_relayed, 0.50),
            percentile_ms(&all_direct, 0.50),
            percentile_ms(&all_relayed, 0.99),
            percentile_ms(&all_direct, 0.99),
            percentile_ms(&all_relayed, 0.99) / percentile_ms(&all_direct, 0.99),
        );
        return;
    };
    run(Arc::new(config(target))).await;
}

/// Subscribes, publishes `rate` x `seconds` messages, and prints what arrived how fast.
async fn run(cfg: Arc<Config>) -> Figures {
    let target = cfg.target;
    let start = Instant::now();
    let ready = Arc::new(Barrier::new(cfg.subscribers + 1));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for subscriber in 0..cfg.subscribers {
        let (cfg, ready, mut stop) = (cfg.clone(), ready.clone(), stop_rx.clone());
        tasks.push(tokio::spawn(async move {
            let mut ws = open(&cfg, e2e::BASIL).await;
            ready.wait().await;
            let mut latencies = Vec::with_capacity((cfg.rate * cfg.seconds) as usize);
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    msg = ws.next() => match msg {
                        Some(Ok(Message::Text(t))) => {
                            if let Some(ts) = stamp_of(cfg.target, t.as_str()) {
                                latencies.push((ts, (start.elapsed().as_micros() as u64).saturating_sub(ts)));
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                }
            }
            (subscriber, latencies)
        }));
    }
    let (mut publisher, mut publisher_in) = open(&cfg, e2e::ADA).await.split();
    // Anything the server says to the publisher (a rate-limit `system` error above all).
    let publisher_heard = tokio::spawn(async move {
        let mut system = 0u32;
        while let Some(Ok(msg)) = publisher_in.next().await {
            if let Message::Text(t) = msg {
                if t.as_str().contains("\"system\"") {
                    system += 1;
                }
            }
        }
        system
    });
    ready.wait().await;
    let frames_before = room_frames_out(&cfg).await;
    let total = cfg.rate * cfg.seconds;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / cfg.rate));
    let send_started = Instant::now();
    for seq in 0..total {
        tick.tick().await;
        let ts = start.elapsed().as_micros() as u64;
        let text = match cfg.target {
            Target::Edge | Target::Direct => {
                let payload = json!({"type": "broadcast", "event": "tick", "payload": {"ts": ts, "seq": seq}});
                Frame::new(&cfg.topic, "broadcast", e2e::object(payload))
                    .with_refs(Some("1".into()), None)
                    .encode(Vsn::V2)
            }
            Target::Bare => json!({"ts": ts, "seq": seq}).to_string(),
        };
        publisher.send(Message::text(text)).await.expect("publish");
    }
    let send_secs = send_started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let frames_after = room_frames_out(&cfg).await;
    let _ = stop_tx.send(true);
    let _ = publisher.close().await;
    let publisher_system =
        tokio::time::timeout(Duration::from_secs(2), publisher_heard).await.ok().and_then(Result::ok);
    let mut all = Vec::new();
    let mut trace = Vec::new();
    for t in tasks {
        if let Ok((subscriber, latencies)) = t.await {
            for (sent, latency) in latencies {
                all.push(latency);
                trace.push(format!("{subscriber} {sent} {latency}"));
            }
        }
    }
    all.sort_unstable();
    // FANOUT_TRACE=<file>: one line per delivery (subscriber, send time µs, latency µs),
    // to see whether slow deliveries cluster in time (a stall) or on some subscribers.
    if let Ok(path) = std::env::var("FANOUT_TRACE") {
        if let Err(e) = std::fs::write(&path, trace.join("\n")) {
            eprintln!("FANOUT_TRACE {path}: {e}");
        }
    }
    let expected = total * cfg.subscribers as u64;
    let p99_ms = percentile_ms(&all, 0.99);
    println!(
        "{:<15} subscribers={} rate={}/s sent={} expected={} delivered={} lost={} deliveries/s={:.0} p50={:.1}ms p99={:.1}ms max={:.1}ms system_msgs_to_publisher={} room_frames_per_message={}",
        match target {
            Target::Edge => "edge (relayed)",
            Target::Direct => "edge (direct)",
            Target::Bare => "bare JS room",
        },
        cfg.subscribers,
        cfg.rate,
        total,
        expected,
        all.len(),
        expected.saturating_sub(all.len() as u64),
        all.len() as f64 / send_secs,
        percentile_ms(&all, 0.50),
        p99_ms,
        all.last().map_or(f64::NAN, |m| *m as f64 / 1000.0),
        publisher_system.map_or("?".to_string(), |n| n.to_string()),
        match (frames_before, frames_after) {
            (Some(before), Some(after)) => format!("{:.1}", after.saturating_sub(before) as f64 / total as f64),
            _ => "n/a".to_string(),
        },
    );
    Figures { p99_ms, latencies: all }
}
