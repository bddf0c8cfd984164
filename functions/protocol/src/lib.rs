//! The Supabase Realtime wire protocol (Phoenix channels framing), with no platform code,
//! so it compiles and is tested natively and is shared by the Worker and its rooms.
//!
//! Map of the crate:
//! - [`frame`]: a [`Frame`] and the two text framings, vsn 1.0.0 (JSON objects) and
//!   vsn 2.0.0 (JSON arrays).
//! - [`binary`]: the vsn 2.0.0 binary broadcast frames (kind 3 from clients, kind 4 to clients).
//! - [`reason`]: the one table of error reasons, HTTP refusals and close codes.
//! - [`topic`]: a [`Topic`], parsed once; which names only private channels may use, and
//!   the room a channel lives in.
//! - [`reply`]: builders for the frames the server originates (`phx_reply`, `phx_close`, ...).
//!
//! The authoritative description of the protocol is `PROTOCOL.md` in the shared design
//! folder; the pinned `@supabase/realtime-js` used by the conformance tests is the final word.

pub mod binary;
pub mod frame;
pub mod reason;
pub mod reply;
pub mod topic;

pub use binary::{BinaryBroadcast, PayloadEncoding};
pub use frame::{DecodeError, Frame, Vsn};
pub use reason::{CloseCode, ConnectRefusal, JoinError};
pub use topic::Topic;

/// Topic of the socket-level heartbeat, answered by whoever terminates the client socket.
pub const PHOENIX_TOPIC: &str = "phoenix";
/// Every channel topic a Supabase client joins starts with this prefix.
pub const TOPIC_PREFIX: &str = "realtime:";

/// Event names of the protocol.
pub mod event {
    pub const HEARTBEAT: &str = "heartbeat";
    pub const JOIN: &str = "phx_join";
    pub const LEAVE: &str = "phx_leave";
    pub const REPLY: &str = "phx_reply";
    pub const CLOSE: &str = "phx_close";
    pub const ERROR: &str = "phx_error";
    pub const BROADCAST: &str = "broadcast";
    pub const PRESENCE: &str = "presence";
    pub const PRESENCE_STATE: &str = "presence_state";
    pub const PRESENCE_DIFF: &str = "presence_diff";
    pub const ACCESS_TOKEN: &str = "access_token";
    pub const SYSTEM: &str = "system";
    pub const POSTGRES_CHANGES: &str = "postgres_changes";
}
