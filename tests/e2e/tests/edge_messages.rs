//! Sending messages through the edge (`POST /functions/v1/messages` and `/batch`): the
//! caller's rights decide (RLS), a retry is idempotent, a batch answers per message, and
//! what is stored reaches the thread's subscribers live through the change feed.

use e2e::{post_bytes, post_json, stranger_token, unique_topic, user_token, Client, ADA, BASIL, QUIET};
use realtime_protocol::Vsn;
use serde_json::{json, Value};

/// A subscriber of `thread`'s new messages, joined and ready.
async fn subscriber(token: &str, thread: &str) -> Client {
    let mut c = Client::connect_with_token(token, Vsn::V2).await;
    let binding =
        json!({"event": "INSERT", "schema": "public", "table": "messages", "filter": format!("thread_id=eq.{thread}")});
    c.join(&unique_topic("thread"), json!({"postgres_changes": [binding]})).await;
    // The room registers its bindings with the feed as the join completes; a moment
    // for that to land before the first write.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    c
}

/// An idempotency key no other run has used (keys are unique per sender, for ever).
fn key(label: &str) -> String {
    unique_topic(label)
}

/// The ids of the messages `c` receives until it has been quiet for [`QUIET`].
async fn received_ids(c: &mut Client) -> Vec<String> {
    let mut ids = Vec::new();
    while let Some(e2e::Received::Frame(f)) = c.try_recv(QUIET).await {
        if f.event == "postgres_changes" {
            ids.push(f.payload["data"]["record"]["id"].as_str().unwrap_or_default().to_string());
        }
    }
    ids
}

#[tokio::test]
async fn a_message_sent_over_http_reaches_the_other_participant_live_and_not_a_stranger() {
    let thread = e2e::new_group_thread(ADA, &[BASIL]).await;
    let mut basil = subscriber(&user_token(BASIL), &thread).await;
    let mut stranger = subscriber(&stranger_token("edge-messages-stranger").1, &thread).await;

    let sent = post_json(
        "/functions/v1/messages",
        Some(&user_token(ADA)),
        &json!({"thread_id": thread, "body": "the tomatoes are in", "idempotency_key": key("first")}),
    )
    .await;
    assert_eq!(sent.status, 201, "{:?}", sent.body);
    let m = &sent.body;
    assert_eq!((m["thread_id"].as_str(), m["sender_id"].as_str()), (Some(thread.as_str()), Some(ADA)));
    assert_eq!((m["seq"].as_i64(), m["body"].as_str()), (Some(1), Some("the tomatoes are in")));

    let got = basil.recv_until("the message, live", |f| f.event == "postgres_changes").await;
    assert_eq!(got.payload["data"]["record"]["id"], m["id"]);
    assert_eq!(got.payload["data"]["record"]["body"], "the tomatoes are in");
    stranger.expect_silence("a stranger on the same filter").await;
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_answers_the_original_and_is_delivered_once() {
    let thread = e2e::new_group_thread(ADA, &[BASIL]).await;
    let mut basil = subscriber(&user_token(BASIL), &thread).await;
    let retry_key = key("retry-me");
    let send = json!({"thread_id": thread, "body": "once", "idempotency_key": retry_key});
    let first = post_json("/functions/v1/messages", Some(&user_token(ADA)), &send).await;
    let again = post_json("/functions/v1/messages", Some(&user_token(ADA)), &send).await;
    assert_eq!((first.status, again.status), (201, 200), "{:?} / {:?}", first.body, again.body);
    assert_eq!(first.body, again.body, "the retry answers the original row, unchanged");

    let next = post_json(
        "/functions/v1/messages",
        Some(&user_token(ADA)),
        &json!({"thread_id": thread, "body": "twice", "idempotency_key": key("retry-me-2")}),
    )
    .await;
    assert_eq!(next.body["seq"], 2, "the retry took no sequence number");
    let ids = received_ids(&mut basil).await;
    assert_eq!(ids, vec![first.body["id"].as_str().unwrap_or("?"), next.body["id"].as_str().unwrap_or("?")]);

    let elsewhere = e2e::new_group_thread(ADA, &[BASIL]).await;
    let reused = post_json(
        "/functions/v1/messages",
        Some(&user_token(ADA)),
        &json!({"thread_id": elsewhere, "body": "once", "idempotency_key": retry_key}),
    )
    .await;
    assert_eq!((reused.status, reused.body["error"]["code"].as_str()), (409, Some("conflict")));
}

#[tokio::test]
async fn only_a_participant_signed_in_as_themselves_may_send() {
    let thread = e2e::new_group_thread(ADA, &[BASIL]).await;
    let send = json!({"thread_id": thread, "body": "let me in"});
    let stranger = post_json("/functions/v1/messages", Some(&stranger_token("edge-sender").1), &send).await;
    assert_eq!(stranger.status, 403, "{:?}", stranger.body);
    assert_eq!(stranger.body, json!({"error": {"code": "forbidden", "message": "not allowed"}}));

    let anon = e2e::sign(&json!({"role": "anon", "exp": e2e::now() + 600}));
    let expired =
        e2e::sign(&json!({"sub": ADA, "role": "authenticated", "aud": "authenticated", "exp": e2e::now() - 60}));
    let forged = edge_auth::mint_hs256(
        b"not-the-secret",
        &json!({"sub": ADA, "role": "authenticated", "aud": "authenticated", "exp": e2e::now() + 600}),
    )
    .expect("a token");
    for (who, token) in [
        ("no token", None),
        ("the anon key", Some(anon.as_str())),
        ("the service role, which is nobody", Some(&*e2e::service_token())),
        ("an expired token", Some(expired.as_str())),
        ("a token signed with another secret", Some(forged.as_str())),
        ("not a JWT", Some("hello")),
    ] {
        let r = post_json("/functions/v1/messages", token, &send).await;
        assert_eq!((r.status, r.body["error"]["code"].as_str()), (401, Some("unauthorized")), "{who}: {:?}", r.body);
    }
    let db = e2e::database().await;
    let stored: i64 = db
        .query_one("select count(*) from public.messages where thread_id = $1::text::uuid", &[&thread])
        .await
        .expect("count")
        .get(0);
    assert_eq!(stored, 0, "nothing refused was stored");
}

#[tokio::test]
async fn a_batch_stores_the_good_messages_in_order_and_says_why_the_others_were_refused() {
    let thread = e2e::new_group_thread(ADA, &[BASIL]).await;
    let other_thread = e2e::new_group_thread(ADA, &[BASIL]).await;
    let foreign = post_json(
        "/functions/v1/messages",
        Some(&user_token(ADA)),
        &json!({"thread_id": other_thread, "body": "elsewhere"}),
    )
    .await;
    let mut basil = subscriber(&user_token(BASIL), &thread).await;
    let first_key = key("b1");
    let batch = json!({"thread_id": thread, "messages": [
        {"body": "one", "idempotency_key": first_key},
        {"body": "x".repeat(4001)},
        {"body": "a reply to another thread's message", "reply_to": foreign.body["id"]},
        {"attachments": [{"kind": "image", "url": "https://cdn.example/leaf.jpg", "bytes": 1234, "mime": "image/jpeg", "name": "leaf.jpg"}], "idempotency_key": key("b2")},
        {"body": "one again, under the first message's key", "idempotency_key": first_key},
    ]});
    let r = post_json("/functions/v1/messages/batch", Some(&user_token(ADA)), &batch).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let results = r.body["results"].as_array().cloned().unwrap_or_default();
    let statuses: Vec<i64> = results.iter().map(|r| r["status"].as_i64().unwrap_or(0)).collect();
    assert_eq!(statuses, vec![201, 400, 400, 201, 400]);
    assert!(results[1]["error"]["message"].as_str().is_some_and(|m| m.starts_with("messages[1].body:")));
    assert!(
        results[4]["error"]["message"].as_str().is_some_and(|m| m.starts_with("messages[4].idempotency_key:")),
        "a key repeated within the batch is that message's refusal: {}",
        results[4]
    );
    assert!(results[2]["error"]["message"].as_str().is_some_and(|m| m.contains("reply_to")), "{}", results[2]);
    let seqs: Vec<i64> = [&results[0], &results[3]].iter().map(|r| r["message"]["seq"].as_i64().unwrap_or(0)).collect();
    assert_eq!(seqs, vec![1, 2], "consecutive: a refused message takes no sequence number");
    assert_eq!(results[3]["message"]["attachments"][0]["name"], "leaf.jpg");

    let ids = received_ids(&mut basil).await;
    let stored: Vec<&str> =
        [&results[0], &results[3]].iter().map(|r| r["message"]["id"].as_str().unwrap_or("?")).collect();
    assert_eq!(ids, stored, "the stored messages, once each, in order");

    let again = post_json("/functions/v1/messages/batch", Some(&user_token(ADA)), &batch).await;
    let statuses: Vec<i64> =
        again.body["results"].as_array().into_iter().flatten().map(|r| r["status"].as_i64().unwrap_or(0)).collect();
    assert_eq!(statuses, vec![200, 400, 400, 200, 400], "the retried batch answers the originals");
    assert!(received_ids(&mut basil).await.is_empty(), "and delivers nothing again");
}

#[tokio::test]
async fn malformed_oversized_and_misdirected_requests_are_refused_with_the_field_named() {
    let thread = e2e::new_group_thread(ADA, &[BASIL]).await;
    let ada = user_token(ADA);
    let cases: [(Value, &str); 5] = [
        (json!({"thread_id": thread, "body": "x", "sender_id": BASIL}), "unknown field `sender_id`"),
        (json!({"thread_id": "not-a-uuid", "body": "x"}), "thread_id:"),
        (json!({"body": "x"}), "thread_id"),
        (json!({"thread_id": thread, "body": 5}), "body:"),
        (
            json!({"thread_id": thread, "body": "x", "attachments": [{"kind": "image", "url": "javascript:alert(1)", "bytes": 1}]}),
            "attachments[0].url:",
        ),
    ];
    for (body, field) in cases {
        let r = post_json("/functions/v1/messages", Some(&ada), &body).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert_eq!(r.body["error"]["code"], "invalid_request");
        assert!(r.body["error"]["message"].as_str().is_some_and(|m| m.contains(field)), "{body}: {:?}", r.body);
    }
    for raw in [&b"{"[..], b"", b"[1,2]", b"\xff\xfe"] {
        let r = post_bytes("/functions/v1/messages", Some(&ada), raw.to_vec()).await;
        assert_eq!(r.status, 400, "{raw:?}: {:?}", r.body);
    }
    let huge = post_bytes("/functions/v1/messages", Some(&ada), vec![b' '; 600 * 1024]).await;
    assert_eq!((huge.status, huge.body["error"]["code"].as_str()), (413, Some("payload_too_large")));
    let eleven = json!({"thread_id": thread, "messages": vec![json!({"body": "x"}); 11]});
    let r = post_json("/functions/v1/messages/batch", Some(&ada), &eleven).await;
    assert!(r.status == 400 && r.body["error"]["message"].as_str().is_some_and(|m| m.starts_with("messages:")));
    let (status, body) = e2e::get_json("/functions/v1/messages").await;
    assert_eq!((status, body["error"]["code"].as_str()), (405, Some("method_not_allowed")));
    e2e::assert_still_serving().await;
}

#[tokio::test]
async fn a_sender_over_the_per_user_budget_gets_429_with_retry_after() {
    let thread = e2e::new_group_thread(ADA, &[BASIL]).await;
    // A user of their own, so no other test spends the same budget.
    let (sender, token) = stranger_token("edge-budget");
    let db = e2e::database().await;
    db.execute(
        "insert into auth.users (id, aud, role, email) values ($1::text::uuid, 'authenticated', 'authenticated', $1 || '@e2e.test')
         on conflict (id) do nothing",
        &[&sender],
    )
    .await
    .expect("the sender");
    db.execute(
        "insert into public.conversation_participants (thread_id, user_id) values ($1::text::uuid, $2::text::uuid)",
        &[&thread, &sender],
    )
    .await
    .expect("a participant");
    let ten = json!({"thread_id": thread, "messages": vec![json!({"body": "fast"}); 10]});
    let mut limited = None;
    for _ in 0..20 {
        let r = post_json("/functions/v1/messages/batch", Some(&token), &ten).await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let r = limited.expect("200 messages at once are over a budget of 100 per second");
    assert_eq!(r.body["error"]["code"], "rate_limited");
    assert_eq!(r.retry_after.as_deref(), Some("1"), "Retry-After says when");
}
