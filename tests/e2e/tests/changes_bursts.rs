//! Bursts through the whole path (database, feed, room, socket): a thousand inserts in one
//! transaction, and twenty writers at once. Every change arrives exactly once, in commit
//! order (positions strictly increase, and one writer's rows keep their order). And rooms
//! that join while others leave, under a stream of writes, all keep hearing.

use e2e::{unique_topic, Client, ADA, BASIL};
use realtime_protocol::Vsn;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

const THREAD: &str = "aaaaaaaa-0000-4000-8000-000000000001";

fn binding() -> Value {
    json!({"event": "INSERT", "schema": "public", "table": "messages", "filter": format!("thread_id=eq.{THREAD}")})
}

async fn listener(topic: &str) -> Client {
    let mut c = Client::connect(ADA, Vsn::V2).await;
    c.join(topic, json!({"postgres_changes": [binding()]})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    c
}

#[tokio::test]
async fn a_thousand_inserts_in_one_transaction_arrive_once_each_in_order() {
    let tag = unique_topic("thousand");
    let mut c = listener(&unique_topic("thousand-room")).await;
    let db = e2e::database().await;
    db.execute(
        "insert into public.messages (thread_id, sender_id, body)
         select $1::text::uuid, $2::text::uuid, $3 || '-' || lpad(n::text, 4, '0') from generate_series(1, 1000) n",
        &[&THREAD, &BASIL, &tag],
    )
    .await
    .expect("one transaction of a thousand rows");
    let mut got = Vec::new();
    e2e::collect_changes(&mut c, &tag, Duration::from_secs(3), &mut got).await;
    let expected: Vec<String> = (1..=1000).map(|n| format!("{tag}-{n:04}")).collect();
    assert_eq!(got.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>(), expected);
    assert!(got.windows(2).all(|w| w[1].0 == w[0].0 + 1), "one transaction: consecutive positions");
}

#[tokio::test]
async fn twenty_concurrent_writers_are_delivered_once_each_in_commit_order() {
    let tag = unique_topic("writers");
    let mut c = listener(&unique_topic("writers-room")).await;
    let writers: Vec<_> = (0..20)
        .map(|w| {
            let tag = tag.clone();
            tokio::spawn(async move {
                let db = e2e::database().await;
                for i in 0..10 {
                    db.execute(
                        "insert into public.messages (thread_id, sender_id, body) values ($1::text::uuid, $2::text::uuid, $3)",
                        &[&THREAD, &BASIL, &format!("{tag}-w{w:02}-{i}")],
                    )
                    .await
                    .expect("a write");
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("a writer");
    }
    let mut got = Vec::new();
    e2e::collect_changes(&mut c, &tag, Duration::from_secs(3), &mut got).await;
    assert_eq!(got.len(), 200, "every write once");
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "positions strictly increase");
    let mut by_writer: HashMap<String, Vec<String>> = HashMap::new();
    for (_, body) in &got {
        let writer = body.rsplit_once('-').map(|(w, _)| w.to_string()).unwrap_or_default();
        by_writer.entry(writer).or_default().push(body.clone());
    }
    assert_eq!(by_writer.len(), 20);
    for (writer, bodies) in by_writer {
        let expected: Vec<String> = (0..10).map(|i| format!("{writer}-{i}")).collect();
        assert_eq!(bodies, expected, "one writer's rows in the order it committed them");
    }
}

async fn insert(db: &tokio_postgres::Client, body: &str) {
    db.execute(
        "insert into public.messages (thread_id, sender_id, body) values ($1::text::uuid, $2::text::uuid, $3)",
        &[&THREAD, &BASIL, &body],
    )
    .await
    .expect("a write");
}

/// The feed forgets rooms whose channels left while it polls; a room that registers in
/// the meantime must not be forgotten with them (a poll used to save the room map it had
/// read before its waits, dropping registrations made during them).
#[tokio::test]
async fn rooms_joining_while_others_leave_under_a_stream_of_writes_all_keep_hearing() {
    let tag = unique_topic("churn");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, tag) = (stop.clone(), tag.clone());
        tokio::spawn(async move {
            let db = e2e::database().await;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                insert(&db, &format!("noise-{tag}")).await;
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        })
    };
    // Four churners at once: each keeps every third room it joins and closes the others.
    let churners: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(async move {
                let mut kept: Vec<Client> = Vec::new();
                let mut leaving: Option<Client> = None;
                for round in 0..12 {
                    // The kept sockets outlive the idle timeout only if they say something.
                    for c in kept.iter_mut() {
                        c.push("phoenix", "heartbeat", json!({}), None).await;
                    }
                    let c = listener(&unique_topic("churn-room")).await;
                    if round % 3 == 0 {
                        kept.push(c);
                    } else if let Some(old) = leaving.replace(c) {
                        old.close().await;
                    }
                }
                if let Some(last) = leaving {
                    last.close().await;
                }
                kept
            })
        })
        .collect();
    let mut kept = Vec::new();
    for churner in churners {
        kept.extend(churner.await.expect("a churner"));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.expect("the writer");
    let db = e2e::database().await;
    insert(&db, &format!("{tag}-marker")).await;
    let marker = format!("{tag}-marker");
    let total = kept.len();
    for (i, c) in kept.iter_mut().enumerate() {
        let heard = c
            .try_recv_until(e2e::RECV_TIMEOUT, |f| {
                f.event == "postgres_changes" && f.payload["data"]["record"]["body"] == marker.as_str()
            })
            .await;
        assert!(heard.is_some(), "kept room {i} of {total} heard the change written after the churn");
    }
}
