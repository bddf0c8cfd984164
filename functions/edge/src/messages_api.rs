//! `POST /functions/v1/messages` and `POST /functions/v1/messages/batch`: sending
//! messages as the caller (rules and types: [`edge_api::messages`]).
//!
//! A batch commits in one transaction with a savepoint per message, so one refused
//! message (a bad reply_to, a thread the caller left) does not sink the others. After the
//! commit the change feed is woken, so subscribers get the messages without waiting for
//! its next poll; delivery itself is the feed's, the same as for a write from anywhere.

use crate::error::{error_response, json_response, EdgeError};
use crate::{caller, db, feed_object};
use edge_api::messages::{self, NewMessage, Outcome, SendBatch, SendMessage};
use edge_api::{body, ApiError};
use room::Identity;
use serde_json::{json, Value};
use tokio_postgres::Transaction;
use worker::{Context, Env, Request, Response};

/// `POST /functions/v1/messages`: 201 with the message, or 200 with the original when
/// the idempotency key was used before.
pub async fn send(req: Request, env: Env, ctx: &Context) -> Result<Response, EdgeError> {
    let (identity, send) = read::<SendMessage>(req, &env).await?;
    let batch = send.into_batch();
    let outcomes = store(&env, ctx, &identity, &batch).await?;
    match outcomes.into_iter().next() {
        Some(Outcome::Created(m)) => Ok(json_response(201, &m)?),
        Some(Outcome::Existing(m)) => Ok(json_response(200, &m)?),
        Some(Outcome::Refused(e)) => Ok(error_response(&e)?),
        None => Err(EdgeError::Internal("a send of one message came back empty".into())),
    }
}

/// `POST /functions/v1/messages/batch`: 200 with one result per message, in order.
pub async fn send_batch(req: Request, env: Env, ctx: &Context) -> Result<Response, EdgeError> {
    let (identity, batch) = read::<SendBatch>(req, &env).await?;
    let outcomes = store(&env, ctx, &identity, &batch).await?;
    let results: Vec<Value> = outcomes.iter().map(Outcome::to_json).collect();
    Ok(json_response(200, &json!({ "results": results }))?)
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

/// Stores the batch as `identity` in one transaction and wakes the feed after the commit.
async fn store(env: &Env, ctx: &Context, identity: &Identity, batch: &SendBatch) -> Result<Vec<Outcome>, EdgeError> {
    batch.check_shape()?;
    let mut client = db::connect(env).await?;
    let tx = caller::begin(&mut client, identity).await?;
    let thread_id = batch.thread_id.to_string();
    let single = batch.messages.len() == 1;
    let mut outcomes = Vec::with_capacity(batch.messages.len());
    for (i, message) in batch.messages.iter().enumerate() {
        let at = if single { String::new() } else { format!("messages[{i}].") };
        if let Err(refused) = message.check(&at) {
            outcomes.push(Outcome::Refused(refused));
            continue;
        }
        tx.batch_execute("savepoint message").await?;
        match store_one(&tx, &thread_id, message).await {
            Ok(outcome) => {
                tx.batch_execute("release savepoint message").await?;
                outcomes.push(outcome);
            }
            Err(EdgeError::Api(refused)) if refused.status < 500 => {
                tx.batch_execute("rollback to savepoint message").await?;
                outcomes.push(Outcome::Refused(refused));
            }
            Err(broken) => return Err(broken),
        }
    }
    tx.commit().await?;
    if outcomes.iter().any(|o| matches!(o, Outcome::Created(_))) {
        let env = env.clone();
        ctx.wait_until(async move {
            if let Err(e) = feed_object::wake(&env).await {
                // The feed's next poll picks the messages up; only the shortcut is lost.
                worker::console_warn!("cannot wake the change feed: {e}");
            }
        });
    }
    Ok(outcomes)
}

/// One message: the original when its idempotency key was used before, else a new row.
async fn store_one(tx: &Transaction<'_>, thread_id: &str, m: &NewMessage) -> Result<Outcome, EdgeError> {
    // Looked up before inserting: the insert's numbering trigger would take a sequence
    // number even for a duplicate.
    if let Some(original) = original(tx, m).await? {
        return same_thread(original, thread_id).map(Outcome::Existing);
    }
    let attachments = messages::attachments_json(&m.attachments);
    let reply_to = m.reply_to.map(|r| r.to_string());
    let inserted = tx
        .query_opt(
            "insert into public.messages as m (thread_id, body, attachments, reply_to, idempotency_key)
             values ($1::text::uuid, $2, $3::text::jsonb, $4::text::uuid, $5)
             on conflict (sender_id, idempotency_key) do nothing
             returning to_jsonb(m.*)::text",
            &[&thread_id, &m.body, &attachments, &reply_to, &m.idempotency_key],
        )
        .await?;
    match inserted {
        Some(row) => Ok(Outcome::Created(json_column(&row)?)),
        // A concurrent request with the same key committed first.
        None => match original(tx, m).await? {
            Some(original) => same_thread(original, thread_id).map(Outcome::Existing),
            None => Err(EdgeError::Internal("an insert skipped as a duplicate has no original".into())),
        },
    }
}

/// The caller's earlier message with this idempotency key, if any.
async fn original(tx: &Transaction<'_>, m: &NewMessage) -> Result<Option<Value>, EdgeError> {
    let Some(key) = &m.idempotency_key else { return Ok(None) };
    let row = tx
        .query_opt(
            "select to_jsonb(m.*)::text from public.messages m
              where m.sender_id = (select auth.uid()) and m.idempotency_key = $1",
            &[key],
        )
        .await?;
    Ok(match row {
        Some(row) => Some(json_column(&row)?),
        None => None,
    })
}

/// A key names one message: reusing it for another thread is a client bug worth a 409.
fn same_thread(original: Value, thread_id: &str) -> Result<Value, EdgeError> {
    if original["thread_id"].as_str() == Some(thread_id) {
        Ok(original)
    } else {
        Err(ApiError::conflict("idempotency_key was used for a message in another thread").into())
    }
}

/// The first column of `row`, a JSON document sent as text.
fn json_column(row: &tokio_postgres::Row) -> Result<Value, EdgeError> {
    let text: String = row.try_get(0)?;
    serde_json::from_str(&text).map_err(|e| EdgeError::Internal(format!("the database sent bad JSON: {e}")))
}
