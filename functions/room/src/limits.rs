//! Every configurable limit of the realtime endpoint and the edge functions, with the
//! product spec's defaults, in one place: the Worker (per socket), the rooms (per
//! channel) and the users' objects (per user) read the same
//! [`Limits`], parsed once from the `[vars]` of `wrangler.toml`. What a client gets when
//! it passes one is in the table of `realtime_protocol::reason`.

/// The realtime endpoint's and the edge functions' limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Channels joined on one socket (`ChannelRateLimitReached: Too many channels`).
    pub max_channels_per_connection: usize,
    /// Distinct users joined at once (`ConnectionRateLimitReached: Too many connected users`).
    pub max_users_per_channel: usize,
    /// Broadcast and presence pushes per second per socket, text and binary alike.
    pub events_per_second: u32,
    /// Joins per second on one socket.
    pub joins_per_second: u32,
    /// Presence calls (track/untrack) allowed per channel in each window.
    pub presence_calls: u32,
    pub presence_window_ms: u64,
    /// Largest broadcast payload in bytes (`payload_size_exceeded`), REST included.
    pub max_payload_bytes: usize,
    /// Largest tracked presence payload in bytes: it is stored, and sent to every joiner.
    pub max_presence_bytes: usize,
    /// Largest frame a client may send; a bigger one closes the socket (1009).
    pub max_frame_bytes: usize,
    /// What the server may hold for a client that does not read; past it the socket is
    /// closed (4001) rather than growing the process's memory.
    pub max_buffered_bytes: usize,
    /// `access_token` pushes per channel per minute (each is verified and re-authorized).
    pub token_refreshes_per_minute: u32,
    /// A socket that sends nothing for this long is closed.
    pub idle_timeout_ms: u64,
    /// Messages one user may send through the edge functions per second, across every
    /// isolate (the budget lives in the user's Durable Object); a batch costs one per
    /// message. Past it: 429 with `Retry-After`.
    pub messages_per_second: u32,
    /// How long a user stays online after their last socket closed, so a quick reconnect
    /// does not flap ([`crate::global_presence`]).
    pub presence_grace_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_channels_per_connection: 100,
            max_users_per_channel: 200,
            events_per_second: 100,
            joins_per_second: 100,
            presence_calls: 5,
            presence_window_ms: 30_000,
            max_payload_bytes: 3_000_000,
            max_presence_bytes: 8_192,
            max_frame_bytes: 3_200_000,
            max_buffered_bytes: 4_000_000,
            token_refreshes_per_minute: 10,
            idle_timeout_ms: 60_000,
            messages_per_second: 100,
            presence_grace_ms: 30_000,
        }
    }
}

/// The events-per-second limit is an average over this many seconds. A client that
/// sends steadily under the limit can still reach the server in clumps: a busy isolate
/// takes queued frames off the socket together, and a bucket one second deep would read
/// that backlog as a burst and cut the client off (measured: a publisher at 100/s to 200
/// relayed subscribers was cut off within seconds). Two seconds absorb such clumps; a
/// client above the limit is still cut off once its two-second allowance is spent.
pub const EVENT_AVERAGING_SECONDS: u32 = 2;

impl Limits {
    /// The bucket behind the events-per-second limit (broadcast and presence pushes, text
    /// and binary, on either socket, and REST broadcasts): `events_per_second` on average,
    /// over [`EVENT_AVERAGING_SECONDS`].
    pub fn events_bucket(&self, now_ms: u64) -> crate::TokenBucket {
        crate::TokenBucket::new(
            self.events_per_second.saturating_mul(EVENT_AVERAGING_SECONDS),
            1000 * u64::from(EVENT_AVERAGING_SECONDS),
            now_ms,
        )
    }

    /// A user's budget of messages sent through the edge functions: `messages_per_second`,
    /// refilled continuously, one token per message.
    pub fn messages_bucket(&self, now_ms: u64) -> crate::TokenBucket {
        crate::TokenBucket::new(self.messages_per_second, 1000, now_ms)
    }

    /// Reads each limit by its variable name through `lookup`, with the default where it
    /// is unset; a value that is not a whole number is an error naming the variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Limits, String> {
        let d = Limits::default();
        let n = |name: &str, default: u64| -> Result<u64, String> {
            match lookup(name) {
                None => Ok(default),
                Some(raw) => raw.trim().parse().map_err(|_| format!("{name} must be a whole number, got {raw:?}")),
            }
        };
        let small = |name: &str, default: u32| -> Result<u32, String> {
            u32::try_from(n(name, u64::from(default))?).map_err(|_| format!("{name} is too large"))
        };
        let size = |name: &str, default: usize| -> Result<usize, String> {
            usize::try_from(n(name, default as u64)?).map_err(|_| format!("{name} is too large"))
        };
        Ok(Limits {
            max_channels_per_connection: size("MAX_CHANNELS_PER_CONNECTION", d.max_channels_per_connection)?,
            max_users_per_channel: size("MAX_USERS_PER_CHANNEL", d.max_users_per_channel)?,
            events_per_second: small("MAX_EVENTS_PER_SECOND", d.events_per_second)?,
            joins_per_second: small("MAX_JOINS_PER_SECOND", d.joins_per_second)?,
            presence_calls: small("PRESENCE_CALLS_PER_WINDOW", d.presence_calls)?,
            presence_window_ms: n("PRESENCE_WINDOW_MS", d.presence_window_ms)?,
            max_payload_bytes: size("MAX_PAYLOAD_BYTES", d.max_payload_bytes)?,
            max_presence_bytes: size("MAX_PRESENCE_BYTES", d.max_presence_bytes)?,
            max_frame_bytes: size("MAX_FRAME_BYTES", d.max_frame_bytes)?,
            max_buffered_bytes: size("MAX_BUFFERED_BYTES", d.max_buffered_bytes)?,
            token_refreshes_per_minute: small("TOKEN_REFRESHES_PER_MINUTE", d.token_refreshes_per_minute)?,
            idle_timeout_ms: n("IDLE_TIMEOUT_MS", d.idle_timeout_ms)?,
            messages_per_second: small("MAX_MESSAGES_PER_SECOND", d.messages_per_second)?,
            presence_grace_ms: n("PRESENCE_GRACE_MS", d.presence_grace_ms)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_variables_take_the_defaults_and_set_ones_win() {
        let l = Limits::from_lookup(|name| (name == "MAX_PRESENCE_BYTES").then(|| " 512 ".to_string())).unwrap();
        assert_eq!(l.max_presence_bytes, 512);
        assert_eq!(Limits { max_presence_bytes: 8_192, ..l }, Limits::default());
    }

    #[test]
    fn a_value_that_is_not_a_number_names_its_variable() {
        let e = Limits::from_lookup(|name| (name == "MAX_FRAME_BYTES").then(|| "lots".to_string())).unwrap_err();
        assert!(e.contains("MAX_FRAME_BYTES"), "{e}");
        let e = Limits::from_lookup(|name| (name == "MAX_EVENTS_PER_SECOND").then(|| "99999999999".to_string()))
            .unwrap_err();
        assert!(e.contains("too large"), "{e}");
    }
}
