//! The limits a room enforces, with the product spec's defaults.

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoomLimits {
    /// Distinct users joined at once (`ConnectionRateLimitReached: Too many connected users`).
    pub max_users_per_channel: usize,
    /// Largest broadcast payload in bytes (`payload_size_exceeded`).
    pub max_payload_bytes: usize,
    /// Presence calls (track/untrack) allowed per socket in each window.
    pub presence_calls: u32,
    pub presence_window_ms: u64,
    /// Broadcast and presence pushes per second on a direct socket (relayed sockets are
    /// limited by the Worker, across all their channels).
    pub events_per_second: u32,
}

impl Default for RoomLimits {
    fn default() -> Self {
        RoomLimits { max_users_per_channel: 200, max_payload_bytes: 3_000_000, presence_calls: 5, presence_window_ms: 30_000, events_per_second: 100 }
    }
}
