//! REST, Auth and Storage pass through to the Supabase project (a stub here), unchanged.

use e2e::{base_url, user_token, ADA};
use serde_json::{json, Value};

#[tokio::test]
async fn a_rest_call_reaches_the_project_with_its_headers_query_and_status() {
    let token = user_token(ADA);
    let response = reqwest::Client::new()
        .get(format!("{}/rest/v1/profiles?select=username&id=eq.{ADA}", base_url()))
        .header("apikey", "anon-key")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers().get("x-stub-upstream").map(|v| v.to_str().unwrap_or("")), Some("yes"));
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen[0]["method"], "GET");
    assert_eq!(seen[0]["path"], "/rest/v1/profiles");
    assert_eq!(seen[0]["query"], format!("select=username&id=eq.{ADA}"));
    assert_eq!(seen[0]["apikey"], "anon-key");
    assert_eq!(seen[0]["authorization"], format!("Bearer {token}"));
}

#[tokio::test]
async fn a_body_and_the_upstream_status_pass_through() {
    let response = reqwest::Client::new()
        .post(format!("{}/auth/v1/token?grant_type=password", base_url()))
        .header("apikey", "anon-key")
        .json(&json!({"email": "ada@growers.test", "password": "secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["path"], "/auth/v1/token");
    assert_eq!(serde_json::from_str::<Value>(seen["body"].as_str().unwrap()).unwrap()["email"], "ada@growers.test");
}

#[tokio::test]
async fn paths_the_worker_serves_are_not_passed_through() {
    let (status, body) = e2e::get_json("/functions/v1/health").await;
    assert_eq!((status, body["status"].clone()), (200, json!("ok")));
    let (status, _) = e2e::get_json("/nothing/here").await;
    assert_eq!(status, 404);
}
