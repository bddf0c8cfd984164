//! Messaging benchmark (issue "Edge functions I"): `senders` users (50) in `threads`
//! group threads (10; five senders each), every sender sending its next request as soon
//! as the last one is answered, for `seconds`, through `POST /functions/v1/messages` (one
//! message a request) or `/messages/batch` (ten). In each thread one more participant,
//! who does not send, listens on the multiplexed socket for the thread's inserts
//! (`postgres_changes`), as another user's phone would. Prints messages stored per
//! second, request p50 / p99, request-to-delivery p50 / p99 / max on the listeners'
//! sockets (the stamp is taken when the request is sent), and what was lost, refused
//! (429: a sender's per-user budget) or failed.
//!
//!   messages_bench <http-base-url> <database-url> [senders] [threads] [seconds] [single|batch]
//!
//! Needs E2E_JWT_SECRET and a superuser database URL (it creates its users and threads).

use e2e::{now_micros, percentile_ms};
use futures_util::{SinkExt, StreamExt};
use realtime_protocol::{Frame, Vsn};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

fn sender(i: usize) -> String {
    format!("c0000000-0000-4000-8000-{i:012}")
}

fn listener(t: usize) -> String {
    format!("c1000000-0000-4000-8000-{t:012}")
}

#[derive(Default)]
struct Tally {
    stored: AtomicU64,
    requests: AtomicU64,
    rate_limited: AtomicU64,
    failed: AtomicU64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(base), Some(db_url)) = (args.first().cloned(), args.get(1).cloned()) else {
        eprintln!("usage: messages_bench <http-base-url> <database-url> [senders] [threads] [seconds] [single|batch]");
        std::process::exit(2);
    };
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (senders, threads, seconds) = (num(2, 50), num(3, 10).max(1), num(4, 5) as u64);
    let per_request = match args.get(5).map_or("single", String::as_str) {
        "single" => 1,
        "batch" => 10,
        other => {
            eprintln!("messages_bench: send `single` or `batch`, not {other:?}");
            std::process::exit(2);
        }
    };
    let tag = format!("msgbench-{}", std::process::id());
    let (db, connection) = tokio_postgres::connect(&db_url, tokio_postgres::NoTls).await.expect("postgres");
    tokio::spawn(connection);
    let thread_ids = setup(&db, &tag, senders, threads).await;

    // Listeners first, joined and registered with the feed before anyone sends.
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let stop_listening = Arc::new(tokio::sync::Notify::new());
    let mut readers = Vec::new();
    for (t, thread) in thread_ids.iter().enumerate() {
        let url = format!(
            "{}/realtime/v1/websocket?apikey={}&vsn=2.0.0",
            base.replacen("http", "ws", 1),
            e2e::user_token(&listener(t))
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("connect");
        let binding = json!({"event": "INSERT", "schema": "public", "table": "messages", "filter": format!("thread_id=eq.{thread}")});
        let join = Frame::new(
            format!("realtime:{tag}-{t}"),
            "phx_join",
            e2e::object(json!({"config": {"postgres_changes": [binding]}})),
        )
        .with_refs(Some("1".into()), Some("1".into()));
        ws.send(Message::text(join.encode(Vsn::V2))).await.expect("join");
        let (latencies, tag, stop) = (latencies.clone(), tag.clone(), stop_listening.clone());
        readers.push(tokio::spawn(async move {
            let mut beat = Instant::now();
            loop {
                if beat.elapsed() > Duration::from_secs(2) {
                    let _ = ws.send(Message::text(r#"[null,"hb","phoenix","heartbeat",{}]"#)).await;
                    beat = Instant::now();
                }
                let next = tokio::select! {
                    _ = stop.notified() => return,
                    next = tokio::time::timeout(Duration::from_secs(1), ws.next()) => next,
                };
                let Ok(Some(Ok(Message::Text(text)))) = next else { continue };
                let Ok(f) = Frame::decode(Vsn::V2, text.as_str()) else { continue };
                let payload = serde_json::Value::Object(f.payload);
                let body = payload["data"]["record"]["body"].as_str().unwrap_or_default();
                if let Some(stamp) = body.strip_prefix(&format!("{tag} ")).and_then(|s| s.parse::<u64>().ok()) {
                    if let Ok(mut all) = latencies.lock() {
                        all.push(now_micros().saturating_sub(stamp));
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let tally = Arc::new(Tally::default());
    let request_times = Arc::new(Mutex::new(Vec::new()));
    let http = reqwest::Client::new();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for s in 0..senders {
        let (http, base, tag, tally, request_times) =
            (http.clone(), base.clone(), tag.clone(), tally.clone(), request_times.clone());
        let (thread, token) = (thread_ids[s % threads].clone(), e2e::user_token(&sender(s)));
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let stamp = now_micros();
                let body = format!("{tag} {stamp}");
                let request = if per_request == 1 {
                    http.post(format!("{base}/functions/v1/messages")).json(&json!({"thread_id": thread, "body": body}))
                } else {
                    let messages: Vec<_> = (0..per_request).map(|_| json!({"body": body})).collect();
                    http.post(format!("{base}/functions/v1/messages/batch"))
                        .json(&json!({"thread_id": thread, "messages": messages}))
                };
                let sent = Instant::now();
                let outcome = request.bearer_auth(&token).send().await;
                if let Ok(mut times) = request_times.lock() {
                    times.push(sent.elapsed().as_micros() as u64);
                }
                tally.requests.fetch_add(1, Ordering::Relaxed);
                match outcome {
                    Ok(r) if r.status().as_u16() == 201 => {
                        tally.stored.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) if r.status().as_u16() == 200 && per_request > 1 => {
                        let answer: serde_json::Value = r.json().await.unwrap_or_default();
                        let results = answer["results"].as_array().cloned().unwrap_or_default();
                        let stored = results.iter().filter(|r| r["status"] == 201).count() as u64;
                        tally.stored.fetch_add(stored, Ordering::Relaxed);
                    }
                    Ok(r) if r.status().as_u16() == 429 => {
                        tally.rate_limited.fetch_add(1, Ordering::Relaxed);
                        let wait =
                            r.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(1);
                        tokio::time::sleep(Duration::from_secs(wait)).await;
                    }
                    other => {
                        if tally.failed.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("messages_bench: a send failed: {other:?}");
                        }
                    }
                }
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let sending = started.elapsed();
    let stored = tally.stored.load(Ordering::Relaxed);
    // Deliveries trail the last answers: wait until every stored message arrived, or
    // nothing more arrives for three seconds.
    let (mut seen, mut quiet_since) = (0, Instant::now());
    while (seen as u64) < stored && quiet_since.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now_seen = latencies.lock().map(|l| l.len()).unwrap_or(0);
        if now_seen != seen {
            (seen, quiet_since) = (now_seen, Instant::now());
        }
    }
    stop_listening.notify_waiters();
    for r in readers {
        let _ = r.await;
    }
    let mut delivered = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    delivered.sort_unstable();
    let mut times = request_times.lock().map(|t| t.clone()).unwrap_or_default();
    times.sort_unstable();
    let requests = tally.requests.load(Ordering::Relaxed);
    println!(
        "messages {}: senders={senders} threads={threads} for {:.1} s: stored={stored} ({:.0} msg/s) in {requests} requests ({:.0} req/s), request p50={:.1}ms p99={:.1}ms; delivery to the other user's socket p50={:.1}ms p99={:.1}ms max={:.1}ms delivered={} lost={} rate_limited={} failed={}",
        if per_request == 1 { "one per request" } else { "in batches of 10" },
        sending.as_secs_f64(),
        stored as f64 / sending.as_secs_f64(),
        requests as f64 / sending.as_secs_f64(),
        percentile_ms(&times, 0.5),
        percentile_ms(&times, 0.99),
        percentile_ms(&delivered, 0.5),
        percentile_ms(&delivered, 0.99),
        delivered.last().map_or(f64::NAN, |m| *m as f64 / 1000.0),
        delivered.len(),
        stored.saturating_sub(delivered.len() as u64),
        tally.rate_limited.load(Ordering::Relaxed),
        tally.failed.load(Ordering::Relaxed),
    );
}

/// The bench's users and one group thread per `threads`: its senders (every
/// `threads`-th sender) and its listener; returns the threads.
async fn setup(db: &tokio_postgres::Client, tag: &str, senders: usize, threads: usize) -> Vec<String> {
    let users: Vec<String> = (0..senders).map(sender).chain((0..threads).map(listener)).collect();
    e2e::insert_users(db, &users).await;
    let mut ids = Vec::new();
    for t in 0..threads {
        let members: Vec<String> =
            (0..senders).filter(|s| s % threads == t).map(sender).chain(std::iter::once(listener(t))).collect();
        let thread = e2e::group_thread_on(db, &format!("{tag}-{t}"), &listener(t), &members).await;
        ids.push(thread);
    }
    ids
}
