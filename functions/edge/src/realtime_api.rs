//! The realtime HTTP API: server-side broadcast and room health.
//!
//! `POST /realtime/v1/api/broadcast` takes Supabase's body
//! `{"messages":[{"topic","event","payload","private"}]}` with headers `apikey` and
//! `Authorization: Bearer <jwt>`; its answers are tabled in `realtime_protocol::reason`.
//!
//! `GET /realtime/v1/api/rooms/<topic>` answers a room's counters, to the service role only.

use crate::error::{json_response, EdgeError};
use crate::room_object::{Delivery, ServerBroadcast};
use crate::user_object::{self, UserCall};
use crate::{clock, room_object, settings};
use edge_api::ApiError;
use edge_auth::Claims;
use realtime_protocol::{reason, JoinError, Topic};
use room::{Identity, Limits};
use serde_json::{json, Map, Value};
use worker::{Env, Request, Response};

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
    topic: Topic,
    payload: Map<String, Value>,
    private: bool,
}

/// Why a broadcast request is refused as a whole, before anything is sent.
enum Invalid {
    /// 422 with an error list per message.
    Fields(Value),
    /// 413: a payload over the limit.
    TooLarge(usize),
}

fn validate(body: &Value, limits: &Limits) -> Result<Vec<Message>, Invalid> {
    let Some(messages) = body.get("messages").and_then(Value::as_array).filter(|m| !m.is_empty()) else {
        return Err(Invalid::Fields(json!({"messages": ["must be a non-empty list"]})));
    };
    let mut errors = Map::new();
    let mut valid = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let topic = m.get("topic").and_then(Value::as_str).map(Topic::parse);
        let event = m.get("event").and_then(Value::as_str).filter(|e| !e.is_empty());
        let payload = m.get("payload").and_then(Value::as_object);
        let mut problems = Vec::new();
        match &topic {
            None | Some(Err(JoinError::TopicNameRequired)) => {
                problems.push("topic must be a non-empty string".to_string())
            }
            Some(Err(e)) => problems.push(e.to_string()),
            Some(Ok(_)) => {}
        }
        if event.is_none() {
            problems.push("event must be a non-empty string".into());
        }
        if payload.is_none() {
            problems.push("payload must be an object".into());
        }
        if !problems.is_empty() {
            errors.insert(format!("messages[{i}]"), json!(problems));
            continue;
        }
        let private = m.get("private").is_some_and(room::join_config::flag);
        if event.is_some_and(|e| realtime_protocol::reason::is_server_event(e, private)) {
            let refused = realtime_protocol::reason::server_event_refused(event.unwrap_or_default());
            errors.insert(format!("messages[{i}]"), json!([refused]));
            continue;
        }
        if let (Some(Ok(topic)), Some(event), Some(payload)) = (topic, event, payload) {
            let size = serde_json::to_vec(payload).map_or(usize::MAX, |b| b.len());
            if size > limits.max_payload_bytes {
                return Err(Invalid::TooLarge(limits.max_payload_bytes));
            }
            let mut wire = Map::new();
            wire.insert("type".into(), json!("broadcast"));
            wire.insert("event".into(), json!(event));
            wire.insert("payload".into(), Value::Object(payload.clone()));
            // `private` above: the same flag parser as a join's config (`true`, "true").
            valid.push(Message { topic, payload: wire, private });
        }
    }
    if errors.is_empty() {
        Ok(valid)
    } else {
        Err(Invalid::Fields(Value::Object(errors)))
    }
}

fn too_large(limit: usize) -> Result<Response, EdgeError> {
    Ok(json_response(413, &json!({"message": "Payload too large", "limit": limit}))?)
}

fn refused(reason: &str) -> Result<Response, EdgeError> {
    Ok(json_response(401, &json!({"message": "Unauthorized", "reason": reason}))?)
}

/// `POST /realtime/v1/api/broadcast`: the same rules as a socket's channels. A name the
/// policies own goes only to its private room, and only with the write policy's consent
/// (checked by that room, over its own connection); messages are sent in order, each
/// attempted, and a failure answers with the status of every message.
pub async fn broadcast(mut req: Request, env: Env) -> Result<Response, EdgeError> {
    let Some(claims) = authenticate(&req, &env)? else {
        return unauthorized();
    };
    let limits = settings::limits(&env)?;
    let declared = req.headers().get("content-length").ok().flatten().and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|l| l > limits.max_frame_bytes) {
        return too_large(limits.max_frame_bytes);
    }
    let Ok(text) = req.text().await else {
        return Ok(json_response(422, &json!({"errors": {"body": ["must be text"]}}))?);
    };
    if text.len() > limits.max_frame_bytes {
        return too_large(limits.max_frame_bytes);
    }
    let Ok(body) = serde_json::from_str::<Value>(&text) else {
        return Ok(json_response(422, &json!({"errors": {"body": ["must be JSON"]}}))?);
    };
    let messages = match validate(&body, &limits) {
        Ok(messages) => messages,
        Err(Invalid::Fields(errors)) => return Ok(json_response(422, &json!({ "errors": errors }))?),
        Err(Invalid::TooLarge(limit)) => return too_large(limit),
    };
    if let Some(Err(e)) = messages.iter().map(|m| m.topic.check_privacy(m.private)).find(Result::is_err) {
        return refused(&e.to_string());
    }
    // The caller's budget lives in their user object, so it holds across isolates; the
    // project's anon and service keys (no `sub`) each share one budget per role.
    let user = claims.sub.clone().unwrap_or_else(|| format!("role:{}", claims.role));
    let n = u32::try_from(messages.len()).unwrap_or(u32::MAX);
    match user_object::call(&env, &user, &UserCall::SpendBroadcasts { n }).await {
        Ok(_) => {}
        Err(EdgeError::Api(e)) if e.status == 429 => {
            let mut response = json_response(429, &json!({"message": "Too many requests"}))?;
            if let Some(seconds) = e.retry_after {
                response.headers_mut().set("retry-after", &seconds.to_string())?;
            }
            return Ok(response);
        }
        Err(other) => return Err(other),
    }
    let sender = Identity::from(&claims);
    let mut results = Vec::new();
    let mut failed: Option<(u16, String)> = None;
    for (index, m) in messages.into_iter().enumerate() {
        let broadcast =
            ServerBroadcast { topic: m.topic.full().to_string(), payload: m.payload, sender: sender.clone() };
        let delivery =
            room_object::deliver_broadcast(&env, &m.topic, m.private, &broadcast).await.unwrap_or_else(|e| {
                worker::console_error!("broadcast to {}: {e}", m.topic);
                Delivery::Unavailable
            });
        let (status, problem) = match delivery {
            Delivery::Sent => ("sent", None),
            Delivery::Refused => ("refused", Some((401, reason::write_refused(m.topic.name())))),
            Delivery::Unavailable => ("unavailable", Some((503, reason::BROADCAST_UNAVAILABLE.to_string()))),
        };
        let mut result = json!({"index": index, "topic": m.topic.full(), "status": status});
        if let Some((code, why)) = problem {
            result["reason"] = json!(why);
            failed.get_or_insert((code, why));
        }
        results.push(result);
    }
    // All sent: Supabase's answer. Otherwise the first failure's status, and what became
    // of each message (the others were still sent: one refused topic does not hold them).
    match failed {
        None => Ok(Response::empty()?.with_status(202)),
        Some((code, why)) => {
            let message = if code == 401 { "Unauthorized" } else { "Service unavailable" };
            Ok(json_response(code, &json!({"message": message, "reason": why, "results": results}))?)
        }
    }
}

fn is_service(req: &Request, env: &Env) -> Result<bool, EdgeError> {
    Ok(matches!(authenticate(req, env)?, Some(claims) if claims.role == "service_role"))
}

/// The room an operator asks about: `<topic>` and `?private=true` for the private one.
fn room_of(req: &Request, topic: &str) -> Result<(Topic, bool), EdgeError> {
    // A topic no channel could join is the caller's mistake, not a missing endpoint.
    let topic = Topic::parse(topic).map_err(|e| ApiError::invalid_field("topic", e))?;
    let private = req
        .url()?
        .query_pairs()
        .any(|(k, v)| k == "private" && room::join_config::flag(&Value::String(v.into_owned())));
    Ok((topic, private))
}

/// `POST /realtime/v1/api/rooms/<topic>/forget[?private=true]`, service role only: the
/// room drops its memory and rebuilds it from durable state on the next event, as after
/// an eviction. For operators checking a room's recovery; clients see nothing.
pub async fn forget_room(req: Request, env: Env, topic: &str) -> Result<Response, EdgeError> {
    if !is_service(&req, &env)? {
        return unauthorized();
    }
    let (topic, private) = room_of(&req, topic)?;
    room_object::forget(&env, &topic, private).await?;
    Ok(Response::empty()?.with_status(204))
}

/// `POST /realtime/v1/api/feed/forget`, service role only: the change feed's object drops
/// its memory, as after an eviction, and carries on from storage and the database.
pub async fn forget_feed(req: Request, env: Env) -> Result<Response, EdgeError> {
    if !is_service(&req, &env)? {
        return unauthorized();
    }
    crate::feed_object::forget(&env).await?;
    Ok(Response::empty()?.with_status(204))
}

/// `POST /realtime/v1/api/scheduler/forget`, service role only: the scheduler drops what
/// it holds in memory, as an eviction would (its alarm stays); tests use it.
pub async fn forget_scheduler(req: Request, env: Env) -> Result<Response, EdgeError> {
    if !is_service(&req, &env)? {
        return unauthorized();
    }
    crate::scheduler_object::forget(&env).await?;
    Ok(Response::empty()?.with_status(204))
}

/// `GET /realtime/v1/api/rooms/<topic>[?private=true]`, service role only.
pub async fn room_stats(req: Request, env: Env, topic: &str) -> Result<Response, EdgeError> {
    if !is_service(&req, &env)? {
        return unauthorized();
    }
    let (topic, private) = room_of(&req, topic)?;
    let mut stats = room_object::fetch_stats(&env, &topic, private).await?;
    if let Value::Object(map) = &mut stats {
        map.insert("topic".into(), json!(topic.full()));
        map.insert("private".into(), json!(private));
    }
    Ok(json_response(200, &stats)?)
}
