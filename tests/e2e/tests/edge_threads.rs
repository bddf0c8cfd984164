//! Threads through the edge (`/functions/v1/threads…`, `PATCH`/`DELETE
//! /functions/v1/messages/<id>`): direct and group threads, participants, leaving,
//! muting, history, read marks and unread counts, edits and tombstones — each allowed
//! and refused as the caller's rights say, and the changes delivered live.

use e2e::{call, new_users, post_json, send_json, unique_topic, Answer, Client};
use realtime_protocol::Vsn;
use reqwest::Method;
use serde_json::{json, Value};

async fn get(path: &str, token: &str) -> Answer {
    call(Method::GET, path, Some(token)).await
}

fn ok(answer: &Answer, status: u16, what: &str) {
    assert_eq!(answer.status, status, "{what}: {:?}", answer.body);
}

fn code(answer: &Answer) -> &str {
    answer.body["error"]["code"].as_str().unwrap_or("<no error code>")
}

/// A group thread `owner` creates through the edge with `members`; its id.
async fn group(owner: &str, members: &[&str]) -> String {
    let made =
        post_json("/functions/v1/threads", Some(owner), &json!({"title": "Greenhouse", "participant_ids": members}))
            .await;
    ok(&made, 201, "a group thread");
    made.body["id"].as_str().unwrap_or_default().to_string()
}

async fn send(token: &str, thread: &str, body: &str) -> Value {
    let sent = post_json("/functions/v1/messages", Some(token), &json!({"thread_id": thread, "body": body})).await;
    ok(&sent, 201, "a message");
    sent.body
}

/// A subscriber of every change to `thread`'s messages, joined and ready.
async fn subscriber(token: &str, thread: &str) -> Client {
    let mut c = Client::connect_with_token(token, Vsn::V2).await;
    let binding =
        json!({"event": "*", "schema": "public", "table": "messages", "filter": format!("thread_id=eq.{thread}")});
    c.join(&unique_topic("thread"), json!({"postgres_changes": [binding]})).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    c
}

async fn next_change(c: &mut Client, what: &str) -> Value {
    c.recv_until(what, |f| f.event == "postgres_changes").await.payload["data"].clone()
}

#[tokio::test]
async fn a_direct_thread_is_one_per_pair_and_its_participants_are_fixed() {
    let u = new_users("threads-direct", 3).await;
    let ((ada, ada_token), (basil, basil_token), (_, stranger)) = (&u[0], &u[1], &u[2]);

    let opened = post_json("/functions/v1/threads/direct", Some(ada_token), &json!({"user_id": basil})).await;
    ok(&opened, 200, "opening a direct thread");
    assert_eq!(opened.body["kind"], "direct");
    let thread = opened.body["id"].as_str().unwrap_or_default().to_string();
    let people: Vec<&str> =
        opened.body["participants"].as_array().into_iter().flatten().filter_map(|p| p["user_id"].as_str()).collect();
    assert_eq!(people.len(), 2);
    assert!(people.contains(&ada.as_str()) && people.contains(&basil.as_str()), "{people:?}");

    let back = post_json("/functions/v1/threads/direct", Some(basil_token), &json!({"user_id": ada})).await;
    ok(&back, 200, "the other side opening it");
    assert_eq!(back.body["id"], thread.as_str(), "one direct thread per pair, whoever opens it");

    let me = post_json("/functions/v1/threads/direct", Some(ada_token), &json!({"user_id": ada})).await;
    assert_eq!((me.status, code(&me)), (400, "invalid_request"), "{:?}", me.body);
    let nobody = post_json(
        "/functions/v1/threads/direct",
        Some(ada_token),
        &json!({"user_id": "00000000-0000-4000-8000-00000000dead"}),
    )
    .await;
    assert_eq!(nobody.status, 400, "{:?}", nobody.body);

    let leave =
        call(Method::DELETE, &format!("/functions/v1/threads/{thread}/participants/{basil}"), Some(basil_token)).await;
    assert_eq!((leave.status, code(&leave)), (409, "conflict"), "a direct pair is fixed: {:?}", leave.body);
    let seen = get(&format!("/functions/v1/threads/{thread}"), stranger).await;
    assert_eq!((seen.status, code(&seen)), (404, "not_found"), "a stranger: {:?}", seen.body);
}

#[tokio::test]
async fn a_stranger_can_neither_read_nor_post_nor_manage_a_group_thread() {
    let u = new_users("threads-stranger", 3).await;
    let ((_, owner), (member, _), (stranger_id, stranger)) = (&u[0], &u[1], &u[2]);
    let thread = group(owner, &[member]).await;
    send(owner, &thread, "members only").await;

    for path in [format!("/functions/v1/threads/{thread}"), format!("/functions/v1/threads/{thread}/messages")] {
        let refused = get(&path, stranger).await;
        assert_eq!(refused.status, 404, "{path}: {:?}", refused.body);
    }
    let post = post_json("/functions/v1/messages", Some(stranger), &json!({"thread_id": thread, "body": "hi"})).await;
    assert_eq!(post.status, 403, "{:?}", post.body);
    let join = post_json(
        &format!("/functions/v1/threads/{thread}/participants"),
        Some(stranger),
        &json!({"user_ids": [stranger_id]}),
    )
    .await;
    assert_eq!(join.status, 403, "adding oneself: {:?}", join.body);
    let read = post_json(&format!("/functions/v1/threads/{thread}/read"), Some(stranger), &json!({})).await;
    assert_eq!(read.status, 404, "{:?}", read.body);
    let mute =
        post_json(&format!("/functions/v1/threads/{thread}/mute"), Some(stranger), &json!({"muted": true})).await;
    assert_eq!(mute.status, 404, "{:?}", mute.body);
    let listed = get("/functions/v1/threads", stranger).await;
    ok(&listed, 200, "the stranger's own list");
    assert_eq!(listed.body["items"], json!([]));

    let anon = call(Method::GET, "/functions/v1/threads", None).await;
    assert_eq!(anon.status, 401, "{:?}", anon.body);
    let malformed = get("/functions/v1/threads/not-a-uuid", owner).await;
    assert_eq!(malformed.status, 404, "{:?}", malformed.body);
    let unknown_field =
        post_json("/functions/v1/threads", Some(owner), &json!({"title": "x", "created_by": stranger_id})).await;
    assert_eq!(unknown_field.status, 400, "{:?}", unknown_field.body);
    let ghost = post_json(
        "/functions/v1/threads",
        Some(owner),
        &json!({"participant_ids": ["00000000-0000-4000-8000-00000000dead"]}),
    )
    .await;
    assert_eq!(ghost.status, 400, "{:?}", ghost.body);
    assert!(ghost.body["error"]["message"].as_str().unwrap_or_default().starts_with("participant_ids:"));
}

#[tokio::test]
async fn the_owner_manages_participants_anyone_can_leave_and_a_leaving_owner_hands_over() {
    let u = new_users("threads-participants", 4).await;
    let ((owner_id, owner), (a_id, a), (b_id, b), (c_id, _)) = (&u[0], &u[1], &u[2], &u[3]);
    let thread = group(owner, &[a_id]).await;

    let by_member =
        post_json(&format!("/functions/v1/threads/{thread}/participants"), Some(a), &json!({"user_ids": [b_id]})).await;
    assert_eq!(by_member.status, 403, "only the owner adds: {:?}", by_member.body);
    let added = post_json(
        &format!("/functions/v1/threads/{thread}/participants"),
        Some(owner),
        &json!({"user_ids": [b_id, c_id, a_id]}),
    )
    .await;
    ok(&added, 200, "the owner adding two (and one already in)");
    assert_eq!(added.body["participant_count"], 4);

    let kick = call(Method::DELETE, &format!("/functions/v1/threads/{thread}/participants/{b_id}"), Some(a)).await;
    assert_eq!(kick.status, 403, "a member removing another: {:?}", kick.body);
    let removed =
        call(Method::DELETE, &format!("/functions/v1/threads/{thread}/participants/{c_id}"), Some(owner)).await;
    ok(&removed, 204, "the owner removing one");
    let left = call(Method::DELETE, &format!("/functions/v1/threads/{thread}/participants/{b_id}"), Some(b)).await;
    ok(&left, 204, "leaving");
    let gone = get(&format!("/functions/v1/threads/{thread}"), b).await;
    assert_eq!(gone.status, 404, "who left no longer sees the thread: {:?}", gone.body);

    let owner_leaves =
        call(Method::DELETE, &format!("/functions/v1/threads/{thread}/participants/{owner_id}"), Some(owner)).await;
    ok(&owner_leaves, 204, "the owner leaving");
    let now = get(&format!("/functions/v1/threads/{thread}"), a).await;
    ok(&now, 200, "the remaining member");
    assert_eq!(now.body["owner_id"], a_id.as_str(), "the longest-standing participant owns it now");
    assert_eq!(
        now.body["participants"],
        json!([{"user_id": a_id, "role": "owner", "joined_at": now.body["participants"][0]["joined_at"]}])
    );
}

#[tokio::test]
async fn a_removed_participant_stops_receiving_the_thread_live_at_once() {
    let u = new_users("threads-removed-live", 3).await;
    let ((_, owner), (stays_id, stays), (removed_id, removed)) = (&u[0], &u[1], &u[2]);
    let thread = group(owner, &[stays_id, removed_id]).await;
    let mut staying = subscriber(stays, &thread).await;
    let mut leaving = subscriber(removed, &thread).await;

    send(owner, &thread, "before").await;
    assert_eq!(next_change(&mut staying, "the first message").await["record"]["body"], "before");
    assert_eq!(next_change(&mut leaving, "the first message").await["record"]["body"], "before");

    let out =
        call(Method::DELETE, &format!("/functions/v1/threads/{thread}/participants/{removed_id}"), Some(owner)).await;
    ok(&out, 204, "removing");
    send(owner, &thread, "after").await;
    assert_eq!(next_change(&mut staying, "the second message").await["record"]["body"], "after");
    leaving.expect_silence("a removed participant, on the next message").await;
}

#[tokio::test]
async fn an_edit_and_a_tombstone_arrive_live_and_only_the_right_people_may_make_them() {
    let u = new_users("threads-edit", 3).await;
    let ((_, owner), (member_id, member), (other_id, other)) = (&u[0], &u[1], &u[2]);
    let thread = group(owner, &[member_id, other_id]).await;
    let mut watcher = subscriber(other, &thread).await;
    let m = send(member, &thread, "tomatos").await;
    let id = m["id"].as_str().unwrap_or_default();
    next_change(&mut watcher, "the insert").await;

    let by_other =
        send_json(Method::PATCH, &format!("/functions/v1/messages/{id}"), Some(other), &json!({"body": "x"})).await;
    assert_eq!(by_other.status, 403, "editing someone else's: {:?}", by_other.body);
    let edited =
        send_json(Method::PATCH, &format!("/functions/v1/messages/{id}"), Some(member), &json!({"body": "tomatoes"}))
            .await;
    ok(&edited, 200, "the sender's edit");
    assert_eq!((edited.body["body"].as_str(), edited.body["seq"].as_i64()), (Some("tomatoes"), m["seq"].as_i64()));
    assert!(edited.body["edited_at"].is_string(), "{:?}", edited.body);
    let change = next_change(&mut watcher, "the edit").await;
    assert_eq!((change["type"].as_str(), change["record"]["body"].as_str()), (Some("UPDATE"), Some("tomatoes")));

    let empty = send_json(Method::PATCH, &format!("/functions/v1/messages/{id}"), Some(member), &json!({})).await;
    assert_eq!(empty.status, 400, "{:?}", empty.body);
    let by_member = call(Method::DELETE, &format!("/functions/v1/messages/{id}"), Some(other)).await;
    assert_eq!(by_member.status, 403, "a member deleting another's message: {:?}", by_member.body);
    let by_owner = call(Method::DELETE, &format!("/functions/v1/messages/{id}"), Some(owner)).await;
    ok(&by_owner, 200, "the thread owner deleting it");
    assert_eq!((by_owner.body["body"].as_str(), by_owner.body["seq"].as_i64()), (Some(""), m["seq"].as_i64()));
    assert!(by_owner.body["deleted_at"].is_string(), "{:?}", by_owner.body);
    let change = next_change(&mut watcher, "the tombstone").await;
    assert_eq!((change["record"]["body"].as_str(), change["record"]["id"].as_str()), (Some(""), Some(id)));
    assert!(change["record"]["deleted_at"].is_string(), "{change:?}");

    let again = call(Method::DELETE, &format!("/functions/v1/messages/{id}"), Some(member)).await;
    ok(&again, 200, "deleting a tombstone again answers it");
    let late_edit =
        send_json(Method::PATCH, &format!("/functions/v1/messages/{id}"), Some(member), &json!({"body": "back"})).await;
    assert_eq!(late_edit.status, 409, "{:?}", late_edit.body);
    let missing =
        call(Method::DELETE, "/functions/v1/messages/00000000-0000-4000-8000-00000000dead", Some(owner)).await;
    assert_eq!(missing.status, 404, "{:?}", missing.body);
}

#[tokio::test]
async fn history_pages_by_sequence_and_read_marks_drive_the_unread_counts() {
    let u = new_users("threads-history", 2).await;
    let ((_, owner), (reader_id, reader)) = (&u[0], &u[1]);
    let thread = group(owner, &[reader_id]).await;
    for i in 1..=5 {
        send(owner, &thread, &format!("message {i}")).await;
    }
    let seqs = |a: &Answer| -> Vec<i64> {
        a.body["items"].as_array().into_iter().flatten().filter_map(|m| m["seq"].as_i64()).collect()
    };

    let newest = get(&format!("/functions/v1/threads/{thread}/messages?limit=2"), reader).await;
    ok(&newest, 200, "the newest page");
    assert_eq!((seqs(&newest), newest.body["next"].as_i64()), (vec![5, 4], Some(4)));
    let older = get(&format!("/functions/v1/threads/{thread}/messages?limit=2&before=4"), reader).await;
    assert_eq!((seqs(&older), older.body["next"].as_i64()), (vec![3, 2], Some(2)));
    let last = get(&format!("/functions/v1/threads/{thread}/messages?limit=2&before=2"), reader).await;
    assert_eq!((seqs(&last), last.body["next"].clone()), (vec![1], Value::Null));
    let catch_up = get(&format!("/functions/v1/threads/{thread}/messages?after=3&order=asc"), reader).await;
    assert_eq!(seqs(&catch_up), vec![4, 5]);
    let bad = get(&format!("/functions/v1/threads/{thread}/messages?before=-1"), reader).await;
    assert_eq!(bad.status, 400, "{:?}", bad.body);

    let counts = get("/functions/v1/threads/unread", reader).await;
    ok(&counts, 200, "unread counts");
    assert_eq!(counts.body, json!({"total": 5, "threads": [{"thread_id": thread, "unread": 5}]}));
    let owner_counts = get("/functions/v1/threads/unread", owner).await;
    assert_eq!(owner_counts.body["total"], 0, "one's own messages are not unread");

    let marked = post_json(&format!("/functions/v1/threads/{thread}/read"), Some(reader), &json!({"seq": 3})).await;
    ok(&marked, 200, "reading up to 3");
    assert_eq!((marked.body["last_read_seq"].as_i64(), marked.body["unread"].as_i64()), (Some(3), Some(2)));
    let back = post_json(&format!("/functions/v1/threads/{thread}/read"), Some(reader), &json!({"seq": 1})).await;
    assert_eq!(back.body["last_read_seq"], 3, "a read mark never moves back");
    let listed = get("/functions/v1/threads?unread=true", reader).await;
    assert_eq!(listed.body["items"][0]["unread"], 2, "{:?}", listed.body);
    let all = post_json(&format!("/functions/v1/threads/{thread}/read"), Some(reader), &json!({})).await;
    assert_eq!((all.body["last_read_seq"].as_i64(), all.body["unread"].as_i64()), (Some(5), Some(0)));
    let none = get("/functions/v1/threads?unread=true", reader).await;
    assert_eq!(none.body["items"], json!([]));

    let muted = post_json(&format!("/functions/v1/threads/{thread}/mute"), Some(reader), &json!({"muted": true})).await;
    ok(&muted, 200, "muting");
    let described = get(&format!("/functions/v1/threads/{thread}"), reader).await;
    assert_eq!((described.body["muted"].as_bool(), described.body["unread"].as_i64()), (Some(true), Some(0)));
}

/// A socket of `token`'s user on `thread`'s private channel, joined; its topic and
/// join_ref.
async fn conversation(token: &str, thread: &str) -> (Client, String, String) {
    let mut c = Client::connect_with_token(token, Vsn::V2).await;
    let topic = format!("realtime:conversation:{thread}");
    let join_ref = c.join(&topic, json!({"private": true})).await;
    (c, topic, join_ref)
}

async fn next_typing(c: &mut Client, what: &str) -> Value {
    c.recv_until(what, |f| f.event == "broadcast" && f.payload["event"] == "typing").await.payload["payload"].clone()
}

#[tokio::test]
async fn typing_reaches_the_participants_only_is_never_stored_and_a_removed_participant_is_closed_out() {
    let u = new_users("threads-typing", 4).await;
    let ((owner_id, owner), (_, stays), (removed_id, removed), (_, stranger)) = (&u[0], &u[1], &u[2], &u[3]);
    let stays_id = &u[1].0;
    let thread = group(owner, &[stays_id, removed_id]).await;
    let (mut typist, topic, join_ref) = conversation(owner, &thread).await;
    let (mut staying, _, _) = conversation(stays, &thread).await;
    let (mut leaving, _, _) = conversation(removed, &thread).await;

    let mut snoop = Client::connect_with_token(stranger, Vsn::V2).await;
    let (_, refused) = snoop.join_reply(&topic, json!({"private": true})).await;
    assert_eq!(refused["status"], "error", "a stranger cannot join the thread's channel: {refused:?}");

    let typing = |who: &str| json!({"type": "broadcast", "event": "typing", "payload": {"user_id": who}});
    typist.push(&topic, "broadcast", typing(owner_id), Some(&join_ref)).await;
    assert_eq!(next_typing(&mut staying, "typing, to a participant").await["user_id"], owner_id.as_str());
    assert_eq!(next_typing(&mut leaving, "typing, to another participant").await["user_id"], owner_id.as_str());
    snoop.expect_silence("a refused stranger hears no typing").await;

    let db = e2e::database().await;
    let stored: i64 = db
        .query_one("select count(*) from realtime.messages where topic = $1", &[&format!("conversation:{thread}")])
        .await
        .expect("count")
        .get(0);
    assert_eq!(stored, 0, "typing is never stored");

    let out =
        call(Method::DELETE, &format!("/functions/v1/threads/{thread}/participants/{removed_id}"), Some(owner)).await;
    ok(&out, 204, "removing");
    let system = leaving.recv_until("the removed participant's system message", |f| f.event == "system").await;
    assert_eq!(system.payload["status"], "error", "{:?}", system.payload);
    leaving.recv_until("phx_close", |f| f.event == "phx_close" && f.topic == topic).await;

    typist.push(&topic, "broadcast", typing(owner_id), Some(&join_ref)).await;
    assert_eq!(next_typing(&mut staying, "typing after the removal").await["user_id"], owner_id.as_str());
    leaving.expect_silence("a removed participant hears no more typing").await;
}
