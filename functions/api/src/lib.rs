//! The edge functions (`/functions/v1/…`) as plain Rust: what a request may contain, how
//! it is validated, and how every failure is answered. The Worker parses a request with
//! [`body::parse`], runs the SQL as the caller, and answers with the types here, so these
//! rules are tested natively and the Worker stays an adapter.
//!
//! Map of the crate:
//! - [`error`]: [`ApiError`], the one error shape (`{"error": {"code", "message"}}`) with
//!   its HTTP status, and how a database error (SQLSTATE) maps onto it.
//! - [`body`]: a JSON request body, capped in size, parsed into a type with errors that
//!   name the offending field.
//! - [`messages`]: sending messages (one, or a batch of up to ten for one thread).
//! - [`events`]: live events, RSVPs with a waitlist, check-in, start, end, cancel.
//! - [`follows`]: following users, the follower lists and the counts.
//! - [`groups`]: groups, their members, roles, requests, bans and ownership.
//! - [`notifications`]: marking a user's notifications read (they are listed and counted
//!   with [`paging`]).
//! - [`threads`]: direct and group threads, participants, mute, read marks, history,
//!   and editing or deleting a message.
//! - [`polls`]: asking polls, voting, retracting, closing, results and voters.
//! - [`presence`]: reading users' global presence and choosing how one appears.
//! - [`answers`]: what the endpoints answer, as types every answer is conformed to.
//! - [`openapi`]: the OpenAPI 3.1 document, its schemas generated from those types and
//!   the request types.
//! - [`paging`]: every list's paging, newest first by an opaque cursor.

pub mod answers;
pub mod body;
pub mod error;
pub mod events;
pub mod follows;
pub mod groups;
pub mod messages;
pub mod notifications;
pub mod openapi;
pub mod paging;
pub mod polls;
pub mod presence;
pub mod threads;

pub use error::ApiError;
