//! What a room keeps per socket. It must survive hibernation, so it is plain serde data
//! that the Durable Object stores as the socket's attachment.

use crate::JoinConfig;
use realtime_protocol::Vsn;
use serde::{Deserialize, Serialize};

/// One upstream socket of the room: one client connection's view of this topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Unique per client connection; several members may share a user.
    pub conn_id: String,
    /// The verified `sub` of the connection's token (None for the anon key).
    pub user_id: Option<String>,
    /// The verified `role` of the connection's token.
    pub role: String,
    pub vsn: Vsn,
    /// Present while the client has the channel joined.
    pub channel: Option<Channel>,
}

/// A joined channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    pub join_ref: Option<String>,
    pub config: JoinConfig,
}

impl Member {
    pub fn new(conn_id: impl Into<String>, user_id: Option<String>, role: impl Into<String>, vsn: Vsn) -> Member {
        Member { conn_id: conn_id.into(), user_id, role: role.into(), vsn, channel: None }
    }

    pub fn is_joined(&self) -> bool {
        self.channel.is_some()
    }
}
