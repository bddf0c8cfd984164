//! Change-feed benchmark: commit-to-delivery latency of `postgres_changes`. One group
//! conversation per topic, each with the same 15 participants; every topic has one
//! subscriber per user of 20 (the 15 participants and 5 strangers), each listening for
//! inserts on its topic's thread. A writer commits rows spread over the threads at a fixed
//! rate, either through psql's path (`psql`: the authenticated role, as PostgREST does) or
//! through the edge (`edge`: `POST /functions/v1/messages` with the user's token, requests
//! in flight concurrently; `edge-batch`: ten messages per `POST /functions/v1/messages/batch`).
//! Prints p50 / p99 / max from the writer's stamp to delivery (psql: taken before the
//! transaction is sent; the edge: when the request is sent, so the request's own time is
//! included) and from the commit itself (each delivery's `commit_timestamp`, which the
//! database stamps just before the transaction commits), the number lost, the number leaked to
//! strangers (must be 0), and the SQL round trips the feed and the rooms made (from
//! pg_stat_statements when the database loads it).
//!
//!   changes_bench <http-base-url> <database-url> [subscribers] [topics] [rate] [seconds] [psql|edge|edge-batch]
//!
//! CHANGES_BENCH_SOCKET=direct puts the subscribers on the per-topic socket.
//! CHANGES_BENCH_TRACE=<file> writes every delivery's commit time and latency (µs).
//! CHANGES_BENCH_TOP=1 also prints the statements that took the most time (pg_stat_statements).
//! Needs E2E_JWT_SECRET and a superuser database URL (it creates its users, threads and a
//! writer role). Bounded: it writes rate x seconds rows and stops.

use e2e::{now_micros, percentile_ms};
use futures_util::{SinkExt, StreamExt};
use realtime_protocol::{Frame, Vsn};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const PARTICIPANTS: usize = 15;
const USERS: usize = 20;
/// The writer logs in as a role granted `authenticated`, as PostgREST's authenticator does.
const WRITER: &str = "changes_bench_writer";

fn user(i: usize) -> String {
    format!("b0000000-0000-4000-8000-{i:012}")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(base), Some(db_url)) = (args.first().cloned(), args.get(1).cloned()) else {
        eprintln!(
            "usage: changes_bench <http-base-url> <database-url> [subscribers] [topics] [rate] [seconds] [psql|edge|edge-batch]"
        );
        std::process::exit(2);
    };
    let num = |i: usize, d: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (subscribers, topics, rate, seconds) = (num(2, 200) as usize, num(3, 10) as usize, num(4, 10), num(5, 5));
    let via = args.get(6).map_or("psql", String::as_str).to_string();
    // Writes per request: the batched edge mode sends full batches, as the product spec's
    // client does when it has ten messages queued.
    let per_request = match via.as_str() {
        "psql" | "edge" => 1,
        "edge-batch" => 10,
        other => {
            eprintln!("changes_bench: writes go through `psql`, `edge` or `edge-batch`, not {other:?}");
            std::process::exit(2);
        }
    };
    let via_edge = via != "psql";
    // CHANGES_BENCH_SOCKET=direct: subscribers on the per-topic socket instead of the
    // multiplexed one supabase-js uses.
    let direct = std::env::var("CHANGES_BENCH_SOCKET").is_ok_and(|s| s == "direct");
    let tag = format!("bench-{}", std::process::id());
    let config: tokio_postgres::Config = db_url.parse().expect("a database URL");
    let db = connect(&config).await;
    let threads = setup(&db, &tag, topics).await;
    let total = (rate * seconds) as usize;
    // Change n is request n / per_request, which goes to thread (n / per_request) % topics.
    let topic_of = |n: usize| (n / per_request) % topics;
    let per_topic = |t: usize| (0..total).filter(|n| topic_of(*n) == t).count();
    let latencies = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    // From the commit (the delivery's commit_timestamp, stamped by the database just before
    // the transaction commits; milliseconds, so up to 1 ms is added) to delivery.
    let from_commit = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let leaked = Arc::new(AtomicU64::new(0));
    let mut expected = 0;
    let mut readers = Vec::new();
    for i in 0..subscribers {
        let (topic, who) = (i % topics, (i / topics) % USERS);
        let stranger = who >= PARTICIPANTS;
        let wanted = if stranger { 0 } else { per_topic(topic) };
        expected += wanted;
        let ws_base = base.replacen("http", "ws", 1);
        let token = e2e::user_token(&user(who));
        let url = if direct {
            format!("{ws_base}/realtime/v1/channel/websocket?apikey={token}&vsn=2.0.0&topic=realtime:{tag}-{topic}")
        } else {
            format!("{ws_base}/realtime/v1/websocket?apikey={token}&vsn=2.0.0")
        };
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("connect");
        let binding = json!({"event": "INSERT", "schema": "public", "table": "messages",
                             "filter": format!("thread_id=eq.{}", threads[topic])});
        let join = Frame::new(
            format!("realtime:{tag}-{topic}"),
            "phx_join",
            e2e::object(json!({"config": {"postgres_changes": [binding]}})),
        )
        .with_refs(Some("1".into()), Some("1".into()));
        ws.send(Message::text(join.encode(Vsn::V2))).await.expect("join");
        let (latencies, from_commit, tag, leaked) =
            (latencies.clone(), from_commit.clone(), tag.clone(), leaked.clone());
        // A stranger listens as long as the others might receive, and should hear nothing.
        let deadline = Instant::now() + Duration::from_secs(seconds + 20);
        readers.push(tokio::spawn(async move {
            let mut got = 0;
            let mut beat = Instant::now();
            while (stranger && Instant::now() < deadline) || (!stranger && got < wanted) {
                if beat.elapsed() > Duration::from_secs(2) {
                    let _ = ws.send(Message::text(r#"[null,"hb","phoenix","heartbeat",{}]"#)).await;
                    beat = Instant::now();
                }
                let wait = Duration::from_secs(if stranger { 1 } else { 15 });
                let next = tokio::time::timeout(wait, ws.next()).await;
                if stranger && next.is_err() {
                    continue;
                }
                let Ok(Some(Ok(Message::Text(t)))) = next else { break };
                let Ok(f) = Frame::decode(Vsn::V2, t.as_str()) else { continue };
                let payload = serde_json::Value::Object(f.payload);
                let body = payload["data"]["record"]["body"].as_str().unwrap_or_default();
                let Some(stamp) = body.strip_prefix(&format!("{tag} ")).and_then(|s| s.parse::<u64>().ok()) else {
                    continue;
                };
                if stranger {
                    leaked.fetch_add(1, Ordering::Relaxed);
                } else {
                    let now = now_micros();
                    latencies.lock().await.push(now.saturating_sub(stamp));
                    if let Some(committed) =
                        payload["data"]["commit_timestamp"].as_str().and_then(e2e::commit_timestamp_micros)
                    {
                        from_commit.lock().await.push((committed, now.saturating_sub(committed)));
                    }
                    got += 1;
                }
            }
            // Kept open until every reader is done: a reader that closed as soon as its
            // topic was complete made the Worker handle up to 150 closes while the last
            // changes of the other topics were still on their way (about 200 ms of delay
            // on the run's last second).
            ws
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let writer = connect(config.clone().user(WRITER).password(WRITER)).await;
    let http = reqwest::Client::new();
    let tokens: Vec<String> = (0..PARTICIPANTS).map(|u| e2e::user_token(&user(u))).collect();
    let failed = Arc::new(AtomicU64::new(0));
    let send_times = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut requests = Vec::new();
    let before = statements(&db).await;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 * per_request as u64 / rate));
    let started = Instant::now();
    for n in (0..total).step_by(per_request) {
        tick.tick().await;
        let (sender, thread) = ((n / per_request) % PARTICIPANTS, &threads[topic_of(n)]);
        if via_edge {
            // In flight side by side, as many phones would send: a slow request must not
            // hold back the next tick.
            let stamp = now_micros();
            let request = if per_request == 1 {
                http.post(format!("{base}/functions/v1/messages"))
                    .json(&json!({"thread_id": thread, "body": format!("{tag} {stamp}")}))
            } else {
                let messages: Vec<_> = (0..per_request).map(|_| json!({"body": format!("{tag} {stamp}")})).collect();
                http.post(format!("{base}/functions/v1/messages/batch"))
                    .json(&json!({"thread_id": thread, "messages": messages}))
            };
            let request = request.bearer_auth(&tokens[sender]);
            let (failed, send_times) = (failed.clone(), send_times.clone());
            requests.push(tokio::spawn(async move {
                let sent = Instant::now();
                let outcome = request.send().await;
                if let Ok(mut times) = send_times.lock() {
                    times.push(sent.elapsed().as_micros() as u64);
                }
                let stored = match outcome {
                    Ok(r) if r.status().as_u16() == 201 => Ok(1),
                    Ok(r) if r.status().as_u16() == 200 => {
                        let body: serde_json::Value = r.json().await.unwrap_or_default();
                        let results = body["results"].as_array().cloned().unwrap_or_default();
                        Ok(results.iter().filter(|r| r["status"] == 201).count())
                    }
                    other => Err(format!("{other:?}")),
                };
                if stored != Ok(per_request) && failed.fetch_add(1, Ordering::Relaxed) == 0 {
                    eprintln!("changes_bench: a send failed: {stored:?}");
                }
            }));
            continue;
        }
        let claims = json!({"sub": user(sender), "role": "authenticated", "aud": "authenticated"});
        // The stamp is taken just before the commit: what is measured is commit to delivery.
        let sql = format!(
            "begin; select set_config('request.jwt.claims', '{claims}', true); set local role authenticated;
             insert into public.messages (thread_id, body) values ('{thread}', '{tag} ' || {});
             commit;",
            now_micros()
        );
        writer.batch_execute(&sql).await.expect("a write");
    }
    for r in requests {
        let _ = r.await;
    }
    let sending = started.elapsed();
    let mut sockets = Vec::new();
    for r in readers {
        sockets.extend(r.await);
    }
    drop(sockets);
    let after = statements(&db).await;
    let mut all = latencies.lock().await.clone();
    all.sort_unstable();
    println!(
        "postgres_changes via {}{}  subscribers={subscribers} topics={topics} users={USERS} rate={rate}/s sent={total} expected={expected} delivered={} lost={} leaked={} p50={:.1}ms p99={:.1}ms max={:.1}ms failed_sends={}",
        via,
        if direct { " (direct sockets)" } else { "" },
        all.len(),
        expected.saturating_sub(all.len()),
        leaked.load(Ordering::Relaxed),
        percentile_ms(&all, 0.5),
        percentile_ms(&all, 0.99),
        all.last().map_or(f64::NAN, |m| *m as f64 / 1000.0),
        failed.load(Ordering::Relaxed),
    );
    let stamped = from_commit.lock().await.clone();
    let mut committed: Vec<u64> = stamped.iter().map(|(_, l)| *l).collect();
    committed.sort_unstable();
    println!(
        "  from commit (commit_timestamp) to delivery: p50={:.1}ms p99={:.1}ms max={:.1}ms ({} deliveries)",
        percentile_ms(&committed, 0.5),
        percentile_ms(&committed, 0.99),
        committed.last().map_or(f64::NAN, |m| *m as f64 / 1000.0),
        committed.len(),
    );
    if let Ok(path) = std::env::var("CHANGES_BENCH_TRACE") {
        // One line per delivery: commit (µs since the epoch) and commit-to-delivery (µs).
        let lines: String = stamped.iter().map(|(c, l)| format!("{c} {l}\n")).collect();
        if let Err(e) = std::fs::write(&path, lines) {
            eprintln!("changes_bench: cannot write {path}: {e}");
        }
    }
    // Whether a slow run was slow throughout (saturated) or only for a while (a stall).
    let first = stamped.iter().map(|(c, _)| *c).min().unwrap_or(0);
    let mut by_second: Vec<Vec<u64>> = Vec::new();
    for (c, l) in &stamped {
        let second = ((c - first) / 1_000_000) as usize;
        if by_second.len() <= second {
            by_second.resize(second + 1, Vec::new());
        }
        by_second[second].push(*l);
    }
    let per_second: Vec<String> = by_second
        .iter_mut()
        .map(|l| {
            l.sort_unstable();
            if l.is_empty() {
                // Nothing committed in that second (a batch a second at 10 changes/s).
                return "-".to_string();
            }
            format!("{:.0}/{:.0}", percentile_ms(l, 0.5), percentile_ms(l, 0.99))
        })
        .collect();
    println!("  p50/p99 ms by second of commit: {}", per_second.join(" "));
    if via_edge {
        let mut times = send_times.lock().map(|t| t.clone()).unwrap_or_default();
        times.sort_unstable();
        println!(
            "  sends: {} requests of {per_request} answered in {:.1} s ({:.0} requests/s), request p50={:.1}ms p99={:.1}ms",
            times.len(),
            sending.as_secs_f64(),
            times.len() as f64 / sending.as_secs_f64(),
            percentile_ms(&times, 0.5),
            percentile_ms(&times, 0.99),
        );
    }
    match (before, after) {
        (Some(before), Some(after)) => {
            let calls = |name: &str| after.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0);
            let (reads, checks) = (calls("feed.read"), calls("feed.visible"));
            println!(
                "  sql round trips: feed reads={reads} (one per poll, empty or not), rls checks={checks} for {total} changes into {topics} rooms (one per room per batch holding a change one of its subscribers matched)"
            );
        }
        _ => println!("  sql: round trips not counted (load pg_stat_statements to see them)"),
    }
    if std::env::var_os("CHANGES_BENCH_TOP").is_some() {
        for row in db
            .query(
                "select calls, round(total_exec_time)::int8, left(regexp_replace(query, '\\s+', ' ', 'g'), 110),
                        userid::regrole::text
                   from pg_stat_statements order by total_exec_time desc limit 12",
                &[],
            )
            .await
            .unwrap_or_default()
        {
            let (calls, ms): (i64, i64) = (row.get(0), row.get(1));
            println!("    {calls:>7} calls {ms:>6} ms {} [{}]", row.get::<_, String>(2), row.get::<_, String>(3));
        }
    }
}

async fn connect(config: &tokio_postgres::Config) -> tokio_postgres::Client {
    let (db, connection) = config.connect(tokio_postgres::NoTls).await.expect("postgres");
    tokio::spawn(connection);
    db
}

/// Creates the bench's users, a writer login, and one group thread per topic whose
/// participants are the first 15 users; returns the threads.
async fn setup(db: &tokio_postgres::Client, tag: &str, topics: usize) -> Vec<String> {
    let users: Vec<String> = (0..USERS).map(user).collect();
    db.batch_execute(&format!(
        "do $$ begin
             if not exists (select 1 from pg_roles where rolname = '{WRITER}') then
                 create role {WRITER} login password '{WRITER}';
             end if;
         end $$;
         grant authenticated to {WRITER};"
    ))
    .await
    .expect("the writer role");
    e2e::insert_users(db, &users).await;
    let mut threads = Vec::new();
    for t in 0..topics {
        let thread = e2e::group_thread_on(db, &format!("{tag}-{t}"), &users[0], &users[..PARTICIPANTS]).await;
        threads.push(thread);
    }
    threads
}

/// Calls so far of `feed.read` and `feed.visible`; None if the database does not load
/// pg_stat_statements.
async fn statements(db: &tokio_postgres::Client) -> Option<HashMap<String, i64>> {
    db.execute("create extension if not exists pg_stat_statements", &[]).await.ok()?;
    let row = db
        .query_one(
            "select coalesce(sum(calls) filter (where query like '%feed.read(%'), 0)::bigint,
                    coalesce(sum(calls) filter (where query like '%feed.visible(%'), 0)::bigint
               from pg_stat_statements s
              where s.dbid = (select oid from pg_database where datname = current_database())",
            &[],
        )
        .await
        .ok()?;
    Some(HashMap::from([
        ("feed.read".to_string(), row.get::<_, i64>(0)),
        ("feed.visible".to_string(), row.get::<_, i64>(1)),
    ]))
}
