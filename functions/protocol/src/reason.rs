//! The one table of what the realtime endpoint refuses, and how it says so.
//!
//! An HTTP refusal of the upgrade has the Worker's one error shape,
//! `{"error": {"code", "message"}}` (`edge_api::error`), with the message below.
//!
//! | situation | where | what the client gets |
//! |---|---|---|
//! | no apikey | upgrade | HTTP 401, message `API key is missing` |
//! | apikey past `exp` | upgrade | HTTP 401, message `Token has expired` |
//! | apikey without `role` or `exp` | upgrade | HTTP 401, message ``Fields `role` and `exp` are required in JWT`` |
//! | apikey not a JWT, or wrong algorithm | upgrade | HTTP 401, message `The token provided is not a valid JWT` |
//! | apikey signed with another key | upgrade | HTTP 401, message `Failed to validate JWT signature` |
//! | apikey whose `nbf` is in the future | upgrade | HTTP 401, message `Token is not valid yet` |
//! | apikey whose claims (without `user_metadata`) exceed 4 KB | upgrade | HTTP 401, message `Token claims are too large` |
//! | unknown `vsn` | upgrade | HTTP 400, message `Unsupported protocol version` |
//! | not a WebSocket upgrade | upgrade | HTTP 426, message `Expected a WebSocket upgrade` |
//! | direct socket without a topic | upgrade | HTTP 400, message `TopicNameRequired: You must provide a topic name` |
//! | join without a topic name | `phx_join` | reply error `TopicNameRequired: You must provide a topic name` |
//! | topic over 246 bytes or with control characters | `phx_join` | reply error `InvalidTopic: Topic names are at most 246 bytes, without control characters` |
//! | public join of a policy-owned name (`conversation:`, `group:`, `user:`, `presence:`, `event:`, `poll:`) | `phx_join` | reply error `Unauthorized: Channel <name> is private: join it with config.private = true` |
//! | join_ref over 64 bytes or presence key over 256 bytes | `phx_join` | reply error `InvalidJoin: <what>` |
//! | join config's `private` differs from the direct socket's `private` | `phx_join` | reply error `InvalidJoin: this socket was opened for the <private/public> channel` |
//! | join over the channel limit | `phx_join` | reply error `ChannelRateLimitReached: Too many channels` |
//! | join with an expired access_token | `phx_join` | reply error `InvalidJWTToken: Token has expired N seconds ago` |
//! | join with a bad access_token | `phx_join` | reply error `MalformedJWT: The token provided is not a valid JWT` |
//! | join refused by policy | `phx_join` | reply error `Unauthorized: You do not have permissions to read from this Channel topic: <name>` |
//! | private channel check failed (database unreachable), no earlier decision | `phx_join` | reply error `DatabaseConnectionIssue: Could not check access to this channel, retry` |
//! | the policies could not evaluate this token (e.g. a `sub` that is not a UUID) | `phx_join` | reply error `Unauthorized: The access policies could not evaluate this token: <Postgres message>` |
//! | the Worker cannot verify tokens (`JWT_SECRET` unset, a bad `JWKS`) | `phx_join` with an access_token, `access_token` | reply error / `system` error `ServerMisconfigured: The server cannot verify tokens now; an operator must fix its configuration` (health says what) |
//! | room unavailable | `phx_join` | reply error `RealtimeNodeDisconnected: Room unavailable, retry` |
//! | join over the users-per-channel limit | `phx_join` | reply error `ConnectionRateLimitReached: Too many connected users` |
//! | joins faster than allowed on one socket | `phx_join` | reply error `ClientJoinRateLimitReached: Too many joins per second` |
//! | `broadcast.replay` on a public channel | `phx_join` | reply error `InvalidJoin: broadcast.replay works on private channels only` |
//! | `broadcast.replay` without a `since` in milliseconds, or a `limit` outside 1 to 25 | `phx_join` | reply error `InvalidJoin: broadcast.replay needs ...` |
//! | a broadcast replay the database could not answer | after the join reply | `system` (extension `broadcast`) error `DatabaseConnectionIssue: ...`; the channel stays joined |
//! | more than 10 `postgres_changes` bindings | `phx_join` | reply error `InvalidJoin: at most 10 postgres_changes bindings` |
//! | a binding whose filter does not parse | after the join reply | `system` (extension `postgres_changes`) error `Error parsing \`filter\` params: ...`; the channel stays joined |
//! | a binding on a table the feed does not publish, or a filter on an unknown column | after the join reply | `system` (extension `postgres_changes`) error `Unable to subscribe to changes with given parameters. ...` |
//! | the database cannot be asked who may see a batch of changes | server push | `system` (extension `postgres_changes`) error `DatabaseConnectionIssue: ...` |
//! | `postgres_changes_replay.after` older than the feed keeps | after the join reply | `system` (extension `postgres_changes`) error `ReplayUnavailable: changes after position N are no longer kept; reload from the database` |
//! | events faster than allowed for a user | any push | `system` error `Too many messages per second`, then `phx_close` |
//! | presence calls over budget | `presence` | reply error and `system` error `Client presence rate limit exceeded` |
//! | broadcast payload over the size limit | `broadcast` | ack reply `{"status":"error","response":"payload_size_exceeded"}`, else dropped |
//! | `track` payload not an object | `presence` | reply error `Presence track payload must be a map` |
//! | `track` payload over `MAX_PRESENCE_BYTES` | `presence` | reply error `PresencePayloadTooLarge: Presence payload exceeds N bytes` |
//! | frame over `MAX_FRAME_BYTES` | socket | closed with 1009; the reason names the limit |
//! | outgoing backlog over `MAX_BUFFERED_BYTES` (a client that stops reading) | socket | a `system` error `ClientTooSlow: ...` on each joined channel (after what was already queued), then closed with 4001; the reason names the limit; the room counts it (`closed_too_slow`) |
//! | `access_token` pushes over `TOKEN_REFRESHES_PER_MINUTE` on one channel | `access_token` | `system` error `Too many token refreshes`, then `phx_close` |
//! | token refresh while the database is unreachable | `access_token` | nothing: the channel keeps its last good decision |
//! | write to a private channel without write access | `broadcast` / `presence` | reply error `Unauthorized: You do not have permissions to write to this Channel topic: <name>` |
//! | a broadcast named as one the server sends (`SERVER_EVENTS`: `poll_tally`, `member_left`, …) on a private channel | `broadcast` (socket or REST) | reply error `Unauthorized: the server sends <event> on private channels; clients may not` (socket, with ack; REST: 400 naming the message) |
//! | token refresh invalid, or for another user | `access_token` | `system` error with the reason, then `phx_close` |
//! | channel token expires | (timer) | `system` error `Token has expired N seconds ago`, then `phx_close` |
//! | socket silent for `IDLE_TIMEOUT_MS` (60 s) | socket | closed with 1000 (`idle timeout`), on both sockets (the per-topic one within 1.75 timeouts: its room sweeps every half timeout, and keeps the time coarsely); clients reconnect and rejoin |
//! | frame for a topic not joined | any | reply error `unmatched topic` |
//! | frame that is not valid JSON or not a frame | any | dropped (logged); the socket stays open |
//! | room lost while joined | server push | `phx_error` on the topic: the client rejoins |
//!
//! WebSocket close codes used between client, Worker and room:
//!
//! | code | meaning |
//! |---|---|
//! | 1000 | normal: the client left the channel or closed the socket |
//! | 1001 | going away: the server is shutting the socket down (to a gateway's clients: their room's hub ended, the channel gets `phx_error`) |
//! | 1009 | message too big: a frame over `MAX_FRAME_BYTES` |
//! | 1011 | internal error: the Worker or room hit an unexpected failure |
//! | 4001 | too slow: the client stopped reading and its outgoing backlog passed `MAX_BUFFERED_BYTES` |
//!
//! The REST broadcast (`POST /realtime/v1/api/broadcast`) answers:
//!
//! | situation | status and body |
//! |---|---|
//! | accepted | 202, empty |
//! | no valid apikey or bearer token | 401 `{"message":"Unauthorized"}` |
//! | a message to a policy-owned name without `"private": true` | 401 `{"message":"Unauthorized","reason":"<why>"}` (nothing is sent) |
//! | a message to a private channel without the write policy's consent | 401 `{"message":"Unauthorized","reason":"<first failure>","results":[{"index","topic","status":"sent"\|"refused"\|"unavailable","reason"}]}`: each message was attempted, the others sent |
//! | body not JSON, no messages, a bad topic, event or payload | 422 `{"errors":{"messages[i]":["..."]}}` |
//! | body over `MAX_FRAME_BYTES`, or a payload over `MAX_PAYLOAD_BYTES` | 413 `{"message":"Payload too large","limit":N}` |
//! | over the user's events per second | 429 `{"message":"Too many requests"}` |
//! | database (or the room) unreachable for a message, and none refused before it | 503 `{"message":"Service unavailable","reason":"<BROADCAST_UNAVAILABLE>","results":[...]}`, as above |

/// Why an upgrade to `/realtime/v1/websocket` is refused: HTTP status and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectRefusal {
    ApiKeyMissing,
    TokenExpired,
    RoleAndExpRequired,
    NotAJwt,
    BadSignature,
    UnsupportedVsn,
    NotAnUpgrade,
    TopicRequired,
    NotYetValid,
    ClaimsTooLarge,
}

impl ConnectRefusal {
    pub fn status(self) -> u16 {
        match self {
            ConnectRefusal::UnsupportedVsn | ConnectRefusal::TopicRequired => 400,
            ConnectRefusal::NotAnUpgrade => 426,
            _ => 401,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            ConnectRefusal::ApiKeyMissing => "API key is missing",
            ConnectRefusal::TokenExpired => "Token has expired",
            ConnectRefusal::RoleAndExpRequired => "Fields `role` and `exp` are required in JWT",
            ConnectRefusal::NotAJwt => "The token provided is not a valid JWT",
            ConnectRefusal::BadSignature => "Failed to validate JWT signature",
            ConnectRefusal::UnsupportedVsn => "Unsupported protocol version",
            ConnectRefusal::NotAnUpgrade => "Expected a WebSocket upgrade",
            ConnectRefusal::TopicRequired => "TopicNameRequired: You must provide a topic name",
            ConnectRefusal::NotYetValid => "Token is not valid yet",
            ConnectRefusal::ClaimsTooLarge => "Token claims are too large",
        }
    }

    /// The JSON body of the refusal.
    pub fn body(self) -> String {
        serde_json::json!({ "error": self.message() }).to_string()
    }
}

/// Why a `phx_join` is refused; `Display` gives the `Code: message` reason string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error("TopicNameRequired: You must provide a topic name")]
    TopicNameRequired,
    #[error("ChannelRateLimitReached: Too many channels")]
    TooManyChannels,
    #[error("InvalidJWTToken: Token has expired {0} seconds ago")]
    TokenExpired(u64),
    #[error("MalformedJWT: The token provided is not a valid JWT")]
    MalformedJwt,
    #[error("Unauthorized: You do not have permissions to read from this Channel topic: {0}")]
    Unauthorized(String),
    #[error("RealtimeNodeDisconnected: Room unavailable, retry")]
    RoomUnavailable,
    #[error("ConnectionRateLimitReached: Too many connected users")]
    TooManyUsers,
    #[error("ClientJoinRateLimitReached: Too many joins per second")]
    TooManyJoins,
    #[error("InvalidJWTToken: {0}")]
    InvalidToken(String),
    #[error("DatabaseConnectionIssue: Could not check access to this channel, retry")]
    DatabaseUnavailable,
    #[error("InvalidTopic: Topic names are at most 246 bytes, without control characters")]
    InvalidTopic,
    #[error("Unauthorized: Channel {0} is private: join it with config.private = true")]
    PrivateOnly(String),
    #[error("Unauthorized: The access policies could not evaluate this token: {0}")]
    PolicyError(String),
    #[error("InvalidJoin: {0}")]
    InvalidJoin(String),
    #[error("ServerMisconfigured: The server cannot verify tokens now; an operator must fix its configuration")]
    ServerMisconfigured,
}

/// Text of the `system` message sent before a channel is closed for sending too fast.
pub const TOO_MANY_MESSAGES: &str = "Too many messages per second";
/// The close reason of a socket closed after `IDLE_TIMEOUT_MS` without a frame (1000).
pub const IDLE: &str = "idle timeout";

/// The close reason of a socket closed for its backlog (close code 4001).
pub fn too_slow(max_buffered: usize) -> String {
    format!("too slow: over {max_buffered} bytes waiting to be read")
}

/// The `system` message a channel gets before its socket is closed for its backlog: what
/// happened and how to catch up (a rejoin with `postgres_changes_replay.after` for
/// database changes, `broadcast.replay` for the stored broadcasts of a private channel).
pub fn client_too_slow(max_buffered: usize) -> String {
    format!(
        "ClientTooSlow: over {max_buffered} bytes were waiting to be read, so the socket is closed; \
         reconnect and rejoin with your last position to catch up"
    )
}

/// Text of the `system` message for a socket over its presence call budget.
pub const PRESENCE_RATE_LIMITED: &str = "Client presence rate limit exceeded";
/// Ack reply `response` for a broadcast over the payload size limit.
pub const PAYLOAD_TOO_LARGE: &str = "payload_size_exceeded";
/// `system` message closing a channel whose `access_token` pushes exceed their budget.
pub const TOO_MANY_REFRESHES: &str = "Too many token refreshes";

/// Reply reason for a `track` payload over the presence size limit.
pub fn presence_too_large(limit: usize) -> String {
    format!("PresencePayloadTooLarge: Presence payload exceeds {limit} bytes")
}

/// Reply reason for a `track` whose payload is not an object.
pub const PRESENCE_NOT_A_MAP: &str = "Presence track payload must be a map";

/// Reason for a write (broadcast, track) refused on a private channel.
pub fn write_refused(channel: &str) -> String {
    format!("Unauthorized: You do not have permissions to write to this Channel topic: {channel}")
}

/// Broadcast events the server sends on private channels (the database, through the
/// room: live tallies, group membership, unread counts). Clients may not send them
/// there, so a subscriber can trust a `poll_tally` or a `member_left` it hears.
pub const SERVER_EVENTS: &[&str] = &[
    "poll_tally",
    "event_state",
    "member_joined",
    "member_left",
    "member_role_changed",
    "group_updated",
    "unread_count",
];

/// Whether a client may not send broadcast `event` on a channel that is `private`.
pub fn is_server_event(event: &str, private: bool) -> bool {
    private && SERVER_EVENTS.contains(&event)
}

pub fn server_event_refused(event: &str) -> String {
    format!("Unauthorized: the server sends {event} on private channels; clients may not")
}

/// Why a REST broadcast message was not sent although allowed so far: its room, or the
/// database its write policy needs, could not be reached.
pub const BROADCAST_UNAVAILABLE: &str =
    "DatabaseConnectionIssue: Could not reach the channel or check write access, retry";

/// The reason text of a reply to a frame on a topic the socket has not joined.
pub const UNMATCHED_TOPIC: &str = "unmatched topic";

/// WebSocket close codes (see the table above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCode {
    Normal = 1000,
    GoingAway = 1001,
    TooBig = 1009,
    InternalError = 1011,
    TooSlow = 4001,
}

impl CloseCode {
    pub fn code(self) -> u16 {
        self as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_s_event_names_are_refused_from_clients_on_private_channels_only() {
        assert!(is_server_event("poll_tally", true));
        assert!(!is_server_event("poll_tally", false), "a public channel trusts nothing anyway");
        assert!(!is_server_event("typing", true));
        assert!(server_event_refused("member_left").starts_with("Unauthorized:"));
    }

    #[test]
    fn join_errors_read_code_colon_message() {
        assert_eq!(JoinError::TokenExpired(12).to_string(), "InvalidJWTToken: Token has expired 12 seconds ago");
        assert_eq!(
            JoinError::Unauthorized("conversation:1".into()).to_string(),
            "Unauthorized: You do not have permissions to read from this Channel topic: conversation:1"
        );
    }

    #[test]
    fn connect_refusals_are_json_with_an_error_field() {
        let body: serde_json::Value = serde_json::from_str(&ConnectRefusal::RoleAndExpRequired.body()).unwrap();
        assert_eq!(body, serde_json::json!({"error": "Fields `role` and `exp` are required in JWT"}));
        assert_eq!(ConnectRefusal::BadSignature.status(), 401);
        assert_eq!(ConnectRefusal::UnsupportedVsn.status(), 400);
    }
}
