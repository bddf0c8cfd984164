//! The caller's notifications through the edge (rules and types:
//! [`edge_api::notifications`]):
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/functions/v1/notifications?limit=&before=&unread=true` | 200 `{"items", "next"}`, newest first |
//! | GET | `/functions/v1/notifications/unread-count` | 200 `{"unread"}` |
//! | POST | `/functions/v1/notifications/read` `{"ids": [...]}` or `{"all": true}` | 200 `{"marked", "unread"}` |
//!
//! As the caller, in the user's object (RLS shows a user their own notifications only).
//! Notifications themselves are made by the database; each statement that adds some or
//! marks some read also broadcasts the recipient's new unread count on `user:<id>`
//! (migration 20261127120000), which reaches subscribers through the change feed.

use crate::error::{json_response, EdgeError};
use crate::user_object::{self, CallerCall, UserCall};
use crate::{caller, feed_object};
use edge_api::answers::{conform, MarkedRead, Notification, PageOf, UnreadNotifications};
use edge_api::notifications::{self, MarkRead, Marked};
use edge_api::paging::{Cursor, Keyset, ListQuery, Page};
use edge_api::{body, ApiError};
use room::Identity;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio_postgres::types::Type;
use tokio_postgres::Client;
use uuid::Uuid;
use worker::{Context, Env, Request, Response};

/// What the user's object runs for these endpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum NotificationCall {
    List { page: Page, unread_only: bool },
    UnreadCount,
    MarkRead(Marked),
}

impl CallerCall for NotificationCall {
    fn cost(&self) -> u32 {
        match self {
            NotificationCall::MarkRead(_) => 1,
            NotificationCall::List { .. } | NotificationCall::UnreadCount => 0,
        }
    }

    async fn answer(
        &self,
        client: &Client,
        identity: &Identity,
    ) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
        let answer = answer(client, identity, self).await?;
        Ok(answer.and_then(|value| match self {
            NotificationCall::List { .. } => conform::<PageOf<Notification>>(value),
            NotificationCall::UnreadCount => conform::<UnreadNotifications>(value),
            NotificationCall::MarkRead(_) => conform::<MarkedRead>(value),
        }))
    }
}

/// `GET /functions/v1/notifications` and `GET /functions/v1/notifications/unread-count`.
pub async fn read(req: Request, env: Env, what: Option<&str>) -> Result<Response, EdgeError> {
    let (identity, me) = caller::signed_in(&req, &env)?;
    let call = match what {
        None => {
            let query = ListQuery::parse(req.url()?.query_pairs(), &["unread"])?;
            NotificationCall::List { page: query.page, unread_only: query.has("unread") }
        }
        Some("unread-count") => NotificationCall::UnreadCount,
        Some(_) => return Err(EdgeError::NotFound),
    };
    Ok(json_response(200, &run(&env, identity, &me, call).await?)?)
}

/// `POST /functions/v1/notifications/read`.
pub async fn mark_read(mut req: Request, env: Env, ctx: &Context) -> Result<Response, EdgeError> {
    // Who asks comes first: a caller without a user learns nothing about the body.
    let (identity, me) = caller::signed_in(&req, &env)?;
    let bytes = req.bytes().await?;
    let target = body::parse::<MarkRead>(&bytes, notifications::MAX_REQUEST_BYTES)?.target()?;
    let answer = run(&env, identity, &me, NotificationCall::MarkRead(target)).await?;
    if answer["marked"].as_i64().unwrap_or(0) > 0 {
        // The new unread count is a broadcast from the database: wake the feed for it.
        feed_object::wake_after(&env, ctx);
    }
    Ok(json_response(200, &answer)?)
}

async fn run(env: &Env, identity: Identity, me: &str, call: NotificationCall) -> Result<Value, EdgeError> {
    user_object::call(env, me, &UserCall::Notifications { identity, call }).await
}

/// Runs `call` as `identity` on `client` (in the user's object).
async fn answer(
    client: &Client,
    identity: &Identity,
    call: &NotificationCall,
) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
    const UNREAD: &str = "select count(*) from public.live_notifications
                           where recipient_id = (select auth.uid()) and read_at is null";
    match call {
        NotificationCall::List { page, unread_only } => list(client, identity, page, *unread_only).await,
        NotificationCall::UnreadCount => {
            let rows = caller::query_as(client, identity, UNREAD, &[]).await?;
            let unread: i64 = match rows.first() {
                Some(row) => row.try_get(0)?,
                None => return Ok(Err(ApiError::internal())),
            };
            Ok(Ok(json!({ "unread": unread })))
        }
        NotificationCall::MarkRead(target) => {
            let (all, ids): (bool, Vec<String>) = match target {
                Marked::All => (true, Vec::new()),
                Marked::Ids(ids) => (false, ids.iter().map(Uuid::to_string).collect()),
            };
            // The outer count reads the table as it was before this statement's update.
            let statement = format!(
                "with marked as (
                     update public.live_notifications set read_at = now()
                      where recipient_id = (select auth.uid()) and read_at is null
                        and ($1::bool or id = any($2::text[]::uuid[]))
                      returning 1)
                 select (select count(*) from marked), ({UNREAD}) - (select count(*) from marked)"
            );
            let rows =
                caller::query_as(client, identity, &statement, &[(&all, Type::BOOL), (&ids, Type::TEXT_ARRAY)]).await?;
            let Some(row) = rows.first() else { return Ok(Err(ApiError::internal())) };
            let (marked, unread): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
            Ok(Ok(json!({ "marked": marked, "unread": unread })))
        }
    }
}

async fn list(
    client: &Client,
    identity: &Identity,
    page: &Page,
    unread_only: bool,
) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
    let keyset = Keyset { at: "n.created_at", id: "n.id" };
    let statement = format!(
        "select n.id::text, n.kind::text, n.actor_id::text, n.title, n.body, n.data::text,
                to_json(n.read_at)#>>'{{}}', to_json(n.created_at)#>>'{{}}', {}
           from public.live_notifications n
          where n.recipient_id = (select auth.uid())
            and (not $1::bool or n.read_at is null) and {}
          {}",
        keyset.cursor_column(),
        keyset.after_cursor(),
        keyset.order_and_limit(),
    );
    caller::page_as(client, identity, &statement, (&unread_only, Type::BOOL), page, |row| {
        let id: String = row.try_get(0)?;
        let data: String = row.try_get(5)?;
        let item = json!({
            "id": id,
            "kind": row.try_get::<_, String>(1)?,
            "actor_id": row.try_get::<_, Option<String>>(2)?,
            "title": row.try_get::<_, String>(3)?,
            "body": row.try_get::<_, Option<String>>(4)?,
            "data": serde_json::from_str::<Value>(&data).unwrap_or(Value::Null),
            "read_at": row.try_get::<_, Option<String>>(6)?,
            "created_at": row.try_get::<_, String>(7)?,
        });
        let Ok(id) = Uuid::parse_str(&id) else { return Ok(None) };
        Ok(Some((item, Cursor { micros: row.try_get(8)?, id })))
    })
    .await
}
