//! One topic's room, as plain data and functions, so its rules are tested natively and
//! the Durable Object that hosts it stays a thin adapter: it keeps each [`Member`] (in
//! its socket's attachment, presence in storage), calls the functions of [`handle`], and
//! carries out the [`Effect`]s they return.
//!
//! Map of the crate:
//! - [`changes`]: `postgres_changes` bindings, filters, matching and delivery payloads,
//!   and the interests the change feed keeps per room.
//! - [`member`]: what the room remembers about one socket ([`Member`], [`Channel`]).
//! - [`identity`]: the verified claims a channel runs on.
//! - [`join_config`]: the `config` of a `phx_join`, with the lenient booleans clients send.
//! - [`presence`]: tracked metas, `presence_state` and `presence_diff` payloads.
//! - [`outbound`]: a fanned-out message, encoded at most once per framing.
//! - [`pacer`]: a room's live state (a poll's tally, an event's counts) sent at most 4
//!   times a second, and always after the last change.
//! - [`rate_limit`]: the token bucket behind every rate limit (also used by the Worker).
//! - [`session`]: one client socket's own rules (frame cap, idle timeout, heartbeat and
//!   `stats`, join and events rates), hosted by the Worker's multiplexed socket.
//! - [`user_budget`]: each user's events budget in one room, shared by their sockets.
//! - [`global_presence`]: whether a user has a socket anywhere, with leases and a grace
//!   period, kept by the user's object.
//! - [`limits`]: every configurable limit of the endpoint, read once ([`Limits`]).
//! - [`hub_wire`]: the frames between a gateway's hub (its one socket per room,
//!   shared by its clients) and the room.
//! - [`handle`]: the room's answer to joins, pushes, token refreshes, expiry and
//!   disconnects, as a list of effects.

pub mod changes;
pub mod global_presence;
pub mod handle;
pub mod hub_wire;
pub mod identity;
pub mod join_config;
pub mod limits;
pub mod member;
pub mod outbound;
pub mod pacer;
pub mod presence;
pub mod rate_limit;
pub mod session;
pub mod user_budget;

pub use handle::{Admission, Ctx, Effect, Inbound, Roster};
pub use identity::Identity;
pub use join_config::JoinConfig;
pub use limits::Limits;
pub use member::{Channel, Member};
pub use outbound::{Encoded, Outbound, Wire};
pub use presence::Tracked;
pub use rate_limit::TokenBucket;
