//! The URL space of the Worker.
//!
//! | method | path | handler |
//! |---|---|---|
//! | GET | `/functions/v1/health` | [`crate::health`] |
//! | GET (upgrade) | `/realtime/v1/websocket` | [`crate::realtime_socket`] |

use crate::error::EdgeError;
use crate::{health, realtime_socket};
use worker::{Env, Method, Request, Response};

pub async fn route(req: Request, env: Env) -> Result<Response, EdgeError> {
    let path = req.path();
    match path.trim_end_matches('/') {
        "/functions/v1/health" => match req.method() {
            Method::Get | Method::Head => health::get(&env).await,
            _ => Err(EdgeError::MethodNotAllowed),
        },
        "/realtime/v1/websocket" => realtime_socket::upgrade(req, env).await,
        _ => Err(EdgeError::NotFound),
    }
}
