//! The change feed's capture and ordering (migrations 20261126130000, 20261126130100),
//! against the test PostgreSQL: every committed change of a published table is numbered
//! once, in commit order, whoever wrote it, and a transaction that took an earlier id but
//! committed later is never skipped.
//!
//! `feed.read()` is global, so the tests of this file take turns (a lock), and each test
//! checks the positions of its own rows rather than what one read returned.

use db_tests::connect;
use serde_json::Value;
use std::collections::HashMap;
use tokio::sync::Mutex;
use tokio_postgres::Client;

static FEED: Mutex<()> = Mutex::const_new(());

const ADA: &str = "11111111-1111-4111-8111-111111111111";
const BASIL: &str = "22222222-2222-4222-8222-222222222222";
/// Dill follows nobody in the seed, so following and unfollowing Ada leaves the seed as it was.
const DILL: &str = "44444444-4444-4444-8444-444444444444";

/// Inserts a notification for Ada titled `title` in the client's current transaction.
async fn notify(client: &Client, title: &str) {
    client
        .execute(
            "insert into public.live_notifications (recipient_id, kind, title) values ($1::text::uuid, 'system', $2)",
            &[&ADA, &title],
        )
        .await
        .expect("insert a notification");
}

/// Drains the feed: reads until a read returns nothing.
async fn drain(client: &Client) -> Vec<(i64, String, Value)> {
    let mut all = Vec::new();
    loop {
        let rows = client
            .query("select feed_position, op, coalesce(record, old_record) from feed.read(500)", &[])
            .await
            .expect("feed.read");
        if rows.is_empty() {
            return all;
        }
        all.extend(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))));
    }
}

/// The positions given to notifications whose title starts with `prefix`, by title.
async fn positions(client: &Client, prefix: &str) -> HashMap<String, Vec<i64>> {
    let rows = client
        .query(
            "select record ->> 'title', feed_position from feed.changes
              where table_name = 'live_notifications' and op = 'INSERT' and record ->> 'title' like $1 || '%'",
            &[&prefix],
        )
        .await
        .expect("positions");
    let mut by_title: HashMap<String, Vec<i64>> = HashMap::new();
    for r in rows {
        let position: Option<i64> = r.get(1);
        by_title.entry(r.get(0)).or_default().extend(position);
    }
    by_title
}

/// Removes a test's notifications, so the seed stays as the other database tests expect.
async fn forget_notifications(client: &Client, tag: &str) {
    client
        .execute("delete from public.live_notifications where title like $1 || '%'", &[&tag])
        .await
        .expect("clean up");
}

fn unique(label: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{label}-{nanos}")
}

#[tokio::test]
async fn a_transaction_with_the_lower_id_that_commits_second_is_delivered_not_skipped() {
    let _turn = FEED.lock().await;
    let (reader, first, second) = (connect().await, connect().await, connect().await);
    let tag = unique("out-of-order");
    drain(&reader).await;
    first.batch_execute("begin").await.expect("begin");
    notify(&first, &format!("{tag}-A")).await; // the lower id
    second.batch_execute("begin").await.expect("begin");
    notify(&second, &format!("{tag}-B")).await; // a higher id
    second.batch_execute("commit").await.expect("commit B first");

    // A reader taking `id > last` would deliver B now and never A. Here nothing behind the
    // open transaction is readable yet.
    let early = drain(&reader).await;
    assert!(
        early.iter().all(|(_, _, r)| !r["title"].as_str().unwrap_or_default().starts_with(&tag)),
        "nothing of B is readable while A's transaction is open: {early:?}"
    );
    first.batch_execute("commit").await.expect("commit A second");
    let late = drain(&reader).await;
    let mine: Vec<_> =
        late.iter().filter(|(_, _, r)| r["title"].as_str().unwrap_or_default().starts_with(&tag)).collect();
    let titles: Vec<_> = mine.iter().map(|(_, _, r)| r["title"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(titles, vec![format!("{tag}-B"), format!("{tag}-A")], "both, in commit order");
    assert!(mine[0].0 < mine[1].0);

    let ids: Vec<i64> = reader
        .query(
            "select id from feed.changes where table_name = 'live_notifications' and record ->> 'title' in ($1, $2) order by record ->> 'title'",
            &[&format!("{tag}-A"), &format!("{tag}-B")],
        )
        .await
        .expect("capture ids")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(ids[0] < ids[1], "the trap: A took the lower id ({ids:?}) yet committed second");
    assert!(drain(&reader).await.is_empty(), "nothing twice");
    let p = positions(&reader, &tag).await;
    assert!(p.values().all(|v| v.len() == 1), "each change has exactly one position: {p:?}");
    forget_notifications(&reader, &tag).await;
}

#[tokio::test]
async fn a_transaction_that_waited_for_a_row_lock_is_ordered_after_the_holder_even_with_an_older_xid() {
    let _turn = FEED.lock().await;
    let (reader, holder, waiter) = (connect().await, connect().await, connect().await);
    let tag = unique("lock-order");
    notify(&reader, &tag).await; // the contended row, committed
    drain(&reader).await;

    // The waiter gets its xid first (an older xid), then waits for the holder's row lock.
    waiter.batch_execute("begin").await.expect("begin");
    notify(&waiter, &format!("{tag}-waiter-first-write")).await;
    holder.batch_execute("begin").await.expect("begin");
    holder
        .execute("update public.live_notifications set body = 'holder' where title = $1", &[&tag])
        .await
        .expect("holder update");
    let blocked = tokio::spawn(async move {
        waiter
            .execute("update public.live_notifications set body = 'waiter' where title = $1", &[&tag.clone()])
            .await
            .expect("waiter update");
        waiter.batch_execute("commit").await.expect("waiter commit");
        tag
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    holder.batch_execute("commit").await.expect("holder commit");
    let tag = blocked.await.expect("the waiter finishes");

    drain(&reader).await;
    let updates = reader
        .query(
            "select record ->> 'body', feed_position from feed.changes
              where table_name = 'live_notifications' and op = 'UPDATE' and record ->> 'title' = $1
              order by feed_position",
            &[&tag],
        )
        .await
        .expect("updates");
    let bodies: Vec<String> = updates.iter().map(|r| r.get(0)).collect();
    assert_eq!(bodies, ["holder", "waiter"], "changes to one row are numbered in the order they were made");
    forget_notifications(&reader, &tag).await;
}

#[tokio::test]
async fn a_thousand_inserts_in_one_transaction_are_numbered_consecutively_in_order() {
    let _turn = FEED.lock().await;
    let reader = connect().await;
    let tag = unique("bulk");
    reader
        .execute(
            "insert into public.live_notifications (recipient_id, kind, title)
             select $1::text::uuid, 'system', $2 || '-' || lpad(i::text, 4, '0') from generate_series(1, 1000) i",
            &[&ADA, &tag],
        )
        .await
        .expect("bulk insert");
    drain(&reader).await;
    let rows = reader
        .query(
            "select record ->> 'title', feed_position from feed.changes
              where table_name = 'live_notifications' and record ->> 'title' like $1 || '-%' order by feed_position",
            &[&tag],
        )
        .await
        .expect("bulk positions");
    assert_eq!(rows.len(), 1000);
    let positions: Vec<i64> = rows.iter().map(|r| r.get(1)).collect();
    assert!(positions.windows(2).all(|w| w[1] == w[0] + 1), "consecutive positions");
    let titles: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let mut sorted = titles.clone();
    sorted.sort();
    assert_eq!(titles, sorted, "in the order they were inserted");
    forget_notifications(&reader, &tag).await;
}

#[tokio::test]
async fn twenty_concurrent_writers_while_reading_lose_nothing_and_duplicate_nothing() {
    let _turn = FEED.lock().await;
    let tag = unique("burst");
    let reader = connect().await;
    let reading = {
        let tag = tag.clone();
        tokio::spawn(async move {
            let mut seen: Vec<(i64, String)> = Vec::new();
            for _ in 0..400 {
                for (p, _, r) in drain(&reader).await {
                    let title = r["title"].as_str().unwrap_or_default().to_string();
                    if title.starts_with(&tag) {
                        seen.push((p, title));
                    }
                }
                if seen.len() >= 20 * 25 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            seen
        })
    };
    let mut writers = Vec::new();
    for w in 0..20 {
        let tag = tag.clone();
        writers.push(tokio::spawn(async move {
            let client = connect().await;
            for n in 0..25 {
                notify(&client, &format!("{tag}-w{w:02}-n{n:02}")).await;
            }
        }));
    }
    for w in writers {
        w.await.expect("a writer");
    }
    let seen = reading.await.expect("the reader");
    assert_eq!(seen.len(), 500, "every change delivered");
    let unique_titles: std::collections::HashSet<_> = seen.iter().map(|(_, t)| t.clone()).collect();
    assert_eq!(unique_titles.len(), 500, "none twice");
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "delivered in position order");
    for w in 0..20 {
        let mine: Vec<&String> = seen.iter().map(|(_, t)| t).filter(|t| t.contains(&format!("-w{w:02}-"))).collect();
        let mut sorted = mine.clone();
        sorted.sort();
        assert_eq!(mine, sorted, "writer {w}'s commits arrive in its commit order");
    }
    forget_notifications(&connect().await, &tag).await;
}

#[tokio::test]
async fn old_records_carry_the_whole_row_only_where_the_table_has_replica_identity_full() {
    let _turn = FEED.lock().await;
    let client = connect().await;
    let tag = unique("identity");
    notify(&client, &tag).await;
    client
        .execute("update public.live_notifications set body = 'new' where title = $1", &[&tag])
        .await
        .expect("update");
    client
        .execute("insert into public.follow_relationships (follower_id, followee_id) values ($1::text::uuid, $2::text::uuid)", &[&DILL, &ADA])
        .await
        .expect("follow");
    client
        .execute("delete from public.follow_relationships where follower_id = $1::text::uuid and followee_id = $2::text::uuid", &[&DILL, &ADA])
        .await
        .expect("unfollow");
    drain(&client).await;
    let update: Value = client
        .query_one(
            "select old_record from feed.changes where table_name = 'live_notifications' and op = 'UPDATE'
              and record ->> 'title' = $1",
            &[&tag],
        )
        .await
        .expect("the update")
        .get(0);
    assert_eq!(update["title"], tag.as_str(), "live_notifications has REPLICA IDENTITY FULL: {update}");
    let delete: Value = client
        .query_one(
            "select old_record from feed.changes where table_name = 'follow_relationships' and op = 'DELETE'
              order by id desc limit 1",
            &[],
        )
        .await
        .expect("the delete")
        .get(0);
    assert_eq!(
        delete,
        serde_json::json!({"follower_id": DILL, "followee_id": ADA}),
        "follow_relationships keeps the default identity: the primary key only"
    );
    forget_notifications(&client, &tag).await;
}

#[tokio::test]
async fn an_anonymous_poll_s_votes_are_never_captured_and_other_votes_are() {
    let _turn = FEED.lock().await;
    let client = connect().await;
    let mut captured = Vec::new();
    for anonymous in [true, false] {
        // The poll first, as the app does: its votes come in later statements.
        let poll: String = client
            .query_one(
                "insert into public.community_polls (author_id, question, anonymous)
                 values ($1::text::uuid, 'Which tomato?', $2) returning id::text",
                &[&ADA, &anonymous],
            )
            .await
            .expect("a poll")
            .get(0);
        client
            .execute(
                "with o as (insert into public.poll_options (poll_id, label, position)
                            values ($1::text::uuid, 'Roma', 1) returning id, poll_id)
                 insert into public.poll_votes (poll_id, option_id, user_id) select poll_id, id, $2::text::uuid from o",
                &[&poll, &BASIL],
            )
            .await
            .expect("a vote");
        client
            .execute("delete from public.poll_votes where poll_id = $1::text::uuid", &[&poll])
            .await
            .expect("retract");
        let n: i64 = client
            .query_one(
                "select count(*) from feed.changes where table_name = 'poll_votes'
                  and pk ->> 'option_id' in (select id::text from public.poll_options where poll_id = $1::text::uuid)",
                &[&poll],
            )
            .await
            .expect("count")
            .get(0);
        captured.push(n);
        client
            .execute("delete from public.community_polls where id = $1::text::uuid", &[&poll])
            .await
            .expect("clean up");
    }
    assert_eq!(captured, vec![0, 2], "anonymous: nothing; otherwise the vote and its retraction");
}

#[tokio::test]
async fn api_roles_can_neither_read_the_feed_nor_number_it() {
    for role in ["anon", "authenticated"] {
        let mut client = connect().await;
        let tx = client.transaction().await.expect("begin");
        tx.batch_execute(&format!("set local role {role}")).await.expect("role");
        let read = tx.query("select * from feed.read(1)", &[]).await;
        assert_eq!(read.err().and_then(|e| e.code().map(|c| c.code().to_string())).as_deref(), Some("42501"), "{role}");
        drop(tx);
        let tx = client.transaction().await.expect("begin");
        tx.batch_execute(&format!("set local role {role}")).await.expect("role");
        let select = tx.query("select * from feed.changes limit 1", &[]).await;
        assert_eq!(
            select.err().and_then(|e| e.code().map(|c| c.code().to_string())).as_deref(),
            Some("42501"),
            "{role}"
        );
    }
}

/// The feed positions of the broadcasts on `topic`, by event.
async fn broadcast_positions(client: &Client, topic: &str) -> HashMap<String, Vec<i64>> {
    let rows = client
        .query(
            "select record ->> 'event', feed_position from feed.changes
              where schema_name = 'realtime' and table_name = 'messages' and record ->> 'topic' = $1",
            &[&topic],
        )
        .await
        .expect("broadcast positions");
    let mut by_event: HashMap<String, Vec<i64>> = HashMap::new();
    for r in rows {
        let position: Option<i64> = r.get(1);
        by_event.entry(r.get(0)).or_default().extend(position);
    }
    by_event
}

#[tokio::test]
async fn a_broadcast_from_the_database_whose_transaction_commits_after_a_read_is_still_delivered_once() {
    let _turn = FEED.lock().await;
    let (early, reader) = (connect().await, connect().await);
    let topic = unique("poll:tally");
    drain(&reader).await;
    // Sent first (its inserted_at is older), committed after a read and a later broadcast.
    early.batch_execute("begin").await.expect("begin");
    early
        .execute("select realtime.send('{\"n\": 1}', 'early', $1, false)", &[&topic])
        .await
        .expect("send inside the open transaction");
    reader.execute("select realtime.send('{\"n\": 2}', 'late', $1, false)", &[&topic]).await.expect("send");
    drain(&reader).await;
    early.batch_execute("commit").await.expect("commit");
    drain(&reader).await;
    drain(&reader).await;
    let by_event = broadcast_positions(&reader, &topic).await;
    assert_eq!(by_event.get("late").map(Vec::len), Some(1), "numbered once: {by_event:?}");
    assert_eq!(by_event.get("early").map(Vec::len), Some(1), "the late committer too, once: {by_event:?}");
    assert!(by_event["early"][0] > by_event["late"][0], "in commit order: {by_event:?}");
}

#[tokio::test]
async fn an_access_probe_or_a_rolled_back_send_never_reaches_the_feed() {
    let _turn = FEED.lock().await;
    let client = connect().await;
    let topic = unique("user:probe");
    client.batch_execute("begin").await.expect("begin");
    client.execute("select realtime.send('{}', 'undone', $1, true)", &[&topic]).await.expect("send");
    client.batch_execute("rollback").await.expect("rollback");
    client
        .execute(
            "insert into realtime.messages (topic, extension, event, private) values ($1, 'broadcast', 'access_probe', true)",
            &[&topic],
        )
        .await
        .expect("a committed probe row");
    drain(&client).await;
    drain(&client).await;
    assert!(broadcast_positions(&client, &topic).await.is_empty(), "nothing of {topic} on the feed");
}
