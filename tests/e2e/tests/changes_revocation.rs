//! Rights are checked at every delivery, not once at join: a participant removed from a
//! conversation stops receiving its changes with the next change, and a channel whose
//! token expired receives nothing more.

use e2e::{unique_topic, Client, ADA};
use realtime_protocol::Vsn;
use serde_json::{json, Value};
use std::time::Duration;

const DILL: &str = "44444444-4444-4444-8444-444444444444";

fn binding(thread: &str) -> Value {
    json!({"event": "INSERT", "schema": "public", "table": "messages", "filter": format!("thread_id=eq.{thread}")})
}

/// A group conversation of Ada (owner) and Dill, for this test alone.
async fn thread(db: &tokio_postgres::Client, title: &str) -> String {
    let id: String = db
        .query_one(
            "insert into public.conversation_threads (kind, title, created_by) values ('group', $1, $2::text::uuid)
             returning id::text",
            &[&title, &ADA],
        )
        .await
        .expect("a thread")
        .get(0);
    db.execute(
        "insert into public.conversation_participants (thread_id, user_id, role)
         values ($1::text::uuid, $2::text::uuid, 'owner'), ($1::text::uuid, $3::text::uuid, 'member')",
        &[&id, &ADA, &DILL],
    )
    .await
    .expect("its participants");
    id
}

async fn say(db: &tokio_postgres::Client, thread: &str, body: &str) {
    db.execute(
        "insert into public.messages (thread_id, sender_id, body) values ($1::text::uuid, $2::text::uuid, $3)",
        &[&thread, &ADA, &body],
    )
    .await
    .expect("a message");
}

async fn heard(c: &mut Client, body: &str) -> bool {
    let mut got = Vec::new();
    e2e::collect_changes(c, body, Duration::from_millis(1500), &mut got).await;
    got.iter().any(|(_, b)| b == body)
}

#[tokio::test]
async fn a_participant_removed_from_a_conversation_stops_receiving_its_changes_at_the_next_one() {
    let db = e2e::database().await;
    let tag = unique_topic("revoked");
    let thread = thread(&db, &tag).await;
    let topic = unique_topic("revoked-room");
    let mut ada = Client::connect(ADA, Vsn::V2).await;
    ada.join(&topic, json!({"postgres_changes": [binding(&thread)]})).await;
    let mut dill = Client::connect(DILL, Vsn::V2).await;
    dill.join(&topic, json!({"postgres_changes": [binding(&thread)]})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    say(&db, &thread, &format!("{tag} before")).await;
    assert!(heard(&mut dill, &format!("{tag} before")).await, "a participant hears the thread");
    db.execute(
        "delete from public.conversation_participants where thread_id = $1::text::uuid and user_id = $2::text::uuid",
        &[&thread, &DILL],
    )
    .await
    .expect("remove Dill");
    say(&db, &thread, &format!("{tag} after")).await;
    assert!(heard(&mut ada, &format!("{tag} after")).await, "the owner still hears it");
    assert!(!heard(&mut dill, &format!("{tag} after")).await, "removed: nothing more, though still subscribed");
}

#[tokio::test]
async fn a_channel_whose_token_expired_receives_no_more_changes() {
    let db = e2e::database().await;
    let tag = unique_topic("expired");
    let thread = thread(&db, &tag).await;
    let short =
        e2e::sign(&json!({"sub": DILL, "role": "authenticated", "aud": "authenticated", "exp": e2e::now() + 3}));
    let mut dill = Client::connect_with_token(&short, Vsn::V2).await;
    let topic = unique_topic("expired-room");
    dill.join(&topic, json!({"postgres_changes": [binding(&thread)]})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    say(&db, &thread, &format!("{tag} in time")).await;
    assert!(heard(&mut dill, &format!("{tag} in time")).await, "heard while the token is valid");
    tokio::time::sleep(Duration::from_secs(4)).await;
    say(&db, &thread, &format!("{tag} too late")).await;
    assert!(!heard(&mut dill, &format!("{tag} too late")).await, "nothing after the token expired");
}
