//! Live events through the edge (`/functions/v1/events…`): hosting and editing, RSVPs
//! with capacity and a waitlist that promotes (and notifies) when a place frees up,
//! check-in, start, end and cancel — allowed and refused — and the live side: counts on
//! `event:<id>` that end equal to the database's after a hundred RSVPs at once, a
//! reminder before the start and an unstarted event ended at its end, both by the
//! scheduler's alarm with the room forgotten in between.

use e2e::{call, new_users, post_json, send_json, service_token, Answer, Client};
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

/// An event `host` creates, starting in `starts_in` seconds and ending `lasts` later.
async fn host_event(host: &str, starts_in: i64, lasts: i64, extra: Value) -> Value {
    let mut body = json!({
        "title": "Seed swap",
        "starts_at": e2e::time_from_now(starts_in).await,
        "ends_at": e2e::time_from_now(starts_in + lasts).await,
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let made = post_json("/functions/v1/events", Some(host), &body).await;
    ok(&made, 201, "hosting an event");
    made.body
}

fn id(event: &Value) -> String {
    event["id"].as_str().unwrap_or_default().to_string()
}

async fn rsvp(token: &str, event: &str, status: &str) -> Answer {
    post_json(&format!("/functions/v1/events/{event}/rsvp"), Some(token), &json!({"status": status})).await
}

async fn act(token: &str, event: &str, action: &str) -> Answer {
    call(Method::POST, &format!("/functions/v1/events/{event}/{action}"), Some(token)).await
}

#[tokio::test]
async fn an_event_fills_up_waitlists_promotes_checks_in_and_moves_only_forward() {
    let u = new_users("events-life", 4).await;
    let ((_, host), (first_id, first), (second_id, second), (_, stranger)) = (&u[0], &u[1], &u[2], &u[3]);
    let event = host_event(host, 3600, 3600, json!({"capacity": 1})).await;
    let e = id(&event);
    assert_eq!(
        (event["status"].as_str(), event["capacity"].as_i64(), event["going"].as_i64()),
        (Some("scheduled"), Some(1), Some(0))
    );

    assert_eq!(rsvp(first, &e, "going").await.body["status"], "going");
    let waiting = rsvp(second, &e, "going").await;
    ok(&waiting, 200, "an RSVP past capacity");
    assert_eq!(waiting.body["status"], "waitlisted");
    refused(&rsvp(second, &e, "maybe").await, 400, "an RSVP that is none");

    let path = format!("/functions/v1/events/{e}");
    refused(
        &send_json(Method::PATCH, &path, Some(stranger), &json!({"title": "Mine now"})).await,
        403,
        "a stranger editing",
    );
    let edited = send_json(Method::PATCH, &path, Some(host), &json!({"description": "bring seeds"})).await;
    ok(&edited, 200, "the host editing");
    refused(&send_json(Method::PATCH, &path, Some(host), &json!({"capacity": 0})).await, 400, "a capacity of none");

    let checkins = format!("/functions/v1/events/{e}/check-ins");
    refused(&post_json(&checkins, Some(stranger), &json!({"user_id": first_id})).await, 403, "only the host checks in");
    refused(&post_json(&checkins, Some(host), &json!({"user_id": second_id})).await, 409, "a waitlisted participant");

    ok(&rsvp(first, &e, "leave").await, 200, "the going participant leaves");
    let promoted = call(Method::GET, &path, Some(second)).await;
    assert_eq!((promoted.body["my_rsvp"].as_str(), promoted.body["waitlisted"].as_i64()), (Some("going"), Some(0)));
    let told = call(Method::GET, "/functions/v1/notifications", Some(second)).await;
    assert!(
        told.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|n| n["kind"] == "waitlist_promoted" && n["data"]["event_id"] == e.as_str()),
        "the promoted participant is told: {:?}",
        told.body
    );
    let checked = post_json(&checkins, Some(host), &json!({"user_id": second_id})).await;
    ok(&checked, 200, "the host checks a going participant in");
    assert_eq!(checked.body["status"], "checked_in");

    refused(&act(stranger, &e, "start").await, 403, "a stranger starting it");
    assert_eq!(act(host, &e, "start").await.body["status"], "live");
    assert_eq!(act(host, &e, "end").await.body["status"], "ended");
    refused(&act(host, &e, "start").await, 409, "an ended event does not start again");
    refused(&rsvp(first, &e, "going").await, 409, "an RSVP after the end");
    refused(&call(Method::GET, "/functions/v1/events/not-a-uuid", Some(host)).await, 400, "a malformed id");
}

#[tokio::test]
async fn a_group_event_is_for_its_members_and_its_admins_may_edit_it() {
    let u = new_users("events-group", 3).await;
    let ((_, owner), (admin_id, admin), (_, stranger)) = (&u[0], &u[1], &u[2]);
    let group = post_json(
        "/functions/v1/groups",
        Some(owner),
        &json!({"name": e2e::unique_topic("Event group"), "privacy": "private"}),
    )
    .await;
    let group = group.body["id"].as_str().unwrap_or_default().to_string();
    ok(&call(Method::POST, &format!("/functions/v1/groups/{group}/join"), Some(admin)).await, 200, "a request");
    ok(
        &call(Method::POST, &format!("/functions/v1/groups/{group}/requests/{admin_id}/approve"), Some(owner)).await,
        200,
        "approved",
    );
    let role = format!("/functions/v1/groups/{group}/members/{admin_id}");
    ok(&send_json(Method::PATCH, &role, Some(owner), &json!({"role": "admin"})).await, 200, "made admin");

    let event = host_event(owner, 3600, 3600, json!({"group_id": group, "visibility": "group"})).await;
    let e = id(&event);
    refused(
        &call(Method::GET, &format!("/functions/v1/events/{e}"), Some(stranger)).await,
        404,
        "hidden from a stranger",
    );
    refused(&rsvp(stranger, &e, "going").await, 404, "and no RSVP from them");
    let edited = send_json(
        Method::PATCH,
        &format!("/functions/v1/events/{e}"),
        Some(admin),
        &json!({"title": "Seed swap, moved"}),
    )
    .await;
    ok(&edited, 200, "a group admin edits the group's event");
    ok(&act(admin, &e, "cancel").await, 200, "and may cancel it");
    let host_in_other = post_json(
        "/functions/v1/events",
        Some(stranger),
        &json!({"title": "Gatecrash", "starts_at": e2e::time_from_now(60).await, "ends_at": e2e::time_from_now(120).await, "group_id": group}),
    )
    .await;
    refused(&host_in_other, 403, "hosting in a group one is not in");
}

/// A socket on `event:<id>` (private) as `token`, present there (tracked).
async fn state_channel(token: &str, event: &str) -> (Client, String) {
    let mut c = Client::connect_with_token(token, Vsn::V2).await;
    let topic = format!("realtime:event:{event}");
    let join_ref = c.join(&topic, json!({"private": true})).await;
    let track = json!({"type": "presence", "event": "track", "payload": {"here": true}});
    c.push(&topic, "presence", track, Some(&join_ref)).await;
    (c, topic)
}

/// Every `event_state` until none came for `quiet`.
async fn states(c: &mut Client, quiet: Duration) -> Vec<Value> {
    let mut got = Vec::new();
    while let Some(f) = c.try_recv_until(quiet, |f| f.event == "broadcast" && f.payload["event"] == "event_state").await
    {
        got.push(f.payload["payload"].clone());
    }
    got
}

#[tokio::test]
async fn a_hundred_rsvps_at_once_for_twenty_places_give_twenty_going_and_the_live_counts_agree() {
    let users = new_users("events-rush", 101).await;
    let host = &users[0].1;
    let event = host_event(host, 3600, 3600, json!({"capacity": 20})).await;
    let e = id(&event);
    let (mut watcher, _) = state_channel(host, &e).await;
    let rsvps: Vec<_> = users[1..]
        .iter()
        .map(|(_, token)| {
            let (token, e) = (token.clone(), e.clone());
            tokio::spawn(async move { rsvp(&token, &e, "going").await })
        })
        .collect();
    let mut going = 0;
    for r in rsvps {
        let answer = r.await.expect("an RSVP");
        ok(&answer, 200, "an RSVP in the rush");
        going += usize::from(answer.body["status"] == "going");
    }
    assert_eq!(going, 20, "exactly the capacity went");
    let frames = states(&mut watcher, Duration::from_secs(3)).await;
    let db = call(Method::GET, &format!("/functions/v1/events/{e}"), Some(host)).await;
    assert_eq!((db.body["going"].as_i64(), db.body["waitlisted"].as_i64()), (Some(20), Some(80)));
    let last = frames.last().cloned().unwrap_or(Value::Null);
    assert_eq!((last["going"].as_i64(), last["waitlisted"].as_i64()), (Some(20), Some(80)), "the last frame: {last}");
    assert_eq!(last["present"], 1, "the host is on the channel");
    eprintln!("100 RSVPs: {} event_state frames", frames.len());
    assert!(frames.len() < 50, "{} frames", frames.len());
}

async fn forget_room_and_scheduler(topic: &str) {
    let service = service_token();
    for path in [format!("rooms/{topic}/forget?private=true"), "scheduler/forget".to_string()] {
        let url = format!("{}/realtime/v1/api/{path}", e2e::base_url());
        let status = reqwest::Client::new().post(url).header("apikey", &service).send().await.expect("forget").status();
        assert_eq!(status.as_u16(), 204, "{path}");
    }
}

#[tokio::test]
async fn participants_are_reminded_before_the_start_and_an_unstarted_event_ends_at_its_end_by_alarm() {
    let u = new_users("events-alarm", 2).await;
    let ((_, host), (_, guest)) = (&u[0], &u[1]);
    // The reminder is due 15 minutes before the start (the default): here in 3 seconds.
    let soon = host_event(host, 15 * 60 + 3, 3600, json!({})).await;
    ok(&rsvp(guest, &id(&soon), "going").await, 200, "going");
    // This one ends in 4 seconds and nobody starts it.
    let brief = host_event(host, 1, 3, json!({})).await;
    let (mut watcher, topic) = state_channel(guest, &id(&brief)).await;
    forget_room_and_scheduler(&topic).await;

    // Generous: the suite's hundred-RSVP rush (a hundred users' objects each opening a
    // connection) can hold the one workerd thread for seconds on a 2-core machine.
    let ended = watcher
        .try_recv_until(Duration::from_secs(30), |f| {
            f.event == "broadcast" && f.payload["event"] == "event_state" && f.payload["payload"]["status"] == "ended"
        })
        .await
        .expect("the event ends by itself, on its live channel");
    assert_eq!(ended.payload["payload"]["event_id"], id(&brief).as_str());
    let mut reminded = false;
    for _ in 0..60 {
        let list = call(Method::GET, "/functions/v1/notifications", Some(guest)).await;
        reminded = list.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|n| n["kind"] == "event_reminder" && n["data"]["event_id"] == id(&soon).as_str());
        if reminded {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(reminded, "the going participant was reminded");
    let host_list = call(Method::GET, "/functions/v1/notifications", Some(host)).await;
    assert!(
        !host_list.body["items"].as_array().into_iter().flatten().any(|n| n["kind"] == "event_reminder"),
        "the host did not RSVP and is not reminded"
    );
}

#[tokio::test]
async fn who_is_present_on_an_event_s_channel_is_counted_live() {
    let u = new_users("events-present", 2).await;
    let ((_, host), (_, guest)) = (&u[0], &u[1]);
    let e = id(&host_event(host, 3600, 3600, json!({})).await);
    let (mut watcher, _) = state_channel(host, &e).await;
    let present = |n: i64| {
        move |f: &realtime_protocol::Frame| {
            f.event == "broadcast" && f.payload["event"] == "event_state" && f.payload["payload"]["present"] == n
        }
    };
    watcher.recv_until("the host present", present(1)).await;
    let (arriving, _) = state_channel(guest, &e).await;
    watcher.recv_until("the guest present too", present(2)).await;
    arriving.close().await;
    watcher.recv_until("the guest gone", present(1)).await;
}
