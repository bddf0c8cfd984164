//! The one error shape of the edge functions: `{"error": {"code": "...", "message": "..."}}`
//! with an HTTP status. `code` is stable and meant for programs; `message` is for people
//! and may change.
//!
//! | status | code | when |
//! |---|---|---|
//! | 400 | `invalid_request` | the body does not parse, or a field is out of range (the message names it) |
//! | 401 | `unauthorized` | no token, a token that does not verify, or a token without a user where one is needed |
//! | 403 | `forbidden` | Row Level Security or a grant refused the statement (SQLSTATE 42501) |
//! | 404 | `not_found` | no such endpoint, or no such row the caller may see |
//! | 405 | `method_not_allowed` | the endpoint exists, the method does not |
//! | 409 | `conflict` | a unique key already holds another row (23505), or an idempotency key reused for another thread |
//! | 413 | `payload_too_large` | the body is over the endpoint's cap |
//! | 426 | `upgrade_required` | a realtime socket endpoint called without a WebSocket upgrade |
//! | 429 | `rate_limited` | too many requests; `Retry-After` says when to try again |
//! | 500 | `internal` | a bug or a misconfiguration (details only in the Worker's log) |
//! | 500 | `misconfigured` | health only: the configuration is invalid, and the message says which setting |
//! | 502 | `upstream_unavailable` | the Supabase project behind the proxy is unreachable |
//! | 503 | `database_unavailable` | the database cannot be reached right now; retry later |

use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// Seconds, for `Retry-After` (429 and 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), retry_after: None }
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "invalid_request", message)
    }

    /// A field that is present but wrong: the message starts with the field's path.
    pub fn invalid_field(field: &str, why: impl std::fmt::Display) -> ApiError {
        ApiError::invalid(format!("{field}: {why}"))
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(401, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(403, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, "not_found", message)
    }

    pub fn method_not_allowed() -> ApiError {
        ApiError::new(405, "method_not_allowed", "method not allowed")
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(409, "conflict", message)
    }

    pub fn too_large(limit_bytes: usize) -> ApiError {
        ApiError::new(413, "payload_too_large", format!("the body is over {limit_bytes} bytes"))
    }

    pub fn rate_limited(retry_after_s: u64) -> ApiError {
        ApiError { retry_after: Some(retry_after_s.max(1)), ..ApiError::new(429, "rate_limited", "too many requests") }
    }

    /// A failure of ours: the details go to the log, the client learns only that it happened.
    pub fn internal() -> ApiError {
        ApiError::new(500, "internal", "internal error")
    }

    /// Health's answer for an invalid configuration; the message names the setting.
    pub fn misconfigured(message: impl Into<String>) -> ApiError {
        ApiError::new(500, "misconfigured", message)
    }

    pub fn upstream_unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(502, "upstream_unavailable", message)
    }

    pub fn database_unavailable() -> ApiError {
        ApiError { retry_after: Some(1), ..ApiError::new(503, "database_unavailable", "database unavailable") }
    }

    /// How a statement's failure is answered, from its SQLSTATE and the server's message.
    /// The server's message is passed on only where it describes the caller's input (a
    /// check, a bad value); a refusal says no more than that it was refused, so it cannot
    /// tell a stranger whether a row exists.
    ///
    /// `PTxxx` is PostgREST's convention for a function that chooses its HTTP status: the
    /// project's SQL functions raise it with a message written for the client (`PT404`
    /// "no such group, or it is private"), so PostgREST and the edge answer alike.
    pub fn from_sqlstate(code: &str, message: &str) -> ApiError {
        if let Some(status) = code.strip_prefix("PT").and_then(|s| s.parse::<u16>().ok()) {
            let chosen = ApiError::from_status(status, message);
            if chosen.status != 500 {
                return chosen;
            }
        }
        match code {
            "42501" => ApiError::forbidden("not allowed"),
            "23505" => ApiError::conflict("already exists"),
            "P0002" => ApiError::not_found("not found"),
            // Class 22 (data exception) is a value the caller sent: a time out of range,
            // a number too large, a string too long, text that is no UUID.
            "23514" | "23502" | "23503" => ApiError::invalid(message),
            _ if code.starts_with("22") => ApiError::invalid(message),
            _ if is_transient(code) => ApiError::database_unavailable(),
            _ => ApiError::internal(),
        }
    }

    /// An error known only by its status (a refusal of the realtime upgrade, say), with
    /// the code that status has in the table above.
    pub fn from_status(status: u16, message: impl Into<String>) -> ApiError {
        let code = match status {
            400 => "invalid_request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not_found",
            405 => "method_not_allowed",
            409 => "conflict",
            413 => "payload_too_large",
            426 => "upgrade_required",
            429 => "rate_limited",
            502 => "upstream_unavailable",
            503 => "database_unavailable",
            _ => return ApiError::internal(),
        };
        ApiError::new(status, code, message)
    }

    pub fn body(&self) -> Value {
        json!({ "error": { "code": self.code, "message": self.message } })
    }
}

/// SQLSTATE classes that say the server, not the statement, is the problem: connection
/// exceptions (08), resource limits (53), operator intervention such as a shutdown (57),
/// system errors (58), and a serialization failure or deadlock (40), worth a retry.
pub fn is_transient(code: &str) -> bool {
    matches!(code.get(..2), Some("08" | "53" | "57" | "58" | "40"))
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_refusal_says_nothing_about_the_row() {
        let e = ApiError::from_sqlstate("42501", "new row violates row-level security policy for table \"messages\"");
        assert_eq!((e.status, e.code, e.message.as_str()), (403, "forbidden", "not allowed"));
    }

    #[test]
    fn a_check_violation_is_the_caller_s_input_and_says_why() {
        let e = ApiError::from_sqlstate("23514", "reply_to must be a message of the same thread");
        assert_eq!((e.status, e.code), (400, "invalid_request"));
        assert!(e.message.contains("reply_to"));
        let zone = ApiError::from_sqlstate("22009", "time zone displacement out of range");
        assert_eq!((zone.status, zone.message.as_str()), (400, "time zone displacement out of range"));
    }

    #[test]
    fn a_server_side_failure_is_retryable_or_internal_and_hides_its_text() {
        let down = ApiError::from_sqlstate("57P01", "terminating connection due to administrator command");
        assert_eq!((down.status, down.retry_after), (503, Some(1)));
        assert!(!down.message.contains("administrator"));
        let bug = ApiError::from_sqlstate("42P01", "relation \"public.nope\" does not exist");
        assert_eq!((bug.status, bug.message.as_str()), (500, "internal error"));
    }

    #[test]
    fn a_function_s_chosen_status_carries_its_own_message_and_an_unknown_one_is_internal() {
        let e = ApiError::from_sqlstate("PT409", "the owner hands ownership over before leaving");
        assert_eq!(
            (e.status, e.code, e.message.as_str()),
            (409, "conflict", "the owner hands ownership over before leaving")
        );
        assert_eq!(ApiError::from_sqlstate("PT404", "no such group").status, 404);
        assert_eq!(ApiError::from_sqlstate("PT999", "x").status, 500);
        assert_eq!(ApiError::from_sqlstate("PTabc", "x").status, 500);
    }

    #[test]
    fn the_body_has_the_one_shape() {
        let e = ApiError::rate_limited(0);
        assert_eq!(e.body(), json!({"error": {"code": "rate_limited", "message": "too many requests"}}));
        assert_eq!(e.retry_after, Some(1), "Retry-After is never 0");
    }
}
