//! Replay without loss: a channel that rejoins with `postgres_changes_replay.after` set to
//! the last position it saw receives every change it missed, in order, then the live
//! stream, nothing twice; and is told to reload when the feed no longer keeps that far back.

use e2e::{unique_topic, Client, ADA, BASIL};
use realtime_protocol::Vsn;
use serde_json::{json, Value};
use std::time::Duration;

const THREAD: &str = "aaaaaaaa-0000-4000-8000-000000000001";

async fn say(db: &tokio_postgres::Client, body: &str) {
    db.execute(
        "insert into public.messages (thread_id, sender_id, body) values ($1::text::uuid, $2::text::uuid, $3)",
        &[&THREAD, &BASIL, &body],
    )
    .await
    .expect("a message");
}

fn binding() -> Value {
    json!({"event": "INSERT", "schema": "public", "table": "messages", "filter": format!("thread_id=eq.{THREAD}")})
}

/// The bodies (with this test's tag) of the postgres_changes deliveries that arrive within
/// `quiet` of each other, with their positions.
async fn deliveries(c: &mut Client, tag: &str, quiet: Duration) -> Vec<(i64, String)> {
    let mut got = Vec::new();
    e2e::collect_changes(c, tag, quiet, &mut got).await;
    got
}

#[tokio::test]
async fn a_rejoining_channel_gets_what_it_missed_in_order_then_the_live_stream_nothing_twice() {
    let db = e2e::database().await;
    let tag = unique_topic("replay");
    let topic = unique_topic("replay-room");
    let mut first = Client::connect(ADA, Vsn::V2).await;
    first.join(&topic, json!({"postgres_changes": [binding()]})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    say(&db, &format!("{tag}-1")).await;
    let seen = deliveries(&mut first, &tag, Duration::from_secs(2)).await;
    assert_eq!(seen.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>(), vec![format!("{tag}-1")]);
    let last_seen = seen[0].0;
    assert!(last_seen > 0, "deliveries carry their feed position");
    first.close().await;

    // Missed while away.
    say(&db, &format!("{tag}-2")).await;
    say(&db, &format!("{tag}-3")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut again = Client::connect(ADA, Vsn::V2).await;
    again.join(&topic, json!({"postgres_changes": [binding()], "postgres_changes_replay": {"after": last_seen}})).await;
    say(&db, &format!("{tag}-4")).await;
    let caught_up = deliveries(&mut again, &tag, Duration::from_secs(2)).await;
    let bodies: Vec<String> = caught_up.iter().map(|(_, b)| b.clone()).collect();
    assert_eq!(
        bodies,
        vec![format!("{tag}-2"), format!("{tag}-3"), format!("{tag}-4")],
        "missed ones, then live, once"
    );
    assert!(caught_up.windows(2).all(|w| w[0].0 < w[1].0), "in position order: {caught_up:?}");

    // Changes trimmed from the feed cannot be replayed: the channel is told to reload.
    db.execute("select feed.trim(interval '0 seconds')", &[]).await.expect("trim the feed");
    let mut late = Client::connect(ADA, Vsn::V2).await;
    late.join(&topic, json!({"postgres_changes": [binding()], "postgres_changes_replay": {"after": last_seen}})).await;
    let notice = late
        .recv_until("the reload notice", |f| f.event == "system" && f.payload["extension"] == "postgres_changes")
        .await;
    assert_eq!(notice.payload["status"], "error");
    assert!(notice.payload["message"].as_str().unwrap_or_default().starts_with("ReplayUnavailable"), "{notice:?}");
}
