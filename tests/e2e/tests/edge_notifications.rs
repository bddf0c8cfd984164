//! The caller's notifications through the edge: the list (newest first, unread only on
//! request, paged), marking read, the unread count, and that count arriving live on the
//! user's private topic whenever a statement changes it.

use e2e::{call, post_json, Client};
use realtime_protocol::Vsn;
use reqwest::Method;
use serde_json::{json, Value};

async fn get(path: &str, token: &str) -> Value {
    let answer = call(Method::GET, path, Some(token)).await;
    assert_eq!(answer.status, 200, "{path}: {:?}", answer.body);
    answer.body
}

/// The next `unread_count` broadcast on `inbox`.
async fn next_count(inbox: &mut Client) -> Value {
    let frame =
        inbox.recv_until("an unread count", |f| f.event == "broadcast" && f.payload["event"] == "unread_count").await;
    frame.payload["payload"]["unread"].clone()
}

#[tokio::test]
async fn followers_become_notifications_that_are_listed_counted_and_marked_read_live() {
    let u = e2e::new_users("notifications", 4).await;
    let (star, star_token) = &u[0];
    let mut inbox = Client::connect_with_token(star_token, Vsn::V2).await;
    inbox.join(&format!("realtime:user:{star}"), json!({"private": true})).await;

    for (fan, fan_token) in &u[1..] {
        let followed = post_json("/functions/v1/follows", Some(fan_token), &json!({"user_id": star})).await;
        assert_eq!(followed.status, 201, "{fan}: {:?}", followed.body);
    }
    let mut counts = Vec::new();
    for _ in 1..u.len() {
        counts.push(next_count(&mut inbox).await);
    }
    assert_eq!(counts, vec![json!(1), json!(2), json!(3)], "one live count per new notification");
    assert_eq!(get("/functions/v1/notifications/unread-count", star_token).await, json!({"unread": 3}));

    let page = get("/functions/v1/notifications?limit=2", star_token).await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert_eq!((items[0]["kind"].as_str(), items[0]["actor_id"].as_str()), (Some("follow"), Some(u[3].0.as_str())));
    let rest =
        get(&format!("/functions/v1/notifications?limit=2&before={}", page["next"].as_str().unwrap_or("")), star_token)
            .await;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["next"], Value::Null);

    let newest = items[0]["id"].as_str().unwrap_or_default().to_string();
    let one = post_json("/functions/v1/notifications/read", Some(star_token), &json!({"ids": [newest]})).await;
    assert_eq!((one.status, &one.body), (200, &json!({"marked": 1, "unread": 2})));
    assert_eq!(next_count(&mut inbox).await, json!(2));
    let unread = get("/functions/v1/notifications?unread=true", star_token).await;
    assert!(unread["items"].as_array().is_some_and(|i| i.len() == 2 && i.iter().all(|n| n["id"] != newest.as_str())));

    let all = post_json("/functions/v1/notifications/read", Some(star_token), &json!({"all": true})).await;
    assert_eq!((all.status, &all.body), (200, &json!({"marked": 2, "unread": 0})));
    assert_eq!(next_count(&mut inbox).await, json!(0), "one count for the whole statement");
    let again = post_json("/functions/v1/notifications/read", Some(star_token), &json!({"all": true})).await;
    assert_eq!(again.body, json!({"marked": 0, "unread": 0}));
}

#[tokio::test]
async fn nobody_reads_or_marks_another_user_s_notifications() {
    let u = e2e::new_users("notifications-private", 3).await;
    let ((star, star_token), (_, fan_token), (_, snoop_token)) = (&u[0], &u[1], &u[2]);
    assert_eq!(post_json("/functions/v1/follows", Some(fan_token), &json!({"user_id": star})).await.status, 201);
    let theirs = get("/functions/v1/notifications", star_token).await;
    let id = theirs["items"][0]["id"].as_str().expect("the star's notification").to_string();

    assert_eq!(get("/functions/v1/notifications", snoop_token).await["items"], json!([]), "a stranger sees none");
    let marked = post_json("/functions/v1/notifications/read", Some(snoop_token), &json!({"ids": [id]})).await;
    assert_eq!(marked.body, json!({"marked": 0, "unread": 0}), "nor marks them");
    assert_eq!(get("/functions/v1/notifications/unread-count", star_token).await, json!({"unread": 1}));
    // Nor hears the star's count: their private topic refuses the stranger.
    let mut snoop = Client::connect_with_token(snoop_token, Vsn::V2).await;
    let (_, reply) = snoop.join_reply(&format!("realtime:user:{star}"), json!({"private": true})).await;
    assert_eq!(reply["status"], "error", "{reply:?}");

    let anon = e2e::sign(&json!({"role": "anon", "exp": e2e::now() + 600}));
    assert_eq!(call(Method::GET, "/functions/v1/notifications", Some(&anon)).await.status, 401);
    for (query, field) in [("limit=0", "limit"), ("unread=maybe", "unread"), ("before=x", "before"), ("page=2", "page")]
    {
        let refused = call(Method::GET, &format!("/functions/v1/notifications?{query}"), Some(star_token)).await;
        assert_eq!(refused.status, 400, "{query}");
        assert!(
            refused.body["error"]["message"].as_str().is_some_and(|m| m.starts_with(&format!("{field}:"))),
            "{:?}",
            refused.body
        );
    }
    for body in [json!({}), json!({"ids": []}), json!({"ids": ["nope"]}), json!({"all": true, "ids": [id]})] {
        let refused = post_json("/functions/v1/notifications/read", Some(star_token), &body).await;
        assert_eq!(refused.status, 400, "{body}: {:?}", refused.body);
    }
}

#[tokio::test]
async fn a_mention_sent_through_the_edge_notifies_the_participant_live() {
    let u = e2e::new_users("notifications-mention", 2).await;
    let ((writer, writer_token), (reader, reader_token)) = (&u[0], &u[1]);
    let thread = e2e::new_group_thread(writer, &[reader]).await;
    let handle = e2e::database()
        .await
        .query_one("select username from public.profiles where id = $1::text::uuid", &[reader])
        .await
        .expect("the reader's profile")
        .get::<_, String>(0);
    let mut inbox = Client::connect_with_token(reader_token, Vsn::V2).await;
    let binding = json!({"event": "INSERT", "schema": "public", "table": "live_notifications",
                         "filter": format!("recipient_id=eq.{reader}")});
    inbox.join(&format!("realtime:user:{reader}"), json!({"private": true, "postgres_changes": [binding]})).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let body = format!("the tomatoes are in, @{handle}");
    let sent =
        post_json("/functions/v1/messages", Some(writer_token), &json!({"thread_id": thread, "body": body})).await;
    assert_eq!(sent.status, 201, "{:?}", sent.body);
    assert_eq!(sent.body["mentions"], json!([reader]), "stored with the message");
    let got = inbox.recv_until("the mention", |f| f.event == "postgres_changes").await;
    let record = &got.payload["data"]["record"];
    assert_eq!((record["kind"].as_str(), record["actor_id"].as_str()), (Some("mention"), Some(writer.as_str())));
    assert_eq!(record["data"]["message_id"], sent.body["id"]);
}

#[tokio::test]
async fn a_muted_thread_and_the_actor_s_own_messages_notify_nobody() {
    let u = e2e::new_users("notifications-muted", 2).await;
    let ((writer, writer_token), (reader, reader_token)) = (&u[0], &u[1]);
    let thread = e2e::new_group_thread(writer, &[reader]).await;
    let handle_of = |id: String| async move {
        e2e::database()
            .await
            .query_one("select username from public.profiles where id = $1::text::uuid", &[&id])
            .await
            .expect("a profile")
            .get::<_, String>(0)
    };
    let reader_handle = handle_of(reader.clone()).await;
    let mut inbox = Client::connect_with_token(reader_token, Vsn::V2).await;
    let binding = json!({"event": "INSERT", "schema": "public", "table": "live_notifications",
                         "filter": format!("recipient_id=eq.{reader}")});
    inbox.join(&format!("realtime:user:{reader}"), json!({"private": true, "postgres_changes": [binding]})).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let send = |token: &String, body: Value| {
        let body = json!({"thread_id": thread, "body": body["body"], "reply_to": body["reply_to"]});
        let token = token.clone();
        async move { post_json("/functions/v1/messages", Some(&token), &body).await }
    };
    let mine = send(reader_token, json!({"body": format!("note to self, @{reader_handle}")})).await;
    assert_eq!(mine.status, 201, "{:?}", mine.body);
    let muted =
        post_json(&format!("/functions/v1/threads/{thread}/mute"), Some(reader_token), &json!({"muted": true})).await;
    assert_eq!(muted.status, 200, "{:?}", muted.body);
    let mention = send(writer_token, json!({"body": format!("@{reader_handle} look at this")})).await;
    assert_eq!(mention.status, 201, "{:?}", mention.body);
    assert_eq!(mention.body["mentions"], json!([reader]), "the mention is still stored");
    let reply = send(writer_token, json!({"body": "replying", "reply_to": mine.body["id"]})).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    inbox.expect_silence("nothing for one's own mention, nor while the thread is muted").await;

    let unmuted =
        post_json(&format!("/functions/v1/threads/{thread}/mute"), Some(reader_token), &json!({"muted": false})).await;
    assert_eq!(unmuted.status, 200, "{:?}", unmuted.body);
    let again = send(writer_token, json!({"body": format!("@{reader_handle} and now?")})).await;
    assert_eq!(again.status, 201, "{:?}", again.body);
    let got = inbox.recv_until("the mention once unmuted", |f| f.event == "postgres_changes").await;
    let record = &got.payload["data"]["record"];
    assert_eq!(record["kind"], "mention");
    assert_eq!(record["data"]["message_id"], again.body["id"], "the first notification is the unmuted mention's");
}
