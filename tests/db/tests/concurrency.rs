//! Rules the database keeps under concurrency: event capacity, one vote per user (also
//! when one user changes their vote many times at once), and one message per
//! idempotency key without a hole in the thread's numbering.
//! These commit real rows (from many connections at once) and remove them afterwards.

use db_tests::{as_user, connect, ADA, BASIL};
use futures_util::future::join_all;

#[tokio::test]
async fn fifty_parallel_rsvps_for_ten_places_give_ten_going_and_forty_waitlisted() {
    let admin = connect().await;
    let tag = format!("{:x}", std::process::id());
    let users: Vec<String> = (0..50).map(|i| format!("77777777-{tag:0>4.4}-4000-8000-{i:012}")).collect();
    for u in &users {
        admin
            .execute("insert into auth.users (id) values ($1::text::uuid) on conflict do nothing", &[u])
            .await
            .unwrap();
    }
    let host = &users[0];
    let event: String = admin
        .query_one(
            "insert into public.live_events (host_id, title, starts_at, ends_at, capacity)
             values ($1::text::uuid, 'Rush hour', now() + interval '1 day', now() + interval '2 days', 10) returning id::text",
            &[host],
        )
        .await
        .unwrap()
        .get(0);
    let attempts = users.iter().map(|u| {
        let event = event.clone();
        async move {
            let c = as_user(u).await;
            c.execute("insert into public.event_participants (event_id, user_id, status) values ($1::text::uuid, $2::text::uuid, 'going')", &[&event, u])
                .await
        }
    });
    let results = join_all(attempts).await;
    assert!(results.iter().all(Result::is_ok), "every RSVP is accepted: {:?}", results.iter().find(|r| r.is_err()));
    let counts = admin
        .query(
            "select status::text, count(*) from public.event_participants where event_id = $1::text::uuid group by 1 order by 1",
            &[&event],
        )
        .await
        .unwrap();
    let counts: Vec<(String, i64)> = counts.iter().map(|r| (r.get(0), r.get(1))).collect();
    admin.execute("delete from public.live_events where id = $1::text::uuid", &[&event]).await.unwrap();
    admin.execute("delete from auth.users where id = any($1::text[]::uuid[])", &[&users]).await.unwrap();
    assert_eq!(counts, vec![("going".to_string(), 10), ("waitlisted".to_string(), 40)]);
}

#[tokio::test]
async fn fifty_parallel_votes_by_one_user_on_a_single_choice_poll_leave_one_vote() {
    let admin = connect().await;
    let voter = "11111111-1111-4111-8111-111111111111";
    let poll: String = admin
        .query_one(
            "insert into public.community_polls (author_id, question) values ($1::text::uuid, 'Raised beds or rows?') returning id::text",
            &[&voter],
        )
        .await
        .unwrap()
        .get(0);
    let options: Vec<String> = admin
        .query(
            "insert into public.poll_options (poll_id, label, position)
             select $1::text::uuid, l, p from (values ('Raised beds', 0), ('Rows', 1), ('Both', 2)) as v(l, p) returning id::text",
            &[&poll],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let attempts = (0..50).map(|i| {
        let (poll, option) = (poll.clone(), options[i % options.len()].clone());
        async move {
            let c = as_user(voter).await;
            c.execute(
                "insert into public.poll_votes (poll_id, option_id, user_id) values ($1::text::uuid, $2::text::uuid, $3::text::uuid)",
                &[&poll, &option, &voter],
            )
            .await
        }
    });
    let results = join_all(attempts).await;
    let accepted = results.iter().filter(|r| r.is_ok()).count();
    let votes: i64 = admin
        .query_one("select count(*) from public.poll_votes where poll_id = $1::text::uuid", &[&poll])
        .await
        .unwrap()
        .get(0);
    admin.execute("delete from public.community_polls where id = $1::text::uuid", &[&poll]).await.unwrap();
    assert_eq!((accepted, votes), (1, 1));
}

#[tokio::test]
async fn twenty_changed_votes_by_one_user_at_once_all_succeed_and_leave_one_vote() {
    let admin = connect().await;
    let voter = "22222222-2222-4222-8222-222222222222";
    let author = as_user(voter).await;
    let poll: serde_json::Value = author
        .query_one("select public.create_poll('Mulch or not?', array['Mulch', 'Bare', 'Cover crop'])", &[])
        .await
        .unwrap()
        .get(0);
    let id = poll["id"].as_str().unwrap_or_default().to_string();
    let options: Vec<String> =
        poll["options"].as_array().into_iter().flatten().filter_map(|o| o["id"].as_str().map(str::to_string)).collect();
    // A double tap, many times over: each call replaces the vote, none may fail.
    let attempts = (0..20).map(|i| {
        let (id, option) = (id.clone(), options[i % options.len()].clone());
        async move {
            as_user(voter)
                .await
                .query_one("select public.cast_vote($1::text::uuid, array[$2::text::uuid])", &[&id, &option])
                .await
        }
    });
    let results = join_all(attempts).await;
    let votes: i64 = admin
        .query_one("select count(*) from public.poll_votes where poll_id = $1::text::uuid", &[&id])
        .await
        .unwrap()
        .get(0);
    admin.execute("delete from public.community_polls where id = $1::text::uuid", &[&id]).await.unwrap();
    assert!(results.iter().all(Result::is_ok), "{:?}", results.iter().find(|r| r.is_err()));
    assert_eq!(votes, 1);
}

#[tokio::test]
async fn messages_sent_at_once_get_distinct_consecutive_sequence_numbers() {
    let admin = connect().await;
    let thread = "aaaaaaaa-0000-4000-8000-000000000001";
    let before: i64 = admin
        .query_one("select last_seq from public.conversation_threads where id = $1::text::uuid", &[&thread])
        .await
        .unwrap()
        .get(0);
    let sends = (0..20).map(|i| async move {
        let c = as_user("22222222-2222-4222-8222-222222222222").await;
        c.query_one(
            "insert into public.messages (thread_id, sender_id, body, idempotency_key)
             values ($1::text::uuid, '22222222-2222-4222-8222-222222222222', 'burst', $2) returning seq",
            &[&thread, &format!("burst-{}-{i}", std::process::id())],
        )
        .await
        .map(|r| r.get::<_, i64>(0))
    });
    let mut seqs: Vec<i64> = join_all(sends).await.into_iter().map(|r| r.expect("send")).collect();
    seqs.sort_unstable();
    admin
        .execute("delete from public.messages where thread_id = $1::text::uuid and body = 'burst'", &[&thread])
        .await
        .unwrap();
    assert_eq!(seqs, ((before + 1)..=(before + 20)).collect::<Vec<_>>());
}

#[tokio::test]
async fn joining_a_private_group_by_oneself_is_a_pending_membership_whatever_was_asked() {
    let c = as_user("55555555-5555-4555-8555-555555555555").await;
    c.batch_execute("begin").await.unwrap();
    let row = c
        .query_one(
            "insert into public.group_members (group_id, user_id, role, status)
             values ('bbbbbbbb-0000-4000-8000-000000000001', '55555555-5555-4555-8555-555555555555', 'admin', 'active')
             returning role::text, status::text",
            &[],
        )
        .await;
    c.batch_execute("rollback").await.unwrap();
    let row = row.expect("asking to join is allowed");
    assert_eq!((row.get::<_, String>(0), row.get::<_, String>(1)), ("member".to_string(), "pending".to_string()));
}

#[tokio::test]
async fn a_retry_racing_its_original_answers_it_and_leaves_no_hole_in_the_numbering() {
    let admin = connect().await;
    let ada = as_user(ADA).await;
    let made: serde_json::Value = ada
        .query_one("select public.create_group_thread('Retries', array[$1]::text[]::uuid[])", &[&BASIL])
        .await
        .unwrap()
        .get(0);
    let thread = made["id"].as_str().unwrap_or_default().to_string();
    let send = |key: &'static str| {
        format!(
            "select public.send_messages('{thread}'::uuid, '[{{\"body\": \"hi\", \"idempotency_key\": \"{key}\"}}]')"
        )
    };
    // The original is stored and not yet committed when its retry arrives on another
    // connection (a client that timed out and sent again).
    let again = as_user(ADA).await;
    let again_pid: i32 = again.query_one("select pg_backend_pid()", &[]).await.unwrap().get(0);
    ada.batch_execute("begin").await.unwrap();
    let original: serde_json::Value = ada.query_one(send("once").as_str(), &[]).await.unwrap().get(0);
    let retry = tokio::spawn({
        let sql = send("once");
        async move {
            let answer: serde_json::Value = again.query_one(sql.as_str(), &[]).await.unwrap().get(0);
            answer
        }
    });
    // Commit only once the retry is waiting on the original (not after a guessed sleep).
    let waiting = "select cardinality(pg_blocking_pids($1)) > 0";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !admin.query_one(waiting, &[&again_pid]).await.unwrap().get::<_, bool>(0) {
        assert!(std::time::Instant::now() < deadline, "the retry never waited for the original");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    ada.batch_execute("commit").await.unwrap();
    let retried =
        tokio::time::timeout(std::time::Duration::from_secs(10), retry).await.expect("the retry ends").unwrap();
    let next: serde_json::Value = ada.query_one(send("next").as_str(), &[]).await.unwrap().get(0);
    admin.execute("delete from public.conversation_threads where id = $1::text::uuid", &[&thread]).await.unwrap();

    assert_eq!(original[0]["status"], 201, "{original}");
    assert_eq!(retried[0]["status"], 200, "the retry answers the original: {retried}");
    assert_eq!(retried[0]["message"]["id"], original[0]["message"]["id"]);
    let seq = |answer: &serde_json::Value| answer[0]["message"]["seq"].as_i64().unwrap_or(-1);
    assert_eq!(seq(&next), seq(&original) + 1, "the next message follows the original: {next}");
}
