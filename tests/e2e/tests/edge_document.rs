//! Every operation of the edge functions' OpenAPI document, walked against the running
//! Worker: each one is routed (never the router's unknown-route 404 nor a 405), and each
//! one refuses a caller without a token, with the anon key, or with a garbage token
//! (401), and a body past any endpoint's bound (413), before it reads anything else.
//! schemathesis (scripts/api-fuzz.sh) checks the answers' shapes; this checks the
//! refusals every endpoint owes, named per operation when one is missing.

use e2e::{call, post_bytes, send_json, Answer};
use reqwest::Method;
use serde_json::{json, Value};

/// Endpoints anyone may read: the Worker's health and this document.
const OPEN: [&str; 2] = ["/functions/v1/health", "/functions/v1/openapi.json"];
const NIL: &str = "00000000-0000-4000-8000-000000000000";

/// (method, path with its ids filled in, whether it takes a body) of every operation.
async fn operations() -> Vec<(Method, String, bool)> {
    let (status, document) = e2e::get_json("/functions/v1/openapi.json").await;
    assert_eq!(status, 200, "{document:?}");
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().cloned().unwrap_or_default() {
        for (method, op) in item.as_object().cloned().unwrap_or_default() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else { continue };
            if !matches!(method, Method::GET | Method::POST | Method::PATCH | Method::DELETE | Method::PUT) {
                continue;
            }
            let mut filled = String::new();
            let mut rest = path.as_str();
            while let Some(open) = rest.find('{') {
                filled.push_str(&rest[..open]);
                filled.push_str(NIL);
                rest = rest[open..].split_once('}').map_or("", |(_, after)| after);
            }
            filled.push_str(rest);
            found.push((method, filled, op.get("requestBody").is_some()));
        }
    }
    assert!(found.len() >= 40, "the document lists {} operations", found.len());
    found
}

async fn send(method: &Method, path: &str, token: Option<&str>, body: Option<Vec<u8>>) -> Answer {
    match (method, body) {
        (&Method::POST, Some(bytes)) => post_bytes(path, token, bytes).await,
        (_, Some(bytes)) => {
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            send_json(method.clone(), path, token, &body).await
        }
        (_, None) => call(method.clone(), path, token).await,
    }
}

fn is_unknown_route(answer: &Answer) -> bool {
    answer.status == 405 || (answer.status == 404 && answer.body["error"]["message"] == "no such endpoint")
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_refuses_callers_without_a_user() {
    let anon = e2e::sign(&json!({"role": "anon", "exp": e2e::now() + 600}));
    // A user of its own: its writes spend nobody else's budget.
    let user = e2e::new_users("document-routes", 1).await.remove(0).1;
    let mut wrong = Vec::new();
    for (method, path, takes_body) in operations().await {
        let body = takes_body.then(|| b"{}".to_vec());
        let as_user = send(&method, &path, Some(&user), body.clone()).await;
        if is_unknown_route(&as_user) {
            wrong.push(format!("{method} {path}: not routed ({})", as_user.status));
        }
        if OPEN.contains(&path.as_str()) {
            continue;
        }
        for (who, token) in [("no token", None), ("the anon key", Some(anon.as_str())), ("garbage", Some("x.y.z"))] {
            let answer = send(&method, &path, token, body.clone()).await;
            if answer.status != 401 || answer.body["error"]["code"] != "unauthorized" {
                wrong.push(format!("{method} {path} with {who}: {} {}", answer.status, answer.body));
            }
        }
    }
    assert!(wrong.is_empty(), "operations that do not answer as documented:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn every_operation_with_a_body_refuses_one_past_its_bound() {
    let user = e2e::new_users("document-bounds", 1).await.remove(0).1;
    // Past every endpoint's bound (the largest, a batch of messages, is well under 1 MiB).
    let huge = format!("{{\"body\": \"{}\"}}", "x".repeat(1 << 20)).into_bytes();
    let mut wrong = Vec::new();
    for (method, path, takes_body) in operations().await {
        if !takes_body || method != Method::POST && method != Method::PATCH {
            continue;
        }
        let request = reqwest::Client::new()
            .request(method.clone(), format!("{}{path}", e2e::base_url()))
            .bearer_auth(&user)
            .header("content-type", "application/json")
            .body(huge.clone());
        let response = request.send().await.expect("HTTP request to the Worker");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status != 413 || body["error"]["code"] != "payload_too_large" {
            wrong.push(format!("{method} {path}: {status} {body}"));
        }
    }
    assert!(wrong.is_empty(), "operations that took an oversized body:\n{}", wrong.join("\n"));
}
