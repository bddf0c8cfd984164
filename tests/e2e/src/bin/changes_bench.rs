//! Change-feed benchmark: commit-to-delivery latency of `postgres_changes`. Subscribers
//! spread over topics and users listen for inserts on one thread; a writer commits rows
//! through psql's path (the authenticated role, as PostgREST) at a fixed rate. Prints
//! p50 / p99 / max from commit to delivery and the number lost.
//!
//!   changes_bench <http-base-url> <database-url> [subscribers] [topics] [rate] [seconds]
//!
//! Needs E2E_JWT_SECRET. Bounded: it writes rate x seconds rows and stops.

use futures_util::{SinkExt, StreamExt};
use realtime_protocol::{Frame, Vsn};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::Message;

const THREAD: &str = "aaaaaaaa-0000-4000-8000-000000000001";
/// Users who may read the thread (its participants) and some who may not.
const USERS: [&str; 2] = ["11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"];

fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(base), Some(db_url)) = (args.first().cloned(), args.get(1).cloned()) else {
        eprintln!("usage: changes_bench <http-base-url> <database-url> [subscribers] [topics] [rate] [seconds]");
        std::process::exit(2);
    };
    let num = |i: usize, d: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (subscribers, topics, rate, seconds) = (num(2, 200) as usize, num(3, 10) as usize, num(4, 10), num(5, 5));
    let tag = format!("bench-{}", std::process::id());
    let binding =
        json!({"event": "INSERT", "schema": "public", "table": "messages", "filter": format!("thread_id=eq.{THREAD}")});
    let total = rate * seconds;
    let latencies = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    for i in 0..subscribers {
        let url = format!(
            "{}/realtime/v1/websocket?apikey={}&vsn=2.0.0",
            base.replacen("http", "ws", 1),
            e2e::user_token(USERS[i % USERS.len()])
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("connect");
        let topic = format!("realtime:{tag}-{}", i % topics);
        let join =
            Frame::new(&topic, "phx_join", e2e::object(json!({"config": {"postgres_changes": [binding.clone()]}})))
                .with_refs(Some("1".into()), Some("1".into()));
        ws.send(Message::text(join.encode(Vsn::V2))).await.expect("join");
        let (latencies, tag) = (latencies.clone(), tag.clone());
        readers.push(tokio::spawn(async move {
            let mut got = 0;
            let mut beat = Instant::now();
            while got < total {
                if beat.elapsed() > Duration::from_secs(2) {
                    let _ = ws.send(Message::text(r#"[null,"hb","phoenix","heartbeat",{}]"#)).await;
                    beat = Instant::now();
                }
                let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(Duration::from_secs(15), ws.next()).await
                else {
                    break;
                };
                let Ok(f) = Frame::decode(Vsn::V2, t.as_str()) else { continue };
                let payload = serde_json::Value::Object(f.payload);
                let body = payload["data"]["record"]["body"].as_str().unwrap_or_default();
                if let Some(stamp) = body.strip_prefix(&format!("{tag} ")).and_then(|s| s.parse::<u64>().ok()) {
                    latencies.lock().await.push(now_micros().saturating_sub(stamp));
                    got += 1;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (db, connection) = tokio_postgres::connect(&db_url, tokio_postgres::NoTls).await.expect("postgres");
    tokio::spawn(connection);
    let claims = json!({"sub": USERS[0], "role": "authenticated", "aud": "authenticated"}).to_string();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    for _ in 0..total {
        tick.tick().await;
        // The stamp is taken just before the commit: what is measured is commit to delivery.
        let sql = format!(
            "begin; select set_config('request.jwt.claims', '{claims}', true); set local role authenticated;
             insert into public.messages (thread_id, body) values ('{THREAD}', '{tag} ' || {});
             commit;",
            now_micros()
        );
        db.batch_execute(&sql).await.expect("a write");
    }
    for r in readers {
        let _ = r.await;
    }
    let mut all = latencies.lock().await.clone();
    all.sort_unstable();
    let expected = total * subscribers as u64;
    println!(
        "postgres_changes via psql  subscribers={subscribers} topics={topics} users={} rate={rate}/s sent={total} expected={expected} delivered={} lost={} p50={:.1}ms p99={:.1}ms max={:.1}ms",
        USERS.len(),
        all.len(),
        expected.saturating_sub(all.len() as u64),
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all.last().map_or(f64::NAN, |m| *m as f64 / 1000.0),
    );
}
