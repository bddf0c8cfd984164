//! One topic's room, as plain data and functions, so its rules are tested natively and
//! the Durable Object that hosts it stays a thin adapter (it stores each [`Member`] in its
//! socket's attachment, calls [`handle`], and carries out the [`Effect`]s).
//!
//! Map of the crate:
//! - [`member`]: what the room remembers about one socket ([`Member`], [`Channel`]).
//! - [`join_config`]: the `config` of a `phx_join`, with the lenient booleans clients send.
//! - [`outbound`]: a fanned-out message, encoded at most once per framing.
//! - [`handle`]: the room's answer to one inbound frame, as a list of effects.

pub mod handle;
pub mod join_config;
pub mod member;
pub mod outbound;

pub use handle::{handle, Effect, Inbound};
pub use join_config::JoinConfig;
pub use member::{Channel, Member};
pub use outbound::{Outbound, Wire};
