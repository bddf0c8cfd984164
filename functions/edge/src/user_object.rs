//! The `User` Durable Object: one per user id, for what must hold for a user across every
//! isolate of the Worker.
//!
//! - The user's budgets: writes through the edge functions (messages, follows; one
//!   budget, [`room::Limits::messages_per_second`]) and REST broadcasts (the events rate). An
//!   isolate cannot see what another one let through; the user's object sees every call.
//! - A database connection kept for the user's edge-function statements. Opening one per
//!   request costs a TCP connect and the SCRAM handshake, computed in wasm: measured on
//!   the 2-core machine, a send took 22 ms that way and the Worker topped out near 45
//!   sends per second; on a kept connection a send is one round trip
//!   ([`crate::caller::query_as`]).
//!
//! The Worker verifies the caller and validates the request before it calls here; the
//! object trusts what it is sent (only this Worker's code can reach it).

use crate::error::{error_response, json_response, EdgeError};
use crate::{caller, clock, db, settings};
use edge_api::ApiError;
use room::global_presence::{Connectivity, Publish, SocketEvent};
use room::{Identity, TokenBucket};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cell::RefCell;
use tokio_postgres::types::{ToSql, Type};
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
    /// Groups, members, requests, roles, bans and ownership (one write each, reads
    /// free), as `identity` ([`crate::groups_api`]).
    Groups { identity: Identity, call: crate::groups_api::GroupCall },
    /// Polls, votes and results (one write each, reads free) ([`crate::polls_api`]).
    Polls { identity: Identity, call: crate::polls_api::PollCall },
    /// Events, RSVPs and check-ins (one write each, reads free) ([`crate::events_api`]).
    Events { identity: Identity, call: crate::events_api::EventCall },
    /// Reading users' presence, or choosing how the caller appears (one write).
    Presence { identity: Identity, call: crate::presence_api::PresenceCall },
    /// A gateway's report about one of the user's sockets ([`report_socket`]).
    Socket { user_id: String, socket: String, event: SocketEvent },
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

/// Runs `call` in the caller's object and answers `status` with its result (no body for
/// 204); a write wakes the change feed, so what it changed (and what the database
/// broadcast or signalled) arrives without waiting for the feed's next poll.
pub async fn respond(
    env: &Env,
    ctx: &worker::Context,
    me: &str,
    status: u16,
    call: &UserCall,
    writes: bool,
) -> std::result::Result<Response, EdgeError> {
    let answer = self::call(env, me, call).await?;
    if writes {
        crate::feed_object::wake_after(env, ctx);
    }
    if status == 204 {
        return Ok(Response::empty()?.with_status(204));
    }
    Ok(crate::error::json_response(status, &answer)?)
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

/// Tells `user_id`'s object what became of one of their sockets, without holding up the
/// socket: a lost report costs at most a lease ([`room::global_presence::LEASE_MS`]).
pub fn report_socket(env: &Env, user_id: &str, socket: &str, event: SocketEvent) {
    let (env, user_id, socket) = (env.clone(), user_id.to_string(), socket.to_string());
    wasm_bindgen_futures::spawn_local(async move { report_socket_now(&env, &user_id, &socket, event).await });
}

/// [`report_socket`], finished before it returns (an alarm handler's work must be).
pub async fn report_socket_now(env: &Env, user_id: &str, socket: &str, event: SocketEvent) {
    let call = UserCall::Socket { user_id: user_id.to_string(), socket: socket.to_string(), event };
    if let Err(e) = self::call(env, user_id, &call).await {
        worker::console_warn!("presence: cannot report a socket {event:?}: {e}");
    }
}

/// Storage keys of the user's presence: whose object this is (an alarm is not told),
/// and their sockets' leases.
const USER_ID_KEY: &str = "user_id";
const CONNECTIVITY_KEY: &str = "connectivity";
/// How soon a presence the database refused is tried again.
const PRESENCE_RETRY_MS: u64 = 5_000;

#[durable_object]
pub struct User {
    state: State,
    env: Env,
    /// Whose object this is, and their sockets (loaded from storage on first use).
    presence: RefCell<Option<(String, Connectivity)>>,
    db: db::KeptConnection,
    /// Every write through the edge functions: messages, follows.
    writes: RefCell<Option<TokenBucket>>,
    broadcasts: RefCell<Option<TokenBucket>>,
}

impl DurableObject for User {
    fn new(state: State, env: Env) -> Self {
        User {
            state,
            env,
            presence: RefCell::new(None),
            db: db::KeptConnection::default(),
            writes: RefCell::new(None),
            broadcasts: RefCell::new(None),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        // A failure is the platform's to retry (an alarm that errs is run again); the
        // alarm for the next check may not have been set.
        self.settle_presence().await.map_err(|e| worker::Error::RustError(format!("presence: {e}")))?;
        Response::ok("")
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
            UserCall::Groups { identity, call } => self.run_as(&identity, &call).await,
            UserCall::Polls { identity, call } => self.run_as(&identity, &call).await,
            UserCall::Events { identity, call } => self.run_as(&identity, &call).await,
            UserCall::Presence { identity, call } => self.run_as(&identity, &call).await,
            UserCall::Socket { user_id, socket, event } => {
                self.load_presence(Some(&user_id)).await?;
                if let Some((_, c)) = self.presence.borrow_mut().as_mut() {
                    c.apply(&socket, event, clock::now_millis());
                }
                self.settle_presence().await?;
                Ok(Value::Null)
            }
        }
    }
}

impl User {
    /// Loads whose object this is and their sockets from storage, once; `user_id` is
    /// who a report is about (None when woken by the alarm). False when nobody is known.
    async fn load_presence(&self, user_id: Option<&str>) -> std::result::Result<bool, EdgeError> {
        if self.presence.borrow().is_some() {
            return Ok(true);
        }
        let storage = self.state.storage();
        let stored_user = storage.get::<String>(USER_ID_KEY).await.ok().flatten();
        let Some(user_id) = stored_user.clone().or(user_id.map(str::to_string)) else { return Ok(false) };
        if stored_user.is_none() {
            storage.put(USER_ID_KEY, &user_id).await?;
        }
        let stored: Option<Connectivity> = storage.get(CONNECTIVITY_KEY).await.ok().flatten();
        let mut presence = self.presence.borrow_mut();
        if presence.is_none() {
            *presence = Some((user_id, stored.unwrap_or_default()));
        }
        Ok(true)
    }

    /// Publishes what is due until nothing is (a report may arrive while the database
    /// is written), stores the sockets, and sets the alarm for the next check.
    async fn settle_presence(&self) -> std::result::Result<(), EdgeError> {
        if !self.load_presence(None).await? {
            return Ok(());
        }
        let grace_ms = settings::limits(&self.env)?.presence_grace_ms;
        let mut retry = false;
        loop {
            let now = clock::now_millis();
            let (user_id, due) = match self.presence.borrow_mut().as_mut() {
                Some((user_id, c)) => (user_id.clone(), c.due(now, grace_ms)),
                None => return Ok(()),
            };
            let Some(publish) = due else { break };
            match self.publish_presence(&user_id, publish).await {
                Ok(()) => {
                    if let Some((_, c)) = self.presence.borrow_mut().as_mut() {
                        c.published(publish);
                    }
                    if let Err(e) = crate::feed_object::wake(&self.env).await {
                        worker::console_warn!("presence: cannot wake the change feed: {e}");
                    }
                }
                Err(e) => {
                    worker::console_warn!("presence: cannot publish {publish:?}: {e}");
                    retry = true;
                    break;
                }
            }
        }
        let Some(snapshot) = self.presence.borrow().as_ref().map(|(_, c)| c.clone()) else { return Ok(()) };
        let storage = self.state.storage();
        storage.put(CONNECTIVITY_KEY, &snapshot).await?;
        let next = match retry {
            true => Some(clock::now_millis() + PRESENCE_RETRY_MS),
            false => snapshot.next_check(grace_ms),
        };
        match next {
            Some(at_ms) => {
                // A Number, not a BigInt: `new Date(BigInt)` throws (see room_object).
                let at = js_sys::Date::new(&js_sys::Number::from(at_ms as f64));
                storage.set_alarm(worker::ScheduledTime::new(at)).await?;
            }
            None => storage.delete_alarm().await?,
        }
        Ok(())
    }

    /// Writes a transition to the database as the system (the service role).
    async fn publish_presence(&self, user_id: &str, publish: Publish) -> std::result::Result<(), EdgeError> {
        let (connected, seen_ms) = match publish {
            Publish::Online => (true, clock::now_millis()),
            Publish::Offline { last_seen_ms } => (false, last_seen_ms),
        };
        let seen_s = seen_ms as f64 / 1000.0;
        // As the service role (the one role granted it), not as the connection's owner:
        // the Worker's connection need not be a superuser's, and the function is a named
        // security definer step like every act beyond a caller's rights.
        let params: [(&(dyn ToSql + Sync), Type); 3] =
            [(&user_id, Type::TEXT), (&connected, Type::BOOL), (&seen_s, Type::FLOAT8)];
        self.db
            .with(&self.env, async |client| {
                caller::query_as(
                    client,
                    &Identity::service(),
                    "select public.record_connectivity($1::text::uuid, $2, to_timestamp($3))",
                    &params,
                )
                .await
            })
            .await?;
        Ok(())
    }

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
