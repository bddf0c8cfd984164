//! The Worker's error type. Every failure that reaches the router becomes one of these,
//! and every one of these becomes the one JSON error shape of [`edge_api::error`]
//! (`{"error": {"code", "message"}}`) with its status, never a panic or an HTML page.

use edge_api::ApiError;
use realtime_protocol::ConnectRefusal;
use worker::Response;

#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// An edge function's answer, already in the client's terms.
    #[error("{0}")]
    Api(ApiError),
    #[error("{}", .0.message())]
    Refused(ConnectRefusal),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    /// No endpoint at this path (a missing resource is the endpoint's own `Api` 404,
    /// which says what is missing).
    #[error("no such endpoint")]
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

impl From<ApiError> for EdgeError {
    fn from(e: ApiError) -> Self {
        EdgeError::Api(e)
    }
}

impl EdgeError {
    /// What the client is told. What went wrong inside (a misconfiguration, a bug, the
    /// database's own words) stays in the log.
    pub fn to_api(&self) -> ApiError {
        match self {
            EdgeError::Api(e) => e.clone(),
            EdgeError::Refused(r) => ApiError::from_status(r.status(), r.message()),
            EdgeError::BadRequest(m) => ApiError::invalid(m.clone()),
            EdgeError::Forbidden(m) => ApiError::forbidden(m.clone()),
            EdgeError::NotFound => ApiError::not_found("no such endpoint"),
            EdgeError::MethodNotAllowed => ApiError::method_not_allowed(),
            EdgeError::DatabaseUnavailable(_) => ApiError::database_unavailable(),
            EdgeError::UpstreamUnavailable(m) => ApiError::upstream_unavailable(m.clone()),
            EdgeError::Misconfigured(_) | EdgeError::Internal(_) => ApiError::internal(),
        }
    }

    pub fn into_response(self) -> worker::Result<Response> {
        let api = self.to_api();
        if api.status >= 500 {
            worker::console_error!("{self}");
        }
        error_response(&api)
    }
}

/// The response for `error`: its status, its JSON body, and `Retry-After` when it has one.
pub fn error_response(error: &ApiError) -> worker::Result<Response> {
    let mut response = json_response(error.status, &error.body())?;
    if let Some(seconds) = error.retry_after {
        response.headers_mut().set("retry-after", &seconds.to_string())?;
    }
    Ok(response)
}

/// A JSON response with the given status.
pub fn json_response(status: u16, body: &serde_json::Value) -> worker::Result<Response> {
    let mut response = Response::from_json(body)?.with_status(status);
    response.headers_mut().set("cache-control", "no-store")?;
    Ok(response)
}
