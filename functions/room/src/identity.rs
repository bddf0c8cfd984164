//! Who is behind a channel: the verified claims that matter to a room.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The verified `sub`; None for the project's anon key.
    pub user_id: Option<String>,
    pub role: String,
    /// Token expiry, seconds since the epoch.
    pub exp: u64,
}

impl Identity {
    /// What counts as one user for the users-per-channel limit: the user id, or the
    /// connection for anonymous sockets (each anonymous connection is its own user).
    pub fn user_key(&self, conn_id: &str) -> String {
        match &self.user_id {
            Some(id) => format!("user:{id}"),
            None => format!("conn:{conn_id}"),
        }
    }
}
