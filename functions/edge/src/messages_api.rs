//! `POST /functions/v1/messages` and `POST /functions/v1/messages/batch`: sending
//! messages as the caller (rules and types: [`edge_api::messages`]).
//!
//! A batch is one call of `public.send_messages` (migration 20261127100100) in one
//! transaction, each message in a subtransaction of its own, so one refused message (a
//! bad reply_to, a thread the caller left) does not sink the others. It runs in the
//! user's object ([`crate::user_object`]), which holds the user's message budget across
//! isolates and a kept connection. After the commit the change feed is woken, so
//! subscribers get the messages without waiting for its next poll; delivery itself is
//! the feed's, the same as for a write from anywhere.

use crate::error::{error_response, json_response, EdgeError};
use crate::user_object::{self, UserCall};
use crate::{caller, feed_object};
use edge_api::answers::{conform, BatchResults, Message};
use edge_api::messages::{self, Outcome, SendBatch, SendMessage};
use edge_api::{body, ApiError};
use room::Identity;
use serde_json::{json, Value};
use worker::{Context, Env, Request, Response};

/// `POST /functions/v1/messages`: 201 with the message, or 200 with the original when
/// the idempotency key was used before.
pub async fn send(req: Request, env: Env, ctx: &Context) -> Result<Response, EdgeError> {
    let (identity, send) = read::<SendMessage>(req, &env).await?;
    let batch = send.into_batch();
    let outcomes = store(&env, ctx, &identity, &batch, |_| String::new()).await?;
    match outcomes.into_iter().next() {
        Some(Outcome::Created(m)) => Ok(json_response(201, &conform::<Message>(m)?)?),
        Some(Outcome::Existing(m)) => Ok(json_response(200, &conform::<Message>(m)?)?),
        Some(Outcome::Refused(e)) => Ok(error_response(&e)?),
        None => Err(EdgeError::Internal("a send of one message came back empty".into())),
    }
}

/// `POST /functions/v1/messages/batch`: 200 with one result per message, in order.
pub async fn send_batch(req: Request, env: Env, ctx: &Context) -> Result<Response, EdgeError> {
    let (identity, batch) = read::<SendBatch>(req, &env).await?;
    let outcomes = store(&env, ctx, &identity, &batch, |i| format!("messages[{i}].")).await?;
    let results: Vec<Value> = outcomes.iter().map(Outcome::to_json).collect();
    Ok(json_response(200, &conform::<BatchResults>(json!({ "results": results }))?)?)
}

/// The caller and the parsed body; the body is not read when the caller is refused.
async fn read<T: serde::de::DeserializeOwned>(mut req: Request, env: &Env) -> Result<(Identity, T), EdgeError> {
    let identity = caller::identify(&req, env)?;
    caller::user_id(&identity)?;
    let declared = req.headers().get("content-length").ok().flatten().and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|l| l > messages::MAX_REQUEST_BYTES) {
        return Err(ApiError::too_large(messages::MAX_REQUEST_BYTES).into());
    }
    let bytes = req.bytes().await?;
    Ok((identity, body::parse(&bytes, messages::MAX_REQUEST_BYTES)?))
}

/// Stores the batch as `identity` (through the user's object, which keeps their budget
/// and a connection) and wakes the feed after the commit. Messages that fail the checks
/// here are answered without reaching the database; `path_of(i)` is where message `i`
/// sits in the request body, so an error names the field as the client wrote it.
async fn store(
    env: &Env,
    ctx: &Context,
    identity: &Identity,
    batch: &SendBatch,
    path_of: impl Fn(usize) -> String,
) -> Result<Vec<Outcome>, EdgeError> {
    batch.check_shape()?;
    let user_id = caller::user_id(identity)?;
    let checked = batch.check_messages(path_of);
    let valid: Vec<Value> = checked
        .iter()
        .filter_map(|c| c.as_ref().ok())
        .map(|m| serde_json::to_value(m).map_err(|e| EdgeError::Internal(e.to_string())))
        .collect::<Result<_, _>>()?;
    let mut answers = Vec::new().into_iter();
    if !valid.is_empty() {
        let call =
            UserCall::SendMessages { identity: identity.clone(), thread_id: batch.thread_id.to_string(), batch: valid };
        match user_object::call(env, user_id, &call).await? {
            Value::Array(a) => answers = a.into_iter(),
            other => return Err(EdgeError::Internal(format!("send_messages answered {other}"))),
        }
    }
    let outcomes: Vec<Outcome> = checked
        .into_iter()
        .map(|c| match c {
            Ok(_) => answers.next().map_or(Outcome::Refused(ApiError::internal()), |a| Outcome::from_answer(&a)),
            Err(refused) => Outcome::Refused(refused),
        })
        .collect();
    if outcomes.iter().any(|o| matches!(o, Outcome::Created(_))) {
        feed_object::wake_after(env, ctx);
    }
    Ok(outcomes)
}
