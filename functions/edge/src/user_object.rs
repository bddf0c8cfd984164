//! The `User` Durable Object: one per user id, for what must hold for a user across every
//! isolate of the Worker.
//!
//! - The user's budgets: writes through the edge functions (messages, follows; one
//!   budget, [`room::Limits::messages_per_second`]) and REST broadcasts (the events rate). An
//!   isolate cannot see what another one let through; the user's object sees every call.
//! - A database connection kept for the user's edge-function statements. Opening one per
//!   request costs a TCP connect and the SCRAM handshake, computed in wasm: measured on
//!   the 2-core machine, a send took 22 ms that way and the Worker topped out near 45
//!   sends per second; on a kept connection a send is two round trips.
//!
//! The Worker verifies the caller and validates the request before it calls here; the
//! object trusts what it is sent (only this Worker's code can reach it).

use crate::error::{error_response, json_response, EdgeError};
use crate::{caller, clock, db, settings};
use edge_api::ApiError;
use room::{Identity, TokenBucket};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cell::RefCell;
use tokio_postgres::types::Type;
use worker::{durable_object, DurableObject, Env, Request, RequestInit, Response, Result, State};

const INTERNAL_URL: &str = "https://user.internal";

/// What the Worker asks of a user's object.
#[derive(Serialize, Deserialize)]
pub enum UserCall {
    /// `public.send_messages(thread, batch)` as `identity`; costs `batch.len()` from the
    /// user's budget.
    SendMessages { identity: Identity, thread_id: String, batch: Vec<Value> },
    /// Takes `n` REST broadcasts from the caller's event budget
    /// ([`room::Limits::events_bucket`]); answers `null`, or 429.
    SpendBroadcasts { n: u32 },
    /// A follow, an unfollow (each one write from the budget), a list or the counts, as
    /// `identity` ([`crate::follows_api`]).
    Follows { identity: Identity, call: crate::follows_api::FollowCall },
    /// The caller's notifications: list, unread count, mark read (one write).
    Notifications { identity: Identity, call: crate::notifications_api::NotificationCall },
    /// Threads, participants, read marks, history, edits and deletions (one write each,
    /// reads free), as `identity` ([`crate::threads_api`]).
    Threads { identity: Identity, call: crate::threads_api::ThreadCall },
}

/// An edge function's work that runs as its caller in the caller's object.
pub trait CallerCall {
    /// What it costs from the caller's write budget: one per write, reads are free.
    fn cost(&self) -> u32;

    /// Runs it as `identity` on `client`: the endpoint's answer, or its refusal; the
    /// outer error is the database's (the connection's keeper decides what it means for
    /// the connection).
    async fn answer(
        &self,
        client: &tokio_postgres::Client,
        identity: &Identity,
    ) -> std::result::Result<std::result::Result<Value, ApiError>, tokio_postgres::Error>;
}

/// Sends `call` to the object of `user_id`; the database's answer (a JSON array for
/// [`UserCall::SendMessages`]), or the error the object answered.
pub async fn call(env: &Env, user_id: &str, call: &UserCall) -> std::result::Result<Value, EdgeError> {
    let stub = env.durable_object("USERS")?.get_by_name(user_id)?;
    let body = serde_json::to_string(call).map_err(|e| EdgeError::Internal(e.to_string()))?;
    let mut init = RequestInit::new();
    init.with_method(worker::Method::Post).with_body(Some(body.into()));
    let mut response = stub.fetch_with_request(Request::new_with_init(INTERNAL_URL, &init)?).await?;
    let status = response.status_code();
    let retry_after = response.headers().get("retry-after").ok().flatten().and_then(|s| s.parse().ok());
    let body: Value = response.json().await?;
    if status == 200 {
        return Ok(body);
    }
    let message = body["error"]["message"].as_str().unwrap_or("refused");
    Err(ApiError { retry_after, ..ApiError::from_status(status, message) }.into())
}

#[durable_object]
pub struct User {
    env: Env,
    db: db::KeptConnection,
    /// Every write through the edge functions: messages, follows.
    writes: RefCell<Option<TokenBucket>>,
    broadcasts: RefCell<Option<TokenBucket>>,
}

impl DurableObject for User {
    fn new(_state: State, env: Env) -> Self {
        User { env, db: db::KeptConnection::default(), writes: RefCell::new(None), broadcasts: RefCell::new(None) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let Ok(call) = req.json::<UserCall>().await else {
            return error_response(&ApiError::invalid("not a call this object knows"));
        };
        match self.answer(call).await {
            Ok(value) => json_response(200, &value),
            Err(e) => e.into_response(),
        }
    }
}

impl User {
    async fn answer(&self, call: UserCall) -> std::result::Result<Value, EdgeError> {
        match call {
            UserCall::SpendBroadcasts { n } => {
                spend(&self.broadcasts, n, |limits, now| limits.events_bucket(now), &self.env)?;
                Ok(Value::Null)
            }
            UserCall::SendMessages { identity, thread_id, batch } => {
                self.spend_writes(u32::try_from(batch.len()).unwrap_or(u32::MAX))?;
                let batch = Value::Array(batch).to_string();
                let rows = self
                    .db
                    .with(&self.env, async |client| {
                        caller::query_as(
                            client,
                            &identity,
                            "select public.send_messages($1::uuid, $2::jsonb)::text",
                            &[(&thread_id, Type::TEXT), (&batch, Type::TEXT)],
                        )
                        .await
                    })
                    .await?;
                let text: String = rows.first().ok_or_else(|| EdgeError::Internal("no answer".into()))?.try_get(0)?;
                serde_json::from_str(&text).map_err(|e| EdgeError::Internal(format!("bad answer: {e}")))
            }
            UserCall::Follows { identity, call } => self.run_as(&identity, &call).await,
            UserCall::Notifications { identity, call } => self.run_as(&identity, &call).await,
            UserCall::Threads { identity, call } => self.run_as(&identity, &call).await,
        }
    }
}

impl User {
    /// Runs an edge function's call as its caller on the kept connection, after taking
    /// what it costs from the write budget.
    async fn run_as(&self, identity: &Identity, call: &impl CallerCall) -> std::result::Result<Value, EdgeError> {
        self.spend_writes(call.cost())?;
        Ok(self.db.with(&self.env, async |client| call.answer(client, identity).await).await??)
    }

    /// Takes `n` writes (messages, follows, marks) from the user's write budget.
    fn spend_writes(&self, n: u32) -> std::result::Result<(), EdgeError> {
        if n == 0 {
            return Ok(());
        }
        spend(&self.writes, n, |limits, now| limits.messages_bucket(now), &self.env)
    }
}

/// Takes `n` from `budget` (made by `make` on first use), or answers 429 with when to retry.
fn spend(
    budget: &RefCell<Option<TokenBucket>>,
    n: u32,
    make: impl FnOnce(&room::Limits, u64) -> TokenBucket,
    env: &Env,
) -> std::result::Result<(), EdgeError> {
    let now = clock::now_millis();
    let mut budget = budget.borrow_mut();
    let bucket = match budget.as_mut() {
        Some(bucket) => bucket,
        None => budget.insert(make(&settings::limits(env)?, now)),
    };
    bucket.take(n, now).map_err(|wait_ms| match wait_ms {
        // More than the whole budget at once: waiting will not help.
        u64::MAX => ApiError { retry_after: None, ..ApiError::rate_limited(1) }.into(),
        wait_ms => ApiError::rate_limited(wait_ms.div_ceil(1000)).into(),
    })
}
