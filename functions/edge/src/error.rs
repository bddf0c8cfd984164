//! The Worker's error type. Every failure that reaches the router becomes one of these,
//! and every one of these becomes a JSON body with a status, never a panic or an HTML page.

use realtime_protocol::ConnectRefusal;
use serde_json::json;
use worker::Response;

#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("{}", .0.message())]
    Refused(ConnectRefusal),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("server misconfigured: {0}")]
    Misconfigured(String),
    #[error("database unavailable: {0}")]
    DatabaseUnavailable(String),
    #[error("the Supabase project is unreachable: {0}")]
    UpstreamUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<worker::Error> for EdgeError {
    fn from(e: worker::Error) -> Self {
        EdgeError::Internal(e.to_string())
    }
}

impl EdgeError {
    pub fn status(&self) -> u16 {
        match self {
            EdgeError::Refused(r) => r.status(),
            EdgeError::BadRequest(_) => 400,
            EdgeError::Forbidden(_) => 403,
            EdgeError::NotFound => 404,
            EdgeError::MethodNotAllowed => 405,
            EdgeError::DatabaseUnavailable(_) => 503,
            EdgeError::UpstreamUnavailable(_) => 502,
            EdgeError::Misconfigured(_) | EdgeError::Internal(_) => 500,
        }
    }

    pub fn into_response(self) -> worker::Result<Response> {
        if self.status() >= 500 {
            worker::console_error!("{self}");
        }
        // What went wrong inside stays in the log; the client learns only that it did.
        let message = match &self {
            EdgeError::Internal(_) => "internal error".to_string(),
            other => other.to_string(),
        };
        json_response(self.status(), &json!({ "error": message }))
    }
}

/// A JSON response with the given status.
pub fn json_response(status: u16, body: &serde_json::Value) -> worker::Result<Response> {
    let mut response = Response::from_json(body)?.with_status(status);
    response.headers_mut().set("cache-control", "no-store")?;
    Ok(response)
}
