//! The realtime HTTP API: server-side broadcast and room health.
//!
//! `POST /realtime/v1/api/broadcast` takes Supabase's body
//! `{"messages":[{"topic","event","payload","private"}]}` with headers `apikey` and
//! `Authorization: Bearer <jwt>`, and answers 202 (empty), 401 `{"message":"Unauthorized"}`,
//! 422 `{"errors":{...}}` or 429 `{"message":"Too many requests"}`.
//!
//! `GET /realtime/v1/api/rooms/<topic>` answers a room's counters, to the service role only.

use crate::error::{json_response, EdgeError};
use crate::{channel_access, clock, room_object, settings};
use edge_auth::Claims;
use room::TokenBucket;
use serde_json::{json, Map, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use worker::{Env, Request, Response};

thread_local! {
    /// Per-user send budgets for the REST broadcast, per isolate. A user spread over
    /// many isolates gets more; the per-socket limit in the relay is the strict one.
    static BUDGETS: RefCell<HashMap<String, TokenBucket>> = RefCell::new(HashMap::new());
}

fn unauthorized() -> Result<Response, EdgeError> {
    Ok(json_response(401, &json!({"message": "Unauthorized"}))?)
}

fn bearer(req: &Request) -> Option<String> {
    let header = req.headers().get("authorization").ok().flatten()?;
    header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")).map(str::to_string)
}

/// Verifies the `apikey` header and the bearer token; returns the bearer's claims.
fn authenticate(req: &Request, env: &Env) -> Result<Option<Claims>, EdgeError> {
    let verifier = settings::verifier(env)?;
    let now = clock::now_secs();
    let apikey = req.headers().get("apikey").ok().flatten();
    let Some(apikey) = apikey.filter(|k| verifier.verify(k, now).is_ok()) else {
        return Ok(None);
    };
    let token = bearer(req).unwrap_or(apikey);
    Ok(verifier.verify(&token, now).ok())
}

/// One validated message of a broadcast request.
struct Message {
    topic: String,
    payload: Map<String, Value>,
    private: bool,
}

fn validate(body: &Value) -> Result<Vec<Message>, Value> {
    let Some(messages) = body.get("messages").and_then(Value::as_array).filter(|m| !m.is_empty()) else {
        return Err(json!({"messages": ["must be a non-empty list"]}));
    };
    let mut errors = Map::new();
    let mut valid = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let topic = m.get("topic").and_then(Value::as_str).filter(|t| !t.is_empty());
        let event = m.get("event").and_then(Value::as_str).filter(|e| !e.is_empty());
        let payload = m.get("payload").and_then(Value::as_object);
        let mut problems = Vec::new();
        if topic.is_none() {
            problems.push("topic must be a non-empty string");
        }
        if event.is_none() {
            problems.push("event must be a non-empty string");
        }
        if payload.is_none() {
            problems.push("payload must be an object");
        }
        if !problems.is_empty() {
            errors.insert(format!("messages[{i}]"), json!(problems));
            continue;
        }
        if let (Some(topic), Some(event), Some(payload)) = (topic, event, payload) {
            let topic = topic.strip_prefix(realtime_protocol::TOPIC_PREFIX).unwrap_or(topic);
            let mut wire = Map::new();
            wire.insert("type".into(), json!("broadcast"));
            wire.insert("event".into(), json!(event));
            wire.insert("payload".into(), Value::Object(payload.clone()));
            valid.push(Message {
                topic: format!("{}{topic}", realtime_protocol::TOPIC_PREFIX),
                payload: wire,
                private: m.get("private").and_then(Value::as_bool).unwrap_or(false),
            });
        }
    }
    if errors.is_empty() {
        Ok(valid)
    } else {
        Err(Value::Object(errors))
    }
}

/// `POST /realtime/v1/api/broadcast`
pub async fn broadcast(mut req: Request, env: Env) -> Result<Response, EdgeError> {
    let Some(claims) = authenticate(&req, &env)? else {
        return unauthorized();
    };
    let body: Value = match req.json().await {
        Ok(body) => body,
        Err(_) => return Ok(json_response(422, &json!({"errors": {"body": ["must be JSON"]}}))?),
    };
    let messages = match validate(&body) {
        Ok(messages) => messages,
        Err(errors) => return Ok(json_response(422, &json!({ "errors": errors }))?),
    };
    let per_second = settings::number(&env, "MAX_EVENTS_PER_SECOND", 100)? as u32;
    let user = claims.sub.clone().unwrap_or_else(|| format!("role:{}", claims.role));
    let allowed = BUDGETS.with(|b| {
        let mut budgets = b.borrow_mut();
        let bucket = budgets.entry(user).or_insert_with(|| TokenBucket::new(per_second, 1000, clock::now_millis()));
        (0..messages.len()).all(|_| bucket.try_take(clock::now_millis()))
    });
    if !allowed {
        return Ok(json_response(429, &json!({"message": "Too many requests"}))?);
    }
    for m in &messages {
        if m.private {
            let channel = m.topic.trim_start_matches(realtime_protocol::TOPIC_PREFIX);
            let access = channel_access::check(&env, channel, &claims.raw).await?;
            if !access.write {
                return unauthorized();
            }
        }
    }
    for m in &messages {
        room_object::deliver_broadcast(&env, &m.topic, &m.payload).await?;
    }
    Ok(Response::empty()?.with_status(202))
}

fn is_service(req: &Request, env: &Env) -> Result<bool, EdgeError> {
    Ok(matches!(authenticate(req, env)?, Some(claims) if claims.role == "service_role"))
}

fn full_topic(topic: &str) -> Result<String, EdgeError> {
    let name = topic.strip_prefix(realtime_protocol::TOPIC_PREFIX).unwrap_or(topic);
    if name.is_empty() {
        return Err(EdgeError::NotFound);
    }
    Ok(format!("{}{name}", realtime_protocol::TOPIC_PREFIX))
}

/// `POST /realtime/v1/api/rooms/<topic>/forget`, service role only: the room drops its
/// memory and rebuilds it from durable state on the next event, as after an eviction.
/// For operators checking a room's recovery; clients see nothing.
pub async fn forget_room(req: Request, env: Env, topic: &str) -> Result<Response, EdgeError> {
    if !is_service(&req, &env)? {
        return unauthorized();
    }
    room_object::forget(&env, &full_topic(topic)?).await?;
    Ok(Response::empty()?.with_status(204))
}

/// `GET /realtime/v1/api/rooms/<topic>`, service role only.
pub async fn room_stats(req: Request, env: Env, topic: &str) -> Result<Response, EdgeError> {
    if !is_service(&req, &env)? {
        return unauthorized();
    }
    let full = full_topic(topic)?;
    let mut stats = room_object::fetch_stats(&env, &full).await?;
    if let Value::Object(map) = &mut stats {
        map.insert("topic".into(), json!(full));
    }
    Ok(json_response(200, &stats)?)
}
