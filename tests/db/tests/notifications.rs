//! Notifications the database creates itself, so that a write from anywhere produces
//! them: here, a new follower. Each test runs in a transaction it rolls back.

use db_tests::{act_as, connect, ADA, BASIL, CLOVER, DILL, ELM, GROUP};

/// A group thread Ada owns, with `members` and the `muted` members; its id.
async fn group_thread(client: &tokio_postgres::Client, members: &[&str], muted: &[&str]) -> String {
    let thread: String = client
        .query_one(
            "insert into public.conversation_threads (kind, title, created_by) values ('group', 'notes', $1::text::uuid)
             returning id::text",
            &[&ADA],
        )
        .await
        .unwrap()
        .get(0);
    let participants = [(ADA, "owner", false)]
        .into_iter()
        .chain(members.iter().map(|m| (*m, "member", false)))
        .chain(muted.iter().map(|m| (*m, "member", true)));
    for (user, role, is_muted) in participants {
        client
            .execute(
                "insert into public.conversation_participants (thread_id, user_id, role, muted)
                 values ($1::text::uuid, $2::text::uuid, $3, $4)",
                &[&thread, &user, &role, &is_muted],
            )
            .await
            .unwrap();
    }
    thread
}

#[tokio::test]
async fn a_follow_notifies_the_followee_alone_with_the_follower_named() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    act_as(&client, ELM).await;
    client
        .execute("insert into public.follow_relationships (followee_id) values ($1::text::uuid)", &[&DILL])
        .await
        .expect("Elm follows Dill");
    let count = "select count(*) from public.live_notifications
                  where kind = 'follow' and actor_id = $1::text::uuid and recipient_id = $2::text::uuid
                    and data->>'follower_id' = $1 and title like '% followed you'";
    let as_follower: i64 = client.query_one(count, &[&ELM, &DILL]).await.unwrap().get(0);
    assert_eq!(as_follower, 0, "the follower cannot read the followee's notification");
    act_as(&client, DILL).await;
    let as_followee: i64 = client.query_one(count, &[&ELM, &DILL]).await.unwrap().get(0);
    assert_eq!(as_followee, 1, "the followee has exactly one, naming the follower");
    client.batch_execute("rollback").await.unwrap();
}

#[tokio::test]
async fn nobody_can_forge_a_follow_notification_or_call_the_trigger_function() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    act_as(&client, ELM).await;
    let forged = client
        .execute(
            "insert into public.live_notifications (recipient_id, actor_id, kind, title)
             values ($1::text::uuid, $2::text::uuid, 'follow', 'Dill followed you')",
            &[&ELM, &DILL],
        )
        .await;
    assert_eq!(forged.unwrap_err().code().map(|c| c.code()), Some("42501"), "no direct inserts");
    client.batch_execute("rollback; begin").await.unwrap();
    act_as(&client, ELM).await;
    let called = client.execute("select private.notify_new_follower()", &[]).await;
    assert!(called.is_err(), "the trigger function is not callable");
    client.batch_execute("rollback").await.unwrap();
}

#[tokio::test]
async fn replies_and_mentions_notify_participants_once_never_the_sender_nor_the_muted() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    let thread = group_thread(&client, &[BASIL, CLOVER], &[DILL]).await;
    act_as(&client, BASIL).await;
    let first: String = client
        .query_one(
            "insert into public.messages (thread_id, body) values ($1::text::uuid, 'first') returning id::text",
            &[&thread],
        )
        .await
        .unwrap()
        .get(0);
    act_as(&client, ADA).await;
    let row = client
        .query_one(
            "insert into public.messages (thread_id, body, reply_to)
             values ($1::text::uuid, 'Yes! @Clover @dill @elm and me, @ada: look', $2::text::uuid)
             returning id::text, mentions::text[]",
            &[&thread, &first],
        )
        .await
        .expect("Ada replies and mentions");
    let (reply, mentions): (String, Vec<String>) = (row.get(0), row.get(1));
    assert_eq!(mentions, vec![CLOVER.to_string(), DILL.to_string()], "participants only, never the sender");
    client.batch_execute("reset role").await.unwrap();
    let notified = |message: &str| {
        format!(
            "select recipient_id::text, kind::text from public.live_notifications
              where data->>'message_id' = '{message}' order by recipient_id"
        )
    };
    let got: Vec<(String, String)> =
        client.query(&notified(&reply), &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        got,
        vec![(BASIL.to_string(), "message".to_string()), (CLOVER.to_string(), "mention".to_string())],
        "the replied-to author and the mentioned participant; not the muted, not a stranger, not the sender"
    );
    // Clover replies to Ada and mentions her too: one notification, the mention.
    act_as(&client, CLOVER).await;
    let again: String = client
        .query_one(
            "insert into public.messages (thread_id, body, reply_to) values ($1::text::uuid, '@ada thanks', $2::text::uuid)
             returning id::text",
            &[&thread, &reply],
        )
        .await
        .unwrap()
        .get(0);
    client.batch_execute("reset role").await.unwrap();
    let got: Vec<(String, String)> =
        client.query(&notified(&again), &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got, vec![(ADA.to_string(), "mention".to_string())]);
    client.batch_execute("rollback").await.unwrap();
}

#[tokio::test]
async fn an_edit_reads_the_mentions_again_and_notifies_nobody() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    let thread = group_thread(&client, &[BASIL, CLOVER], &[]).await;
    act_as(&client, ADA).await;
    let message: String = client
        .query_one(
            "insert into public.messages (thread_id, body) values ($1::text::uuid, 'hello @basil') returning id::text",
            &[&thread],
        )
        .await
        .unwrap()
        .get(0);
    let mentions = |body: &'static str| {
        let (client, message) = (&client, message.clone());
        async move {
            client
                .query_one(
                    "update public.messages set body = $2 where id = $1::text::uuid returning mentions::text[]",
                    &[&message, &body],
                )
                .await
                .expect("Ada edits her message")
                .get::<_, Vec<String>>(0)
        }
    };
    assert_eq!(mentions("hello @clover").await, vec![CLOVER.to_string()], "the edit's mentions replace the old");
    assert!(mentions("hello everyone").await.is_empty(), "a body without mentions stores none");
    client.batch_execute("reset role").await.unwrap();
    let notified: i64 = client
        .query_one("select count(*) from public.live_notifications where data->>'message_id' = $1", &[&message])
        .await
        .unwrap()
        .get(0);
    assert_eq!(notified, 1, "only the first version's mention notified (Basil); edits notify nobody");
    client.batch_execute("rollback").await.unwrap();
}

#[tokio::test]
async fn a_join_request_notifies_who_may_answer_it_and_nobody_else() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    act_as(&client, ELM).await;
    client
        .execute(
            "insert into public.group_members (group_id, user_id) values ($1::text::uuid, $2::text::uuid)",
            &[&GROUP, &ELM],
        )
        .await
        .expect("Elm asks to join the private group");
    client.batch_execute("reset role").await.unwrap();
    let rows = client
        .query(
            "select recipient_id::text, data->>'user_id', title from public.live_notifications
              where kind = 'group_join_request' and actor_id = $1::text::uuid and data->>'group_id' = $2",
            &[&ELM, &GROUP],
        )
        .await
        .unwrap();
    let mut recipients: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    recipients.sort();
    assert_eq!(
        recipients,
        [ADA, BASIL, CLOVER],
        "the owner, the admin and the moderator, who may answer; not the member, nor Elm"
    );
    assert!(rows.iter().all(|r| r.get::<_, String>(1) == ELM && r.get::<_, String>(2).contains("asks to join")));

    act_as(&client, ELM).await;
    for sql in [
        "delete from public.group_members where group_id = $1::text::uuid and user_id = $2::text::uuid",
        "insert into public.group_members (group_id, user_id) values ($1::text::uuid, $2::text::uuid)",
    ] {
        client.execute(sql, &[&GROUP, &ELM]).await.expect("withdrawing and asking again");
    }
    client.batch_execute("reset role").await.unwrap();
    let again: i64 = client
        .query_one(
            "select count(*) from public.live_notifications
              where kind = 'group_join_request' and actor_id = $1::text::uuid and data->>'group_id' = $2",
            &[&ELM, &GROUP],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(again, 3, "asking again while the first is unread notifies nobody again");
    client.batch_execute("rollback").await.unwrap();
}
