//! `postgres_changes` end to end: a write made straight in the database (as PostgREST
//! does it: the authenticated role with the user's claims) reaches the subscribers whose
//! bindings match and whose policies allow the row, and nobody else.

use e2e::{stranger_token, unique_topic, Client, ADA};
use realtime_protocol::Vsn;
use serde_json::{json, Value};
use std::time::Duration;

const THREAD: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const DILL: &str = "44444444-4444-4444-8444-444444444444";

/// Runs `sql` as `user` the way PostgREST does: the authenticated role and the user's claims.
async fn as_user(user: &str, sql: &str) {
    let mut db = e2e::database().await;
    let tx = db.transaction().await.expect("begin");
    let claims = json!({"sub": user, "role": "authenticated", "aud": "authenticated"}).to_string();
    tx.execute("select set_config('request.jwt.claims', $1, true)", &[&claims]).await.expect("claims");
    tx.batch_execute("set local role authenticated").await.expect("role");
    tx.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    tx.commit().await.expect("commit");
}

/// The next `postgres_changes` delivery whose data satisfies `pred` (tests run side by
/// side and write to the same thread).
async fn change(c: &mut Client, what: &str, pred: impl Fn(&Value) -> bool) -> serde_json::Map<String, Value> {
    c.recv_until(what, |f| f.event == "postgres_changes" && pred(&f.payload["data"])).await.payload
}

#[tokio::test]
async fn an_insert_reaches_the_thread_s_participant_with_a_matching_binding_and_not_a_stranger() {
    let topic = unique_topic("thread-changes");
    let binding =
        json!({"event": "INSERT", "schema": "public", "table": "messages", "filter": format!("thread_id=eq.{THREAD}")});
    let mut ada = Client::connect(ADA, Vsn::V2).await;
    let (_, reply) = ada.join_reply(&topic, json!({"postgres_changes": [binding.clone()]})).await;
    let mut echoed = binding.clone();
    echoed["id"] = json!(1);
    assert_eq!(reply["response"]["postgres_changes"], json!([echoed]), "echoed verbatim with its id");
    let mut stranger = Client::connect_with_token(&stranger_token("changes-stranger").1, Vsn::V1).await;
    stranger.join(&topic, json!({"postgres_changes": [binding]})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let body = format!("live {}", unique_topic("body"));
    as_user(ADA, &format!("insert into public.messages (thread_id, body) values ('{THREAD}', '{body}')")).await;
    let got = change(&mut ada, "the insert", |d| d["record"]["body"] == body.as_str()).await;
    assert_eq!(got["ids"], json!([1]));
    let data = &got["data"];
    assert_eq!(
        (data["schema"].as_str(), data["table"].as_str(), data["type"].as_str()),
        (Some("public"), Some("messages"), Some("INSERT"))
    );
    assert_eq!(data["record"]["body"], body.as_str());
    assert_eq!(data["errors"], Value::Null);
    assert!(data["columns"].as_array().is_some_and(|c| c.iter().any(|c| c["name"] == "body" && c["type"] == "text")));
    let ts = data["commit_timestamp"].as_str().unwrap_or_default();
    assert!(ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "commit_timestamp {ts:?}");
    stranger.expect_silence("a stranger's policies do not allow the thread's messages").await;
}

#[tokio::test]
async fn updates_carry_the_old_row_and_deletes_only_the_key() {
    let topic = unique_topic("update-delete");
    let mut ada = Client::connect(ADA, Vsn::V2).await;
    ada.join(
        &topic,
        json!({"postgres_changes": [
            {"event": "UPDATE", "schema": "public", "table": "messages", "filter": format!("thread_id=eq.{THREAD}")},
            {"event": "*", "schema": "public", "table": "follow_relationships"}
        ]}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = format!("draft {}", unique_topic("body"));
    as_user(ADA, &format!("insert into public.messages (thread_id, body) values ('{THREAD}', '{body}')")).await;
    as_user(ADA, &format!("update public.messages set body = 'final' where body = '{body}'")).await;
    let update =
        change(&mut ada, "the update", |d| d["type"] == "UPDATE" && d["old_record"]["body"] == body.as_str()).await;
    assert_eq!(update["ids"], json!([1]));
    assert_eq!(update["data"]["record"]["body"], "final");
    assert_eq!(update["data"]["old_record"]["body"], body.as_str(), "messages have REPLICA IDENTITY FULL");

    as_user(DILL, &format!("insert into public.follow_relationships (followee_id) values ('{ADA}')")).await;
    let follow =
        change(&mut ada, "the follow", |d| d["table"] == "follow_relationships" && d["type"] == "INSERT").await;
    assert_eq!((follow["ids"].clone(), follow["data"]["type"].clone()), (json!([2]), json!("INSERT")));
    as_user(DILL, &format!("delete from public.follow_relationships where followee_id = '{ADA}'")).await;
    let unfollow =
        change(&mut ada, "the unfollow", |d| d["table"] == "follow_relationships" && d["type"] == "DELETE").await;
    assert_eq!(unfollow["data"]["type"], "DELETE");
    assert_eq!(unfollow["data"]["old_record"], json!({"follower_id": DILL, "followee_id": ADA}), "the key only");
    assert_eq!(unfollow["data"]["record"], json!({}));
}

#[tokio::test]
async fn a_bad_filter_or_an_unknown_table_gets_a_system_error_and_the_channel_keeps_working() {
    let topic = unique_topic("bad-bindings");
    let mut ada = Client::connect(ADA, Vsn::V2).await;
    let bindings = json!([
        {"event": "*", "schema": "public", "table": "messages", "filter": "thread_id=like.x%"},
        {"event": "*", "schema": "public", "table": "no_such_table"},
        {"event": "*", "schema": "public", "table": "messages", "filter": "no_such_column=eq.1"},
    ]);
    let (join_ref, reply) =
        ada.join_reply(&topic, json!({"postgres_changes": bindings, "broadcast": {"self": true}})).await;
    assert_eq!(reply["status"], "ok");
    assert_eq!(reply["response"]["postgres_changes"].as_array().map(Vec::len), Some(3), "all echoed");
    let mut messages = Vec::new();
    for _ in 0..3 {
        let system = ada.recv_until("a system error", |f| f.event == "system").await;
        assert_eq!(
            (system.payload["extension"].as_str(), system.payload["status"].as_str()),
            (Some("postgres_changes"), Some("error"))
        );
        messages.push(system.payload["message"].as_str().unwrap_or_default().to_string());
    }
    assert!(messages[0].starts_with("Error parsing `filter` params"), "{messages:?}");
    assert!(
        messages[1..].iter().all(|m| m.starts_with("Unable to subscribe to changes with given parameters")),
        "{messages:?}"
    );
    ada.push(&topic, "broadcast", json!({"type": "broadcast", "event": "still", "payload": {}}), Some(&join_ref)).await;
    ada.recv_until("a broadcast on the same channel", |f| f.event == "broadcast").await;
}

#[tokio::test]
async fn a_deleted_row_shows_its_key_only_and_a_filter_on_its_other_columns_tells_nobody() {
    let topic = unique_topic("deletes");
    let body = format!("secret-{}", unique_topic("body"));
    as_user(ADA, &format!("insert into public.messages (thread_id, body) values ('{THREAD}', '{body}')")).await;
    let db = e2e::database().await;
    let id: String = db
        .query_one("select id::text from public.messages where body = $1", &[&body])
        .await
        .expect("the message")
        .get(0);
    // A stranger probing with filters on columns other than the key: whether a deleted
    // row had that body, or was in that thread, is more than its key.
    let mut prober = Client::connect_with_token(&stranger_token("delete-prober").1, Vsn::V2).await;
    prober
        .join(
            &topic,
            json!({"postgres_changes": [
                {"event": "DELETE", "schema": "public", "table": "messages", "filter": format!("body=eq.{body}")},
                {"event": "DELETE", "schema": "public", "table": "messages", "filter": format!("thread_id=eq.{THREAD}")},
            ]}),
        )
        .await;
    let mut ada = Client::connect(ADA, Vsn::V2).await;
    let by_key = json!({"event": "DELETE", "schema": "public", "table": "messages", "filter": format!("id=eq.{id}")});
    ada.join(&topic, json!({"postgres_changes": [by_key]})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A hard delete, as the backend makes it (users delete by tombstone).
    db.execute("delete from public.messages where id = $1::text::uuid", &[&id]).await.expect("delete");
    let gone = change(&mut ada, "the delete", |d| d["type"] == "DELETE" && d["old_record"]["id"] == id.as_str()).await;
    assert_eq!(gone["data"]["old_record"], json!({"id": id}), "the key only, though messages keep the whole old row");
    assert_eq!(gone["data"]["record"], json!({}));
    prober.expect_silence("a filter on a deleted row's other columns never passes").await;
}

#[tokio::test]
async fn who_left_a_private_group_reaches_its_members_and_no_stranger() {
    let topic = unique_topic("group-leaves");
    let db = e2e::database().await;
    let name = unique_topic("greenhouse");
    let group: String = db
        .query_one(
            "insert into public.social_groups (name, owner_id, privacy) values ($1, $2::text::uuid, 'private')
             returning id::text",
            &[&name, &ADA],
        )
        .await
        .expect("a private group of Ada's")
        .get(0);
    db.execute(
        "insert into public.group_members (group_id, user_id) values ($1::text::uuid, $2::text::uuid)",
        &[&group, &e2e::BASIL],
    )
    .await
    .expect("Basil joins");
    // Both listen to every DELETE on group_members: a stranger's binding is as good as
    // the owner's, so only the policies can tell them apart.
    let leaves = json!({"postgres_changes": [{"event": "DELETE", "schema": "public", "table": "group_members"}]});
    let mut stranger = Client::connect_with_token(&stranger_token("group-leaves").1, Vsn::V2).await;
    stranger.join(&topic, leaves.clone()).await;
    let mut ada = Client::connect(ADA, Vsn::V2).await;
    let mut watching = leaves.clone();
    if let Some(bindings) = watching["postgres_changes"].as_array_mut() {
        // The group itself, known by its one id: its deletion is delivered key only to
        // every matching binding (its policy would look the deleted row up and show it to
        // nobody).
        bindings.push(json!({"event": "DELETE", "schema": "public", "table": "social_groups",
                             "filter": format!("id=eq.{group}")}));
    }
    ada.join(&topic, watching).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    db.execute(
        "delete from public.group_members where group_id = $1::text::uuid and user_id = $2::text::uuid",
        &[&group, &e2e::BASIL],
    )
    .await
    .expect("Basil leaves");
    let left = change(&mut ada, "Basil's leaving", |d| d["old_record"]["group_id"] == group.as_str()).await;
    assert_eq!(left["data"]["old_record"], json!({"group_id": group, "user_id": e2e::BASIL}), "the key only");
    stranger.expect_silence("a stranger learns nothing of who left a private group").await;
    db.execute("delete from public.social_groups where id = $1::text::uuid", &[&group])
        .await
        .expect("delete the group");
    let deleted = change(&mut ada, "the group's deletion", |d| d["table"] == "social_groups").await;
    assert_eq!(deleted["data"]["old_record"], json!({"id": group}));
    stranger.expect_silence("nor of the members a deleted group took with it").await;
}
