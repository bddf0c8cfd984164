//! Polls through the edge (`/functions/v1/polls…`): asking, voting, changing and taking
//! back a vote, closing, results and voters — allowed and refused — and the live side:
//! tallies on `poll:<id>` paced to a few frames however many votes arrive, the last one
//! equal to the database's; an anonymous poll's votes never delivered row by row; a
//! poll closed by the scheduler's alarm at its closing time, with its room forgotten in
//! between.

use e2e::{call, new_users, post_json, service_token, Answer, Client};
use realtime_protocol::Vsn;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

fn ok(answer: &Answer, status: u16, what: &str) {
    assert_eq!(answer.status, status, "{what}: {:?}", answer.body);
}

fn refused(answer: &Answer, status: u16, what: &str) {
    assert_eq!(answer.status, status, "{what}: {:?}", answer.body);
    assert!(answer.body["error"]["code"].is_string(), "{what}: the one error shape: {:?}", answer.body);
}

async fn ask(token: &str, body: Value) -> Value {
    let made = post_json("/functions/v1/polls", Some(token), &body).await;
    ok(&made, 201, "asking a poll");
    made.body
}

fn option(poll: &Value, i: usize) -> String {
    poll["options"][i]["id"].as_str().unwrap_or_default().to_string()
}

fn id(poll: &Value) -> String {
    poll["id"].as_str().unwrap_or_default().to_string()
}

async fn vote(token: &str, poll: &str, options: &[&str]) -> Answer {
    post_json(&format!("/functions/v1/polls/{poll}/votes"), Some(token), &json!({"option_ids": options})).await
}

/// The counts of a poll answer or tally, in option order.
fn counts(poll: &Value) -> Vec<i64> {
    poll["options"].as_array().into_iter().flatten().filter_map(|o| o["votes"].as_i64()).collect()
}

#[tokio::test]
async fn a_vote_is_cast_changed_and_taken_back_and_the_results_say_so() {
    let u = new_users("polls-vote", 3).await;
    let ((author_id, author), (voter_id, voter), (_, other)) = (&u[0], &u[1], &u[2]);
    let poll = ask(author, json!({"question": "Best tomato?", "options": ["Roma", "Cherry", "Brandywine"]})).await;
    assert_eq!((poll["author_id"].as_str(), poll["status"].as_str()), (Some(author_id.as_str()), Some("open")));
    let p = id(&poll);
    let (roma, cherry) = (option(&poll, 0), option(&poll, 1));

    let first = vote(voter, &p, &[&roma]).await;
    ok(&first, 200, "a vote");
    assert_eq!(counts(&first.body), vec![1, 0, 0]);
    assert_eq!(first.body["my_votes"], json!([roma]));
    let changed = vote(voter, &p, &[&cherry]).await;
    ok(&changed, 200, "a changed vote");
    assert_eq!((counts(&changed.body), changed.body["total_votes"].as_i64()), (vec![0, 1, 0], Some(1)));
    refused(&vote(voter, &p, &[&roma, &cherry]).await, 400, "two options in a single-choice poll");
    refused(&vote(voter, &p, &["00000000-0000-4000-8000-000000000000"]).await, 400, "an option of no poll");
    ok(&vote(other, &p, &[&cherry]).await, 200, "another vote");
    let seen = call(Method::GET, &format!("/functions/v1/polls/{p}"), Some(other)).await;
    assert_eq!(seen.body["options"][1]["percent"], json!(100.0), "{:?}", seen.body);

    let voters =
        call(Method::GET, &format!("/functions/v1/polls/{p}/options/{cherry}/voters?limit=1"), Some(author)).await;
    ok(&voters, 200, "voters of an open poll");
    assert_eq!(voters.body["items"].as_array().map(Vec::len), Some(1));
    assert!(voters.body["next"].is_string(), "two voters, pages of one");

    let retracted = call(Method::DELETE, &format!("/functions/v1/polls/{p}/votes"), Some(voter)).await;
    ok(&retracted, 200, "taking the vote back");
    assert_eq!((retracted.body["my_votes"].clone(), retracted.body["voters"].as_i64()), (json!([]), Some(1)));

    refused(
        &call(Method::POST, &format!("/functions/v1/polls/{p}/close"), Some(voter)).await,
        403,
        "only the author closes",
    );
    let closed = call(Method::POST, &format!("/functions/v1/polls/{p}/close"), Some(author)).await;
    ok(&closed, 200, "the author closes");
    assert_eq!(closed.body["status"], "closed");
    refused(&vote(voter, &p, &[&roma]).await, 409, "a vote after close");
    refused(
        &call(Method::DELETE, &format!("/functions/v1/polls/{p}/votes"), Some(other)).await,
        409,
        "a retraction after close",
    );
    let notified = call(Method::GET, "/functions/v1/notifications", Some(other)).await;
    assert!(
        notified.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|n| n["kind"] == "poll_result" && n["data"]["poll_id"] == p.as_str()),
        "a voter is told the poll closed: {:?}",
        notified.body
    );
    let _ = voter_id;
}

#[tokio::test]
async fn polls_are_refused_when_malformed_and_hidden_where_they_belong_to_others() {
    let u = new_users("polls-refused", 2).await;
    let ((_, author), (_, stranger)) = (&u[0], &u[1]);
    for (body, what) in [
        (json!({"question": "One?", "options": ["only"]}), "one option"),
        (json!({"question": "Many?", "options": (0..11).map(|i| i.to_string()).collect::<Vec<_>>()}), "eleven options"),
        (
            json!({"question": "When?", "options": ["a", "b"], "closes_at": "tomorrow"}),
            "a closing time that is no time",
        ),
        (
            json!({"question": "Past?", "options": ["a", "b"], "closes_at": "2020-01-01T00:00:00Z"}),
            "a closing time past",
        ),
        (json!({"question": "Who?", "options": ["a", "b"], "voters": []}), "an unknown field"),
    ] {
        refused(&post_json("/functions/v1/polls", Some(author), &body).await, 400, what);
    }
    let group = post_json(
        "/functions/v1/groups",
        Some(author),
        &json!({"name": e2e::unique_topic("Poll group"), "privacy": "private"}),
    )
    .await;
    let group = group.body["id"].as_str().unwrap_or_default().to_string();
    let in_group = ask(
        author,
        json!({"question": "Members only?", "options": ["yes", "no"], "group_id": group, "anonymous": true}),
    )
    .await;
    let p = id(&in_group);
    refused(
        &call(Method::GET, &format!("/functions/v1/polls/{p}"), Some(stranger)).await,
        404,
        "a private group's poll",
    );
    refused(&vote(stranger, &p, &[&option(&in_group, 0)]).await, 404, "a vote on it");
    refused(
        &post_json(
            "/functions/v1/polls",
            Some(stranger),
            &json!({"question": "Mine?", "options": ["a", "b"], "group_id": group}),
        )
        .await,
        403,
        "a poll in someone else's group",
    );
    let secret =
        call(Method::GET, &format!("/functions/v1/polls/{p}/options/{}/voters", option(&in_group, 0)), Some(author))
            .await;
    refused(&secret, 403, "the voters of an anonymous poll, even to its author");
}

/// A socket on `poll:<id>` (private) as `token`.
async fn tally_channel(token: &str, poll: &str) -> (Client, String) {
    let mut c = Client::connect_with_token(token, Vsn::V2).await;
    let topic = format!("realtime:poll:{poll}");
    c.join(&topic, json!({"private": true})).await;
    (c, topic)
}

/// Every `poll_tally` until none came for `quiet`.
async fn tallies(c: &mut Client, quiet: Duration) -> Vec<Value> {
    let mut got = Vec::new();
    while let Some(f) = c.try_recv_until(quiet, |f| f.event == "broadcast" && f.payload["event"] == "poll_tally").await
    {
        got.push(f.payload["payload"].clone());
    }
    got
}

#[tokio::test]
async fn a_thousand_votes_from_two_hundred_users_in_a_second_cost_a_few_tally_frames_the_last_one_exact() {
    let users = new_users("polls-flood", 200).await;
    let author = &users[0].1;
    let poll = ask(
        author,
        json!({"question": "Which bed first?", "options": ["north", "south", "east", "west"], "anonymous": true}),
    )
    .await;
    let p = id(&poll);
    let options: Vec<String> = (0..4).map(|i| option(&poll, i)).collect();
    let (mut watcher, topic) = tally_channel(author, &p).await;
    // Nobody, not even the author, sends on the poll's channel: its tally is the server's.
    let forged = json!({"type": "broadcast", "event": "poll_tally", "payload": {"total_votes": 1_000_000}});
    let mut forger = Client::connect_with_token(author, Vsn::V2).await;
    let join_ref = forger.join(&topic, json!({"private": true, "broadcast": {"ack": true}})).await;
    let msg_ref = forger.push(&topic, "broadcast", forged, Some(&join_ref)).await;
    let refused = forger
        .recv_until("the forgery's refusal", |f| {
            f.event == "phx_reply" && f.msg_ref.as_deref() == Some(msg_ref.as_str())
        })
        .await;
    let reason = refused.payload["response"]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("Unauthorized: You do not have permissions to write"), "{:?}", refused.payload);
    // Anonymous votes are never delivered row by row, even to a postgres_changes subscriber.
    let mut rows = Client::connect_with_token(author, Vsn::V2).await;
    rows.join(
        &e2e::unique_topic("votes"),
        json!({"postgres_changes": [{"event": "*", "schema": "public", "table": "poll_votes"}]}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // 25 connections, 8 users each, 5 votes per user: each vote replaces the last, as the
    // app's users change their minds. Written as each user, straight to the database (the
    // path PostgREST takes: one transaction per vote, as the user), so the edge's own
    // throughput is not what is measured. One round trip per vote (ids are UUIDs); the
    // connections are opened before the clock starts.
    let mut connections = Vec::new();
    for _ in 0..25 {
        connections.push(e2e::database().await);
    }
    let started = std::time::Instant::now();
    let writers: Vec<_> = users
        .chunks(8)
        .zip(connections)
        .map(|(chunk, db)| {
            let chunk: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
            let (p, options) = (p.clone(), options.clone());
            tokio::spawn(async move {
                for round in 0..5 {
                    for (i, user) in chunk.iter().enumerate() {
                        let choice = &options[(i + round) % options.len()];
                        let claims = json!({"sub": user, "role": "authenticated"}).to_string();
                        db.batch_execute(&format!(
                            "begin; select set_config('request.jwt.claims', '{claims}', true);
                             set local role authenticated;
                             select public.cast_vote('{p}', array['{choice}']::uuid[]); commit;"
                        ))
                        .await
                        .expect("a vote");
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("a writer");
    }
    let took = started.elapsed();
    let frames = tallies(&mut watcher, Duration::from_secs(3)).await;
    let final_state = call(Method::GET, &format!("/functions/v1/polls/{p}"), Some(author)).await;
    eprintln!("1000 votes in {took:?}; {} tally frames", frames.len());
    let last = frames.last().cloned().unwrap_or(Value::Null);
    assert_eq!(counts(&last), counts(&final_state.body), "the last frame is the final tally");
    assert_eq!(last["total_votes"], 200, "one vote each in the end");
    assert!(frames.len() < 50, "{} frames for 1000 votes", frames.len());
    assert!(!frames.is_empty());
    let leaked = rows.try_recv_until(Duration::from_millis(500), |f| f.event == "postgres_changes").await;
    assert!(leaked.is_none(), "an anonymous vote was delivered: {leaked:?}");
}

#[tokio::test]
async fn a_poll_closes_at_its_time_by_the_scheduler_with_its_room_forgotten_in_between() {
    let u = new_users("polls-alarm", 2).await;
    let ((_, author), (_, voter)) = (&u[0], &u[1]);
    let closes = e2e::time_from_now(3).await;
    let poll = ask(author, json!({"question": "Quick one?", "options": ["yes", "no"], "closes_at": closes})).await;
    let p = id(&poll);
    ok(&vote(voter, &p, &[&option(&poll, 0)]).await, 200, "a vote");
    let (mut watcher, topic) = tally_channel(voter, &p).await;
    let service = service_token();
    for path in [format!("rooms/{topic}/forget?private=true"), "scheduler/forget".to_string()] {
        let url = format!("{}/realtime/v1/api/{path}", e2e::base_url());
        let status = reqwest::Client::new().post(url).header("apikey", &service).send().await.expect("forget").status();
        assert_eq!(status.as_u16(), 204, "{path}");
    }
    let closed = watcher
        .try_recv_until(Duration::from_secs(30), |f| {
            f.event == "broadcast" && f.payload["event"] == "poll_tally" && f.payload["payload"]["status"] == "closed"
        })
        .await
        .expect("the final tally, closed, on the live channel");
    assert_eq!(counts(&closed.payload["payload"]), vec![1, 0]);
    let seen = call(Method::GET, &format!("/functions/v1/polls/{p}"), Some(voter)).await;
    assert_eq!(seen.body["status"], "closed");
    refused(&vote(voter, &p, &[&option(&poll, 1)]).await, 409, "a vote after the closing time");
}
