//! What a room keeps per socket. The serialized part must survive hibernation, so it is
//! plain serde data stored as the socket's attachment (kept small: attachments have a
//! size cap). Presence lives in the room's storage instead, and rate-limit buckets in
//! memory only: a room that wakes up starts them full.

use crate::{Identity, JoinConfig, TokenBucket, Tracked};
use realtime_protocol::Vsn;
use serde::{Deserialize, Serialize};

/// One upstream socket of the room: one client connection's view of this topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Unique per upstream socket (connection id plus the Worker's generation).
    pub socket_key: String,
    /// Unique per client connection; several members may share a user.
    pub conn_id: String,
    /// The verified claims of the connection's apikey.
    pub conn_identity: Identity,
    pub vsn: Vsn,
    /// Present while the client has the channel joined.
    pub channel: Option<Channel>,
    /// Numbers this socket's presence metas (`phx_ref`).
    pub presence_seq: u64,
    /// The client's own socket, handed to the room by the Worker (one topic per socket):
    /// the room answers its heartbeats and rate-limits its events itself.
    #[serde(default)]
    pub direct: bool,
    /// The privacy of the room this socket was opened on: a join must ask for the same.
    #[serde(default)]
    pub room_private: bool,
    #[serde(skip)]
    pub presence_bucket: Transient<TokenBucket>,
    #[serde(skip)]
    pub refresh_bucket: Transient<TokenBucket>,
    /// The per-topic socket's own rules (heartbeat, `stats`, join and events rates);
    /// None until its first frame, and after a hibernation.
    #[serde(skip)]
    pub session: Transient<crate::session::Session>,
}

/// A joined channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    pub join_ref: Option<String>,
    pub config: JoinConfig,
    /// Whose token the channel runs on: the join's `access_token`, else the apikey's.
    pub identity: Identity,
    /// Write access (broadcast, track): always for public channels, by policy for private ones.
    pub can_write: bool,
    /// The `postgres_changes` bindings of the join, with their ids.
    #[serde(default)]
    pub bindings: Vec<crate::changes::Binding>,
    /// Kept in the room's storage, not in the attachment; see the module comment.
    #[serde(skip)]
    pub presence: Option<Tracked>,
}

impl Member {
    pub fn new(socket_key: impl Into<String>, conn_id: impl Into<String>, conn_identity: Identity, vsn: Vsn) -> Member {
        Member {
            socket_key: socket_key.into(),
            conn_id: conn_id.into(),
            conn_identity,
            vsn,
            channel: None,
            presence_seq: 0,
            direct: false,
            room_private: false,
            presence_bucket: Transient::default(),
            refresh_bucket: Transient::default(),
            session: Transient::default(),
        }
    }

    pub fn is_joined(&self) -> bool {
        self.channel.is_some()
    }

    /// The user key of the joined channel (see [`Identity::user_key`]).
    pub fn user_key(&self) -> Option<String> {
        self.channel.as_ref().map(|c| c.identity.user_key(&self.conn_id))
    }

    pub fn tracked(&self) -> Option<&Tracked> {
        self.channel.as_ref().and_then(|c| c.presence.as_ref())
    }
}

/// State a member keeps in memory only (rate buckets, the session's counters): lost on
/// hibernation, and not part of what makes two members differ, so that a frame which only
/// moves a bucket or a counter does not rewrite the socket's attachment (the room stores
/// the attachment whenever a member changes).
#[derive(Debug, Clone)]
pub struct Transient<T>(pub Option<T>);

impl<T> Default for Transient<T> {
    fn default() -> Self {
        Transient(None)
    }
}

impl<T> PartialEq for Transient<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> std::ops::Deref for Transient<T> {
    type Target = Option<T>;
    fn deref(&self) -> &Option<T> {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Transient<T> {
    fn deref_mut(&mut self) -> &mut Option<T> {
        &mut self.0
    }
}
