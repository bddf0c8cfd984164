//! workerd restarted during a stream of database changes: sockets drop, Durable Object
//! storage and alarms persist, PostgreSQL keeps the feed's cursor. A client that comes back
//! with its last position gets everything committed while the Worker was down, then the
//! live stream, in order, nothing twice. Run alone by scripts/test.sh (it restarts the
//! Worker through scripts/worker.sh).

use e2e::{unique_topic, Client, ADA, BASIL};
use realtime_protocol::Vsn;
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

const THREAD: &str = "aaaaaaaa-0000-4000-8000-000000000001";

fn binding() -> Value {
    json!({"event": "INSERT", "schema": "public", "table": "messages", "filter": format!("thread_id=eq.{THREAD}")})
}

async fn say(db: &tokio_postgres::Client, tag: &str, range: std::ops::Range<usize>) {
    for i in range {
        db.execute(
            "insert into public.messages (thread_id, sender_id, body) values ($1::text::uuid, $2::text::uuid, $3)",
            &[&THREAD, &BASIL, &format!("{tag}-{i:02}")],
        )
        .await
        .expect("a write");
    }
}

fn restart_worker() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/worker.sh");
    let status = Command::new("bash").arg(script).arg("restart").status().expect("running scripts/worker.sh");
    assert!(status.success(), "scripts/worker.sh restart failed (run with `make test`)");
}

#[tokio::test]
async fn worker_restart_a_returning_client_misses_nothing_and_gets_nothing_twice() {
    let db = e2e::database().await;
    let tag = unique_topic("restart");
    let topic = unique_topic("restart-room");
    let mut client = Client::connect(ADA, Vsn::V2).await;
    client.join(&topic, json!({"postgres_changes": [binding()]})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut got = Vec::new();
    say(&db, &tag, 0..10).await;
    e2e::collect_changes(&mut client, &tag, Duration::from_secs(2), &mut got).await;
    assert_eq!(got.len(), 10, "before the restart: {got:?}");
    let last_seen = got.last().map(|(p, _)| *p).unwrap_or_default();

    // Committed just before, while and just after the Worker goes away.
    say(&db, &tag, 10..15).await;
    let restarting = std::thread::spawn(restart_worker);
    say(&db, &tag, 15..20).await;
    restarting.join().expect("the restart");
    // The old socket went with the old workerd (what it received after `last_seen` is
    // dropped here: the returning client asks for everything after that position).
    client.closed(Duration::from_secs(5)).await;

    let mut back = Client::connect(ADA, Vsn::V2).await;
    back.join(&topic, json!({"postgres_changes": [binding()], "postgres_changes_replay": {"after": last_seen}})).await;
    say(&db, &tag, 20..30).await;
    e2e::collect_changes(&mut back, &tag, Duration::from_secs(3), &mut got).await;

    let bodies: Vec<String> = got.iter().map(|(_, b)| b.clone()).collect();
    let expected: Vec<String> = (0..30).map(|i| format!("{tag}-{i:02}")).collect();
    assert_eq!(bodies, expected, "every write, in order, once");
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "positions strictly increase: {got:?}");
}
