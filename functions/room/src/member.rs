//! What a room keeps per socket. The serialized part must survive hibernation, so it is
//! plain serde data stored as the socket's attachment (kept small: attachments have a
//! size cap). Presence lives in the room's storage instead, and rate-limit buckets in
//! memory only: a room that wakes up starts them full.

use crate::{Identity, JoinConfig, TokenBucket, Tracked};
use realtime_protocol::Vsn;
use serde::{Deserialize, Serialize};

/// One member of the room: one client connection's view of this topic (a direct socket,
/// or a member of a gateway's hub).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Unique per member (a direct socket's connection id; on a hub, the connection id
    /// plus the gateway's generation for the channel).
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
    /// When a direct socket's client was last heard from, in milliseconds, kept coarsely
    /// (see [`Member::heard`]) so that it survives a hibernation without a write per
    /// frame. 0: not known (a socket from before this field; counted from the next sweep).
    #[serde(default)]
    pub last_seen_ms: u64,
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
            last_seen_ms: 0,
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

    /// The client sent something. The time is stored only when it moved by more than a
    /// quarter of the idle timeout, so a member (and the socket attachment the room keeps
    /// it in) changes about once per heartbeat period at most, not on every frame.
    pub fn heard(&mut self, now_ms: u64, limits: &crate::Limits) {
        if now_ms.saturating_sub(self.last_seen_ms) > limits.idle_timeout_ms / 4 {
            self.last_seen_ms = now_ms;
        }
    }

    /// Whether a direct socket's client has been silent for the idle timeout. What is
    /// stored may lag the last frame by a quarter of the timeout, so a socket counts as
    /// idle only past 1.25 timeouts since the stored time: never one silent for less than
    /// the timeout. An unknown time starts counting now.
    pub fn is_idle(&mut self, now_ms: u64, limits: &crate::Limits) -> bool {
        if self.last_seen_ms == 0 {
            self.last_seen_ms = now_ms;
        }
        let slack = limits.idle_timeout_ms / 4;
        now_ms.saturating_sub(self.last_seen_ms) > limits.idle_timeout_ms.saturating_add(slack)
    }

    pub fn tracked(&self) -> Option<&Tracked> {
        self.channel.as_ref().and_then(|c| c.presence.as_ref())
    }
}

#[cfg(test)]
mod idle_tests {
    use super::*;

    fn member() -> Member {
        let identity = Identity { user_id: None, role: "anon".into(), exp: 0, claims: "{}".into() };
        Member::new("k", "c", identity, Vsn::V2)
    }

    #[test]
    fn the_last_heard_time_moves_coarsely_and_survives_as_data() {
        let limits = crate::Limits { idle_timeout_ms: 60_000, ..Default::default() };
        let mut m = member();
        m.heard(1_000_000, &limits);
        assert_eq!(m.last_seen_ms, 1_000_000);
        let before = m.clone();
        m.heard(1_010_000, &limits);
        assert_eq!(m, before, "a frame 10 s later changes nothing stored");
        m.heard(1_016_000, &limits);
        assert_eq!(m.last_seen_ms, 1_016_000, "past a quarter of the timeout it is stored");
    }

    #[test]
    fn a_socket_is_idle_only_after_the_timeout_and_its_slack() {
        let limits = crate::Limits { idle_timeout_ms: 60_000, ..Default::default() };
        let mut m = member();
        m.heard(1_000_000, &limits);
        m.heard(1_014_000, &limits); // not stored: the real last frame is 14 s later
        assert!(!m.is_idle(1_074_000, &limits), "60 s after the real last frame: not yet");
        assert!(!m.is_idle(1_075_000, &limits));
        assert!(m.is_idle(1_075_001, &limits));
    }

    #[test]
    fn an_unknown_last_time_counts_from_the_first_sweep() {
        let limits = crate::Limits { idle_timeout_ms: 1_000, ..Default::default() };
        let mut m = member();
        assert!(!m.is_idle(5_000, &limits));
        assert!(!m.is_idle(6_250, &limits));
        assert!(m.is_idle(6_251, &limits));
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
