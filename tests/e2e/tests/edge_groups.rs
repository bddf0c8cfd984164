//! Groups through the edge (`/functions/v1/groups…`): creating, editing and discovering
//! them, joining and asking to join, requests answered, roles, removals, bans and
//! ownership — each allowed and refused as the caller's rank says — and the live side:
//! membership broadcast on `group:<id>`, and a banned member's channels (the group's and
//! its events') closed at once.

use e2e::{call, new_users, post_json, send_json, unique_topic, Answer, Client};
use realtime_protocol::Vsn;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn ok(answer: &Answer, status: u16, what: &str) {
    assert_eq!(answer.status, status, "{what}: {:?}", answer.body);
}

fn refused(answer: &Answer, status: u16, what: &str) {
    assert_eq!(answer.status, status, "{what}: {:?}", answer.body);
    assert!(answer.body["error"]["code"].is_string(), "{what}: the one error shape: {:?}", answer.body);
}

/// A group `owner` creates; its id.
async fn group(owner: &str, privacy: &str, tags: &[&str]) -> (String, String) {
    let name = unique_topic("Growers");
    let made = post_json(
        "/functions/v1/groups",
        Some(owner),
        &json!({"name": name, "privacy": privacy, "topic_tags": tags, "description": "all things green"}),
    )
    .await;
    ok(&made, 201, "creating a group");
    assert_eq!((made.body["my_role"].as_str(), made.body["member_count"].as_i64()), (Some("owner"), Some(1)));
    (made.body["id"].as_str().unwrap_or_default().to_string(), name)
}

async fn post(path: &str, token: &str) -> Answer {
    call(Method::POST, path, Some(token)).await
}

#[tokio::test]
async fn a_group_is_created_edited_by_its_admins_only_and_discovered_by_name_or_tag_when_public() {
    let u = new_users("groups-create", 2).await;
    let ((_, owner), (_, other)) = (&u[0], &u[1]);
    let tag = unique_topic("tag").replace(':', "-");
    let (public, name) = group(owner, "public", &[&tag]).await;
    let (private, _) = group(owner, "private", &[&tag]).await;

    let seen = call(Method::GET, &format!("/functions/v1/groups/{public}"), Some(other)).await;
    ok(&seen, 200, "a public group, to anyone signed in");
    assert_eq!((seen.body["my_role"].clone(), seen.body["topic_tags"][0].as_str()), (Value::Null, Some(tag.as_str())));
    refused(&call(Method::GET, &format!("/functions/v1/groups/{private}"), Some(other)).await, 404, "a private one");

    let patch = json!({"description": null, "topic_tags": [tag, "tomatoes"]});
    let path = format!("/functions/v1/groups/{public}");
    refused(&send_json(Method::PATCH, &path, Some(other), &patch).await, 403, "a stranger editing");
    let edited = send_json(Method::PATCH, &path, Some(owner), &patch).await;
    ok(&edited, 200, "the owner editing");
    assert_eq!(
        (edited.body["description"].clone(), edited.body["topic_tags"].as_array().map(Vec::len)),
        (Value::Null, Some(2))
    );
    refused(&send_json(Method::PATCH, &path, Some(owner), &json!({})).await, 400, "an empty patch");
    refused(&send_json(Method::PATCH, &path, Some(owner), &json!({"name": "x"})).await, 400, "a short name");
    let taken = post_json("/functions/v1/groups", Some(other), &json!({"name": name})).await;
    refused(&taken, 409, "a name in use");
    refused(
        &post_json("/functions/v1/groups", Some(other), &json!({"name": "Herbs", "owner_id": "x"})).await,
        400,
        "an unknown field",
    );
    refused(&post_json("/functions/v1/groups", None, &json!({"name": "Herbs"})).await, 401, "no token");

    let by_tag = call(Method::GET, &format!("/functions/v1/groups?tag={tag}"), Some(other)).await;
    ok(&by_tag, 200, "discovery by tag");
    let ids: Vec<&str> =
        by_tag.body["items"].as_array().into_iter().flatten().filter_map(|g| g["id"].as_str()).collect();
    assert_eq!(ids, vec![public.as_str()], "the public group only");
    let by_name =
        call(Method::GET, &format!("/functions/v1/groups?q={}&limit=1", &name[..name.len() - 2]), Some(other)).await;
    ok(&by_name, 200, "discovery by name");
    assert_eq!(by_name.body["items"][0]["id"], public.as_str());
    refused(&call(Method::GET, "/functions/v1/groups?sort=new", Some(other)).await, 400, "an unknown parameter");
    refused(&call(Method::GET, "/functions/v1/groups?cursor=abc", Some(other)).await, 400, "a made-up cursor");
}

#[tokio::test]
async fn joining_is_immediate_in_a_public_group_and_a_request_a_moderator_answers_in_a_private_one() {
    let u = new_users("groups-join", 4).await;
    let ((_, owner), (mod_id, moderator), (asker_id, asker), (other_id, other)) = (&u[0], &u[1], &u[2], &u[3]);
    let (public, _) = group(owner, "public", &[]).await;
    let joined = post(&format!("/functions/v1/groups/{public}/join"), asker).await;
    ok(&joined, 200, "joining a public group");
    assert_eq!(joined.body["status"], "active");
    let again = post(&format!("/functions/v1/groups/{public}/join"), asker).await;
    ok(&again, 200, "joining again answers the membership");
    let count = call(Method::GET, &format!("/functions/v1/groups/{public}"), Some(asker)).await;
    assert_eq!(count.body["member_count"], 2);

    let (private, _) = group(owner, "private", &[]).await;
    ok(&post(&format!("/functions/v1/groups/{private}/join"), moderator).await, 200, "a request");
    ok(&post(&format!("/functions/v1/groups/{private}/requests/{mod_id}/approve"), owner).await, 200, "approved");
    let promote = format!("/functions/v1/groups/{private}/members/{mod_id}");
    ok(&send_json(Method::PATCH, &promote, Some(owner), &json!({"role": "moderator"})).await, 200, "promoted");

    let asked = post(&format!("/functions/v1/groups/{private}/join"), asker).await;
    ok(&asked, 200, "asking to join a private group");
    assert_eq!(asked.body["status"], "pending");
    ok(&post(&format!("/functions/v1/groups/{private}/join"), other).await, 200, "another request");
    let pending =
        call(Method::GET, &format!("/functions/v1/groups/{private}/members?pending=true"), Some(moderator)).await;
    ok(&pending, 200, "the requests, to a moderator");
    let waiting: Vec<&str> =
        pending.body["items"].as_array().into_iter().flatten().filter_map(|m| m["user_id"].as_str()).collect();
    assert_eq!(waiting.len(), 2, "{:?}", pending.body);
    refused(
        &call(Method::GET, &format!("/functions/v1/groups/{private}/members"), Some(asker)).await,
        404,
        "a requester sees no member list",
    );

    refused(
        &post(&format!("/functions/v1/groups/{private}/requests/{other_id}/approve"), asker).await,
        404,
        "a requester cannot answer (the group is hidden from them)",
    );
    let approved = post(&format!("/functions/v1/groups/{private}/requests/{asker_id}/approve"), moderator).await;
    ok(&approved, 200, "a moderator approves");
    assert_eq!(approved.body["status"], "active");
    ok(&post(&format!("/functions/v1/groups/{private}/requests/{other_id}/deny"), moderator).await, 204, "and denies");
    refused(
        &post(&format!("/functions/v1/groups/{private}/requests/{other_id}/deny"), moderator).await,
        404,
        "a request answered already",
    );

    let members = call(Method::GET, &format!("/functions/v1/groups/{private}/members?limit=2"), Some(asker)).await;
    ok(&members, 200, "the member list, to a member");
    assert_eq!(members.body["items"].as_array().map(Vec::len), Some(2));
    let next = members.body["next"].as_str().unwrap_or_default().to_string();
    let rest =
        call(Method::GET, &format!("/functions/v1/groups/{private}/members?limit=2&before={next}"), Some(asker)).await;
    let all: Vec<String> = members.body["items"]
        .as_array()
        .into_iter()
        .chain(rest.body["items"].as_array())
        .flatten()
        .filter_map(|m| m["user_id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(all.len(), 3, "owner, moderator, asker: {all:?}");
    refused(
        &call(Method::GET, &format!("/functions/v1/groups/{private}/members?banned=true"), Some(asker)).await,
        403,
        "bans are for moderators",
    );

    let notified = call(Method::GET, "/functions/v1/notifications", Some(asker)).await;
    let kinds: Vec<&str> =
        notified.body["items"].as_array().into_iter().flatten().filter_map(|n| n["kind"].as_str()).collect();
    assert!(kinds.contains(&"group_request_approved"), "{kinds:?}");
}

#[tokio::test]
async fn ranks_decide_who_may_act_on_whom_a_ban_keeps_someone_out_and_the_owner_hands_over_before_leaving() {
    let u = new_users("groups-ranks", 4).await;
    let ((owner_id, owner), (mod_id, moderator), (admin_id, admin), (member_id, member)) = (&u[0], &u[1], &u[2], &u[3]);
    let (g, _) = group(owner, "public", &[]).await;
    for t in [moderator, admin, member] {
        ok(&post(&format!("/functions/v1/groups/{g}/join"), t).await, 200, "joining");
    }
    let role = |who: &str| format!("/functions/v1/groups/{g}/members/{who}");
    ok(
        &send_json(Method::PATCH, &role(admin_id), Some(owner), &json!({"role": "admin"})).await,
        200,
        "owner makes an admin",
    );
    ok(
        &send_json(Method::PATCH, &role(mod_id), Some(admin), &json!({"role": "moderator"})).await,
        200,
        "an admin makes a moderator",
    );
    refused(
        &send_json(Method::PATCH, &role(member_id), Some(moderator), &json!({"role": "moderator"})).await,
        403,
        "a moderator changes no roles",
    );
    refused(
        &send_json(Method::PATCH, &role(member_id), Some(admin), &json!({"role": "owner"})).await,
        400,
        "nobody is made owner",
    );
    refused(
        &send_json(Method::PATCH, &role(owner_id), Some(admin), &json!({"role": "member"})).await,
        403,
        "an admin cannot demote the owner",
    );
    refused(&call(Method::DELETE, &role(admin_id), Some(moderator)).await, 403, "a moderator cannot remove an admin");
    refused(&call(Method::DELETE, &role(owner_id), Some(admin)).await, 403, "nobody removes the owner");

    let bans = format!("/functions/v1/groups/{g}/bans");
    refused(&post_json(&bans, Some(member), &json!({"user_id": mod_id})).await, 403, "a member bans nobody");
    let banned = post_json(&bans, Some(moderator), &json!({"user_id": member_id})).await;
    ok(&banned, 200, "a moderator bans a member");
    assert_eq!(banned.body["status"], "banned");
    refused(&post(&format!("/functions/v1/groups/{g}/join"), member).await, 403, "the banned cannot come back");
    ok(&call(Method::DELETE, &format!("{bans}/{member_id}"), Some(moderator)).await, 204, "unbanned");
    ok(&post(&format!("/functions/v1/groups/{g}/join"), member).await, 200, "and back");
    ok(&call(Method::DELETE, &role(member_id), Some(moderator)).await, 204, "a moderator removes a member");

    refused(&post(&format!("/functions/v1/groups/{g}/leave"), owner).await, 409, "the owner hands over first");
    let owner_path = format!("/functions/v1/groups/{g}/owner");
    refused(
        &post_json(&owner_path, Some(admin), &json!({"user_id": admin_id})).await,
        403,
        "only the owner hands over",
    );
    let handed = post_json(&owner_path, Some(owner), &json!({"user_id": admin_id})).await;
    ok(&handed, 200, "handing over");
    assert_eq!(
        (handed.body["owner_id"].as_str(), handed.body["my_role"].as_str()),
        (Some(admin_id.as_str()), Some("admin"))
    );
    ok(&post(&format!("/functions/v1/groups/{g}/leave"), owner).await, 204, "the former owner leaves");
    let left = call(Method::GET, &format!("/functions/v1/groups/{g}"), Some(admin)).await;
    assert_eq!(left.body["member_count"], 2, "the new owner and the moderator: {:?}", left.body);
}

/// A socket on `group:<id>` (a private channel) as `token`.
async fn group_channel(token: &str, group: &str) -> (Client, String) {
    let mut c = Client::connect_with_token(token, Vsn::V2).await;
    let topic = format!("realtime:group:{group}");
    c.join(&topic, json!({"private": true})).await;
    (c, topic)
}

#[tokio::test]
async fn a_banned_member_is_closed_out_of_the_group_channel_within_a_second_while_the_others_keep_hearing() {
    let u = new_users("groups-revoke", 3).await;
    let ((_, owner), (stays_id, stays), (banned_id, banned)) = (&u[0], &u[1], &u[2]);
    let (g, _) = group(owner, "private", &[]).await;
    for (id, t) in [(stays_id, stays), (banned_id, banned)] {
        ok(&post(&format!("/functions/v1/groups/{g}/join"), t).await, 200, "a request");
        ok(&post(&format!("/functions/v1/groups/{g}/requests/{id}/approve"), owner).await, 200, "approved");
    }
    let (mut staying, topic) = group_channel(stays, &g).await;
    let (mut leaving, _) = group_channel(banned, &g).await;
    // The group's events' channels go with it.
    let event = post_json(
        "/functions/v1/events",
        Some(owner),
        &json!({"title": "Pruning day", "starts_at": e2e::time_from_now(3600).await,
                "ends_at": e2e::time_from_now(7200).await, "group_id": g, "visibility": "group"}),
    )
    .await;
    ok(&event, 201, "a group event");
    let event_topic = format!("realtime:event:{}", event.body["id"].as_str().unwrap_or_default());
    let mut at_event = Client::connect_with_token(banned, Vsn::V2).await;
    at_event.join(&event_topic, json!({"private": true})).await;

    let started = Instant::now();
    ok(
        &post_json(&format!("/functions/v1/groups/{g}/bans"), Some(owner), &json!({"user_id": banned_id})).await,
        200,
        "the ban",
    );
    let system = leaving
        .try_recv_until(Duration::from_secs(3), |f| f.event == "system" && f.topic == topic)
        .await
        .expect("the banned member's channel gets a system message");
    let took = started.elapsed();
    assert_eq!(system.payload["status"], "error", "{:?}", system.payload);
    assert!(system.payload["message"].as_str().unwrap_or_default().contains("permissions"), "{:?}", system.payload);
    assert!(took < Duration::from_secs(1), "closed {took:?} after the ban answered");
    leaving.recv_until("phx_close", |f| f.event == "phx_close" && f.topic == topic).await;
    at_event.recv_until("the event channel's system message", |f| f.event == "system" && f.topic == event_topic).await;

    let left =
        staying.recv_until("member_left", |f| f.event == "broadcast" && f.payload["event"] == "member_left").await;
    assert_eq!(
        (left.payload["payload"]["user_id"].as_str(), left.payload["payload"]["reason"].as_str()),
        (Some(banned_id.as_str()), Some("banned"))
    );
    // The others keep talking on the channel; nobody may pass off the server's events.
    let mut other = group_channel(owner, &g).await.0;
    other.push(&topic, "broadcast", json!({"type": "broadcast", "event": "tip", "payload": {"n": 2}}), None).await;
    staying.recv_until("the owner's tip", |f| f.event == "broadcast" && f.payload["payload"]["n"] == 2).await;
    let mut forger = Client::connect_with_token(stays, Vsn::V2).await;
    let forged_topic = format!("realtime:group:{g}");
    let join_ref = forger.join(&forged_topic, json!({"private": true, "broadcast": {"ack": true}})).await;
    let forged = json!({"type": "broadcast", "event": "member_left", "payload": {"user_id": u[0].0}});
    let msg_ref = forger.push(&forged_topic, "broadcast", forged, Some(&join_ref)).await;
    let refused = forger
        .recv_until("the forgery's refusal", |f| {
            f.event == "phx_reply" && f.msg_ref.as_deref() == Some(msg_ref.as_str())
        })
        .await;
    assert_eq!(
        refused.payload["response"]["reason"],
        "Unauthorized: the server sends member_left on private channels; clients may not",
        "{:?}",
        refused.payload
    );
    let rejoin = leaving.join_reply(&topic, json!({"private": true})).await.1;
    assert_eq!(rejoin["status"], "error", "and cannot join again: {rejoin:?}");
}

#[tokio::test]
async fn who_joins_and_who_changes_role_is_broadcast_on_the_group_channel() {
    let u = new_users("groups-live", 2).await;
    let ((_, owner), (joiner_id, joiner)) = (&u[0], &u[1]);
    let (g, _) = group(owner, "public", &[]).await;
    let (mut watching, _) = group_channel(owner, &g).await;
    ok(&post(&format!("/functions/v1/groups/{g}/join"), joiner).await, 200, "joining");
    let joined =
        watching.recv_until("member_joined", |f| f.event == "broadcast" && f.payload["event"] == "member_joined").await;
    assert_eq!(
        (joined.payload["payload"]["user_id"].as_str(), joined.payload["payload"]["member_count"].as_i64()),
        (Some(joiner_id.as_str()), Some(2))
    );
    let path = format!("/functions/v1/groups/{g}/members/{joiner_id}");
    ok(&send_json(Method::PATCH, &path, Some(owner), &json!({"role": "moderator"})).await, 200, "promoting");
    let changed = watching
        .recv_until("member_role_changed", |f| f.event == "broadcast" && f.payload["event"] == "member_role_changed")
        .await;
    assert_eq!(
        (changed.payload["payload"]["role"].as_str(), changed.payload["payload"]["previous_role"].as_str()),
        (Some("moderator"), Some("member"))
    );
    ok(
        &send_json(Method::PATCH, &format!("/functions/v1/groups/{g}"), Some(owner), &json!({"description": "new"}))
            .await,
        200,
        "editing",
    );
    let updated =
        watching.recv_until("group_updated", |f| f.event == "broadcast" && f.payload["event"] == "group_updated").await;
    assert_eq!(updated.payload["payload"]["description"], "new");
}
