//! Follows through the edge: follow, unfollow, followers and following (paged), counts;
//! the followee is notified by the database and hears it live on their inbox.

use e2e::{call, post_json, unique_topic, Client};
use realtime_protocol::Vsn;
use reqwest::Method;
use serde_json::{json, Value};

/// Fresh users for one test: ids and tokens, with profiles named after the test.
async fn follow(token: &str, user_id: &str) -> e2e::Answer {
    post_json("/functions/v1/follows", Some(token), &json!({ "user_id": user_id })).await
}

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().map_or(Vec::new(), |items| {
        items.iter().map(|i| i["user_id"].as_str().unwrap_or_default().to_string()).collect()
    })
}

#[tokio::test]
async fn follow_unfollow_and_counts_as_the_caller() {
    let u = e2e::new_users("follows", 3).await;
    let ((a, a_token), (b, b_token), (c, _)) = (&u[0], &u[1], &u[2]);

    let first = follow(a_token, b).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    assert_eq!(
        (first.body["follower_id"].as_str(), first.body["followee_id"].as_str()),
        (Some(a.as_str()), Some(b.as_str()))
    );
    let again = follow(a_token, b).await;
    assert_eq!(again.status, 200, "following twice answers the existing follow: {:?}", again.body);
    assert_eq!(again.body["created_at"], first.body["created_at"]);
    assert_eq!(follow(a_token, c).await.status, 201);
    assert_eq!(follow(b_token, a).await.status, 201);

    let counts = call(Method::GET, &format!("/functions/v1/users/{a}/follow-counts"), Some(b_token)).await;
    assert_eq!(counts.status, 200, "{:?}", counts.body);
    assert_eq!(counts.body, json!({"user_id": a, "followers": 1, "following": 2}));

    let gone = call(Method::DELETE, &format!("/functions/v1/follows/{c}"), Some(a_token)).await;
    assert_eq!(gone.status, 204, "{:?}", gone.body);
    let twice = call(Method::DELETE, &format!("/functions/v1/follows/{c}"), Some(a_token)).await;
    assert_eq!(twice.status, 404, "not following any more: {:?}", twice.body);
    let counts = call(Method::GET, &format!("/functions/v1/users/{a}/follow-counts"), Some(a_token)).await;
    assert_eq!(counts.body["following"], 1);
}

#[tokio::test]
async fn followers_and_following_are_paged_newest_first_with_profiles() {
    let u = e2e::new_users("follow-pages", 6).await;
    let (star, star_token) = &u[0];
    for (fan, fan_token) in &u[1..] {
        assert_eq!(follow(fan_token, star).await.status, 201, "{fan} follows");
    }
    let path = format!("/functions/v1/users/{star}/followers?limit=2");
    let page1 = call(Method::GET, &path, Some(star_token)).await;
    assert_eq!(page1.status, 200, "{:?}", page1.body);
    let first = &page1.body["items"][0];
    assert_eq!(first["user_id"], u[5].0.as_str(), "newest first");
    assert!(first["username"].as_str().is_some_and(|n| n.starts_with('u')), "with the profile: {first}");
    assert!(first["followed_at"].is_string(), "{first}");
    let mut seen = ids(&page1.body);
    let mut next = page1.body["next"].as_str().map(str::to_string);
    while let Some(cursor) = next {
        let page = call(Method::GET, &format!("{path}&before={cursor}"), Some(star_token)).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        seen.extend(ids(&page.body));
        next = page.body["next"].as_str().map(str::to_string);
    }
    let expected: Vec<String> = u[1..].iter().rev().map(|(id, _)| id.clone()).collect();
    assert_eq!(seen, expected, "every follower once, newest first, across pages");

    let following = call(Method::GET, &format!("/functions/v1/users/{}/following", u[1].0), Some(star_token)).await;
    assert_eq!(ids(&following.body), vec![star.clone()]);
    assert_eq!(following.body["next"], Value::Null, "one page");
}

#[tokio::test]
async fn the_followee_is_notified_live_and_nobody_else() {
    let u = e2e::new_users("follow-notify", 3).await;
    let ((fan, fan_token), (star, star_token), (_, other_token)) = (&u[0], &u[1], &u[2]);
    let binding = |who: &str| {
        json!({"event": "INSERT", "schema": "public", "table": "live_notifications",
               "filter": format!("recipient_id=eq.{who}")})
    };
    let mut inbox = Client::connect_with_token(star_token, Vsn::V2).await;
    inbox.join(&format!("realtime:user:{star}"), json!({"private": true, "postgres_changes": [binding(star)]})).await;
    // Someone else listening on the same filter must not see the star's notification.
    let mut snoop = Client::connect_with_token(other_token, Vsn::V2).await;
    snoop.join(&unique_topic("snoop"), json!({"postgres_changes": [binding(star)]})).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    assert_eq!(follow(fan_token, star).await.status, 201);
    let got = inbox.recv_until("the follow notification", |f| f.event == "postgres_changes").await;
    let record = &got.payload["data"]["record"];
    assert_eq!((record["kind"].as_str(), record["actor_id"].as_str()), (Some("follow"), Some(fan.as_str())));
    assert!(record["title"].as_str().is_some_and(|t| t.ends_with("followed you")), "{record}");
    snoop.expect_silence("another user's notification").await;
}

#[tokio::test]
async fn bad_follows_are_refused_with_the_field_named() {
    let u = e2e::new_users("follow-refusals", 1).await;
    let (me, token) = &u[0];
    let myself = follow(token, me).await;
    assert_eq!(myself.status, 400, "{:?}", myself.body);
    assert!(myself.body["error"]["message"].as_str().is_some_and(|m| m.starts_with("user_id:")), "{:?}", myself.body);
    let nobody = follow(token, "00000000-0000-4000-8000-00000000dead").await;
    assert_eq!(nobody.status, 404, "{:?}", nobody.body);
    for body in [json!({}), json!({"user_id": "not-a-uuid"}), json!({"user_id": me, "follower_id": me})] {
        let refused = post_json("/functions/v1/follows", Some(token), &body).await;
        assert_eq!(refused.status, 400, "{body}: {:?}", refused.body);
    }
    let anon = e2e::sign(&json!({"role": "anon", "exp": e2e::now() + 600}));
    assert_eq!(follow(&anon, me).await.status, 401, "the anon key follows nobody");
    assert_eq!(post_json("/functions/v1/follows", None, &json!({"user_id": me})).await.status, 401);
    let listing = call(Method::GET, &format!("/functions/v1/users/{me}/followers"), Some(&anon)).await;
    assert_eq!(listing.status, 401, "lists are for signed-in users: {:?}", listing.body);
    for bad in ["limit=0", "limit=101", "limit=x", "before=garbage"] {
        let page = call(Method::GET, &format!("/functions/v1/users/{me}/followers?{bad}"), Some(token)).await;
        assert_eq!(page.status, 400, "{bad}: {:?}", page.body);
    }
    let unknown = call(Method::GET, "/functions/v1/users/not-a-uuid/followers", Some(token)).await;
    assert_eq!(unknown.status, 400, "{:?}", unknown.body);
}
