//! The URL space of the Worker.
//!
//! | method | path | handler |
//! |---|---|---|
//! | GET | `/functions/v1/health` | [`crate::health`] |
//! | GET | `/functions/v1/openapi.json` | [`edge_api::openapi::document`] |
//! | POST | `/functions/v1/messages` | [`crate::messages_api::send`] |
//! | POST | `/functions/v1/messages/batch` | [`crate::messages_api::send_batch`] |
//! | POST | `/functions/v1/follows` | [`crate::follows_api::follow`] |
//! | DELETE | `/functions/v1/follows/<user_id>` | [`crate::follows_api::unfollow`] |
//! | GET | `/functions/v1/users/<user_id>/followers`, `…/following`, `…/follow-counts` | [`crate::follows_api::read`] |
//! | GET | `/functions/v1/notifications`, `…/unread-count` | [`crate::notifications_api::read`] |
//! | POST | `/functions/v1/notifications/read` | [`crate::notifications_api::mark_read`] |
//! | GET, POST | `/functions/v1/presence` | [`crate::presence_api::handle`] |
//! | any | `/functions/v1/threads`, `/functions/v1/threads/…` | [`crate::threads_api::handle`] (its own table) |
//! | any | `/functions/v1/groups`, `/functions/v1/groups/…` | [`crate::groups_api::handle`] (its own table) |
//! | any | `/functions/v1/polls`, `/functions/v1/polls/…` | [`crate::polls_api::handle`] (its own table) |
//! | any | `/functions/v1/events`, `/functions/v1/events/…` | [`crate::events_api::handle`] (its own table) |
//! | POST | `/realtime/v1/api/scheduler/forget` | [`crate::realtime_api::forget_scheduler`] (service role) |
//! | PATCH, DELETE | `/functions/v1/messages/<message_id>` | [`crate::threads_api::handle_message`] |
//! | GET (upgrade) | `/realtime/v1/websocket` | [`crate::realtime_socket::upgrade`] (many topics, relayed) |
//! | GET (upgrade) | `/realtime/v1/channel/websocket?topic=` | [`crate::realtime_socket::upgrade_direct`] (one topic, straight to its room) |
//! | POST | `/realtime/v1/api/broadcast` | [`crate::realtime_api::broadcast`] |
//! | GET | `/realtime/v1/api/rooms/<topic>` | [`crate::realtime_api::room_stats`] (service role) |
//! | POST | `/realtime/v1/api/rooms/<topic>/forget` | [`crate::realtime_api::forget_room`] (service role) |
//! | any | `/rest/v1/…`, `/auth/v1/…`, `/storage/v1/…`, `/graphql/v1` | [`crate::upstream_proxy`] to `SUPABASE_URL`, when set |

use crate::error::EdgeError;
use crate::{
    events_api, follows_api, groups_api, health, messages_api, notifications_api, polls_api, presence_api,
    realtime_api, realtime_socket, threads_api, upstream_proxy,
};
use worker::{Context, Env, Method, Request, Response};

pub async fn route(req: Request, env: Env, ctx: &Context) -> Result<Response, EdgeError> {
    let path = req.path();
    if upstream_proxy::handles(&path) {
        return upstream_proxy::forward(req, &env).await;
    }
    match path.trim_end_matches('/') {
        "/functions/v1/health" => match req.method() {
            Method::Get | Method::Head => health::get(&env).await,
            _ => Err(EdgeError::MethodNotAllowed),
        },
        "/functions/v1/openapi.json" => match req.method() {
            Method::Get | Method::Head => {
                Ok(crate::error::json_response(200, &edge_api::openapi::document(crate::settings::VERSION))?)
            }
            _ => Err(EdgeError::MethodNotAllowed),
        },
        "/functions/v1/messages" => match req.method() {
            Method::Post => messages_api::send(req, env, ctx).await,
            _ => Err(EdgeError::MethodNotAllowed),
        },
        "/functions/v1/messages/batch" => match req.method() {
            Method::Post => messages_api::send_batch(req, env, ctx).await,
            _ => Err(EdgeError::MethodNotAllowed),
        },
        "/functions/v1/follows" => match req.method() {
            Method::Post => follows_api::follow(req, env, ctx).await,
            _ => Err(EdgeError::MethodNotAllowed),
        },
        "/functions/v1/notifications" => match req.method() {
            Method::Get => notifications_api::read(req, env, None).await,
            _ => Err(EdgeError::MethodNotAllowed),
        },
        "/functions/v1/notifications/unread-count" => match req.method() {
            Method::Get => notifications_api::read(req, env, Some("unread-count")).await,
            _ => Err(EdgeError::MethodNotAllowed),
        },
        "/functions/v1/notifications/read" => match req.method() {
            Method::Post => notifications_api::mark_read(req, env, ctx).await,
            _ => Err(EdgeError::MethodNotAllowed),
        },
        "/realtime/v1/websocket" => realtime_socket::upgrade(req, env).await,
        "/realtime/v1/channel/websocket" => realtime_socket::upgrade_direct(req, env).await,
        "/realtime/v1/api/broadcast" => match req.method() {
            Method::Post => realtime_api::broadcast(req, env).await,
            _ => Err(EdgeError::MethodNotAllowed),
        },
        "/realtime/v1/api/feed/forget" => match req.method() {
            Method::Post => realtime_api::forget_feed(req, env).await,
            _ => Err(EdgeError::MethodNotAllowed),
        },
        "/realtime/v1/api/scheduler/forget" => match req.method() {
            Method::Post => realtime_api::forget_scheduler(req, env).await,
            _ => Err(EdgeError::MethodNotAllowed),
        },
        "/functions/v1/presence" => presence_api::handle(req, env, ctx).await,
        "/functions/v1/threads" => threads_api::handle(req, env, ctx, &[]).await,
        "/functions/v1/groups" => groups_api::handle(req, env, ctx, &[]).await,
        other if other.starts_with("/functions/v1/groups/") => {
            let segments: Vec<&str> = other.split('/').skip(4).collect();
            groups_api::handle(req, env, ctx, &segments).await
        }
        "/functions/v1/polls" => polls_api::handle(req, env, ctx, &[]).await,
        other if other.starts_with("/functions/v1/polls/") => {
            let segments: Vec<&str> = other.split('/').skip(4).collect();
            polls_api::handle(req, env, ctx, &segments).await
        }
        "/functions/v1/events" => events_api::handle(req, env, ctx, &[]).await,
        other if other.starts_with("/functions/v1/events/") => {
            let segments: Vec<&str> = other.split('/').skip(4).collect();
            events_api::handle(req, env, ctx, &segments).await
        }
        other if other.starts_with("/functions/v1/threads/") => {
            let segments: Vec<&str> = other.split('/').skip(4).collect();
            threads_api::handle(req, env, ctx, &segments).await
        }
        other if other.starts_with("/functions/v1/messages/") => match other.split('/').skip(4).collect::<Vec<_>>()[..]
        {
            [message] => threads_api::handle_message(req, env, ctx, message).await,
            _ => Err(EdgeError::NotFound),
        },
        other if other.starts_with("/functions/v1/follows/") || other.starts_with("/functions/v1/users/") => {
            let segments: Vec<&str> = other.split('/').skip(3).collect();
            match (req.method(), segments.as_slice()) {
                (Method::Delete, ["follows", user_id]) => follows_api::unfollow(req, env, user_id).await,
                (Method::Get, ["users", user_id, what]) => follows_api::read(req, env, user_id, what).await,
                (_, ["follows", _]) | (_, ["users", _, _]) => Err(EdgeError::MethodNotAllowed),
                _ => Err(EdgeError::NotFound),
            }
        }
        other => match other.strip_prefix("/realtime/v1/api/rooms/") {
            Some(rest) => {
                let decode = |t: &str| percent_encoding::percent_decode_str(t).decode_utf8_lossy().into_owned();
                match (req.method(), rest.strip_suffix("/forget")) {
                    (Method::Post, Some(topic)) => realtime_api::forget_room(req, env, &decode(topic)).await,
                    (Method::Get, None) => realtime_api::room_stats(req, env, &decode(rest)).await,
                    _ => Err(EdgeError::MethodNotAllowed),
                }
            }
            None => Err(EdgeError::NotFound),
        },
    }
}
