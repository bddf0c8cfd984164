//! The Cloudflare Worker: a thin adapter between the platform and the plain-Rust crates
//! (`realtime-protocol`, `edge-auth`, `room`, `edge-api`), which hold the rules.
//!
//! Map of the crate:
//! - [`router`]: the URL space; every answer that is not a WebSocket is JSON.
//! - [`error`]: the Worker's typed error, mapped to an HTTP status and a JSON body.
//! - [`settings`]: configuration read from `wrangler.toml` vars and secrets.
//! - [`health`]: `GET /functions/v1/health`, with a live database round trip.
//! - [`caller`]: who calls an edge function, and the transaction that runs as them.
//! - [`messages_api`]: sending messages (one, or a batch), as the caller.
//! - [`follows_api`]: following users, follower lists and counts, as the caller.
//! - [`notifications_api`]: the caller's notifications: list, unread count, mark read.
//! - [`presence_api`]: users' global presence (up to 200 at once), and choosing how one
//!   appears (online, away, busy, invisible).
//! - [`threads_api`]: direct and group threads, participants, mute, read marks, history,
//!   editing and deleting messages, as the caller.
//! - [`groups_api`]: groups, discovery, joining, requests, roles, bans and ownership,
//!   as the caller.
//! - [`polls_api`]: polls, votes, results and voters, as the caller.
//! - [`events_api`]: live events, RSVPs and the waitlist, check-in, start, end, cancel,
//!   as the caller.
//! - [`db`]: Postgres over the Workers socket API (direct locally, Hyperdrive in production).
//! - [`realtime_socket`]: the client WebSocket: JWT check, heartbeat, rate limits, each
//!   joined topic a member of its gateway's hub for the room.
//! - [`gateway_object`]: the `Gateway` Durable Object, where multiplexed client sockets
//!   live (sharded), so that clients can share their upstreams.
//! - [`hub`]: a gateway's one socket per room, shared by its clients (the fan-out tree).
//! - [`realtime_api`]: REST broadcast and room health.
//! - [`room_object`]: the `Room` Durable Object, one per topic, with hibernating sockets.
//! - [`feed_object`]: the `Feed` Durable Object: reads the database's change feed and hands
//!   each batch to the rooms with `postgres_changes` bindings on those tables.
//! - [`user_object`]: the `User` Durable Object, one per user: their write budget across
//!   isolates, a database connection kept for their statements, and whether they have a
//!   socket anywhere (global presence).
//! - [`scheduler_object`]: the `Scheduler` Durable Object: polls closing at their time,
//!   event reminders, unstarted events ended, on alarms set from what the database says
//!   is due next.
//! - [`channel_access`]: private-channel authorization through RLS on `realtime.messages`.
//! - [`upstream_proxy`]: REST / Auth / Storage passed through to the Supabase project, so
//!   supabase-js needs one URL.
//! - [`clock`]: the platform clock, in one place.
//! - [`js_send`]: sending one JS value to many sockets without copying it per socket.
//!
//! No `unwrap`/`expect` on request paths: a panic would kill the isolate and every socket
//! on it. Failures become typed errors, JSON bodies, or protocol error replies.

mod caller;
mod channel_access;
mod clock;
mod db;
mod error;
mod events_api;
mod feed_object;
mod follows_api;
mod gateway_object;
mod groups_api;
mod health;
mod hub;
mod js_send;
mod messages_api;
mod notifications_api;
mod polls_api;
mod presence_api;
mod realtime_api;
mod realtime_socket;
mod room_object;
mod router;
mod scheduler_object;
mod settings;
mod threads_api;
mod upstream_proxy;
mod user_object;

use worker::{event, Context, Env, Request, Response, Result};

pub use feed_object::Feed;
pub use room_object::Room;
pub use scheduler_object::Scheduler;
pub use user_object::User;

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    match router::route(req, env, &ctx).await {
        Ok(response) => Ok(response),
        Err(error) => error.into_response(),
    }
}
