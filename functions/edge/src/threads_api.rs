//! Threads through the edge (rules and types: [`edge_api::threads`]):
//!
//! | method | path | answer |
//! |---|---|---|
//! | POST | `/functions/v1/threads/direct` `{"user_id"}` | 200 the direct thread with that user, started if new |
//! | POST | `/functions/v1/threads` `{"title", "participant_ids"}` | 201 a group thread the caller owns |
//! | GET | `/functions/v1/threads?limit=&before=&unread=true` | 200 `{"items", "next"}`, most recently active first |
//! | GET | `/functions/v1/threads/unread` | 200 `{"total", "threads": [{"thread_id", "unread"}]}` |
//! | GET | `/functions/v1/threads/<id>` | 200 the thread with its participants |
//! | POST | `/functions/v1/threads/<id>/participants` `{"user_ids"}` | 200 the thread (owner only) |
//! | DELETE | `/functions/v1/threads/<id>/participants/<user_id>` | 204: the owner removes, or one leaves |
//! | POST | `/functions/v1/threads/<id>/mute` `{"muted"}` | 200 `{"thread_id", "muted"}` |
//! | POST | `/functions/v1/threads/<id>/read` `{"seq"}` | 200 `{"thread_id", "last_read_seq", "unread"}` |
//! | GET | `/functions/v1/threads/<id>/messages?before=&after=&limit=&order=` | 200 `{"items", "next"}` |
//! | PATCH | `/functions/v1/messages/<id>` `{"body", "attachments"}` | 200 the edited message (sender only) |
//! | DELETE | `/functions/v1/messages/<id>` | 200 the tombstone (sender, or a group thread's owner) |
//!
//! A thread is described by `public.describe_thread` and listed from `public.my_threads`
//! (migration 20261127140000), the same that PostgREST serves, so "unread" means one
//! thing everywhere. Every statement runs as the caller in the user's object (a kept
//! connection, and the write budget across isolates), so RLS decides; a thread the
//! caller does not take part in is 404, whether or not it exists. After a write the
//! change feed is woken, so an edit, a tombstone or a new participant reaches
//! subscribers without waiting for its next poll.

use crate::caller;
use crate::error::EdgeError;
use crate::user_object::{self, CallerCall, UserCall};
use edge_api::answers::{
    conform, HistoryPage, Message, MuteState, PageOf, ReadMark, Thread, ThreadDetails, UnreadMessages,
};
use edge_api::paging::{Cursor, Keyset, ListQuery, Page};
use edge_api::threads::{
    self, AddParticipants, DirectThread, EditMessage, History, MarkRead, Mute, NewGroupThread, Order,
};
use edge_api::{messages, ApiError};
use room::Identity;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;
use uuid::Uuid;
use worker::{Context, Env, Method, Request, Response};

/// What the user's object runs for these endpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ThreadCall {
    OpenDirect(Uuid),
    CreateGroup(NewGroupThread),
    List { page: Page, unread_only: bool },
    Unread,
    Get(Uuid),
    AddParticipants { thread: Uuid, user_ids: Vec<Uuid> },
    RemoveParticipant { thread: Uuid, user_id: Uuid },
    Mute { thread: Uuid, muted: bool },
    MarkRead { thread: Uuid, seq: Option<i64> },
    History { thread: Uuid, query: History },
    Edit { message: Uuid, edit: EditMessage },
    Delete(Uuid),
}

impl CallerCall for ThreadCall {
    fn cost(&self) -> u32 {
        match self {
            ThreadCall::List { .. } | ThreadCall::Unread | ThreadCall::Get(_) | ThreadCall::History { .. } => 0,
            _ => 1,
        }
    }

    async fn answer(
        &self,
        client: &Client,
        identity: &Identity,
    ) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
        Ok(answer(client, identity, self).await?.and_then(|value| self.conform(value)))
    }
}

impl ThreadCall {
    /// The answer in the documented type of its endpoint.
    fn conform(&self, value: Value) -> Result<Value, ApiError> {
        match self {
            ThreadCall::OpenDirect(_) | ThreadCall::CreateGroup(_) | ThreadCall::Get(_) => {
                conform::<ThreadDetails>(value)
            }
            ThreadCall::AddParticipants { .. } => conform::<ThreadDetails>(value),
            ThreadCall::List { .. } => conform::<PageOf<Thread>>(value),
            ThreadCall::Unread => conform::<UnreadMessages>(value),
            ThreadCall::RemoveParticipant { .. } => Ok(value),
            ThreadCall::Mute { .. } => conform::<MuteState>(value),
            ThreadCall::MarkRead { .. } => conform::<ReadMark>(value),
            ThreadCall::History { .. } => conform::<HistoryPage>(value),
            ThreadCall::Edit { .. } | ThreadCall::Delete(_) => conform::<Message>(value),
        }
    }
}

/// Every `/functions/v1/threads…` request; `segments` is the path after `threads`.
pub async fn handle(req: Request, env: Env, ctx: &Context, segments: &[&str]) -> Result<Response, EdgeError> {
    let (identity, me) = caller::signed_in(&req, &env)?;
    let id = |segment: &str| threads::id_in_path(segment);
    let (status, call) = match (req.method(), segments) {
        (Method::Post, []) => {
            let create = caller::parse_body::<NewGroupThread>(req, threads::MAX_REQUEST_BYTES).await?;
            create.check()?;
            (201, ThreadCall::CreateGroup(create))
        }
        (Method::Get, []) => {
            let query = ListQuery::parse(req.url()?.query_pairs(), &["unread"])?;
            (200, ThreadCall::List { page: query.page, unread_only: query.has("unread") })
        }
        (Method::Post, ["direct"]) => {
            let direct = caller::parse_body::<DirectThread>(req, threads::MAX_REQUEST_BYTES).await?;
            direct.check(&me)?;
            (200, ThreadCall::OpenDirect(direct.user_id))
        }
        (Method::Get, ["unread"]) => (200, ThreadCall::Unread),
        (Method::Get, [thread]) => (200, ThreadCall::Get(id(thread)?)),
        (Method::Post, [thread, "participants"]) => {
            let thread = id(thread)?;
            let add = caller::parse_body::<AddParticipants>(req, threads::MAX_REQUEST_BYTES).await?;
            add.check()?;
            (200, ThreadCall::AddParticipants { thread, user_ids: add.user_ids })
        }
        (Method::Delete, [thread, "participants", user_id]) => {
            (204, ThreadCall::RemoveParticipant { thread: id(thread)?, user_id: id(user_id)? })
        }
        (Method::Post, [thread, "mute"]) => {
            let thread = id(thread)?;
            let mute = caller::parse_body::<Mute>(req, threads::MAX_REQUEST_BYTES).await?;
            (200, ThreadCall::Mute { thread, muted: mute.muted })
        }
        (Method::Post, [thread, "read"]) => {
            let thread = id(thread)?;
            let read = caller::parse_body::<MarkRead>(req, threads::MAX_REQUEST_BYTES).await?;
            read.check()?;
            (200, ThreadCall::MarkRead { thread, seq: read.seq })
        }
        (Method::Get, [thread, "messages"]) => {
            let thread = id(thread)?;
            (200, ThreadCall::History { thread, query: History::parse(req.url()?.query_pairs())? })
        }
        (_, [] | ["direct"] | ["unread"] | [_] | [_, "participants" | "mute" | "read" | "messages"])
        | (_, [_, "participants", _]) => return Err(EdgeError::MethodNotAllowed),
        _ => return Err(EdgeError::NotFound),
    };
    respond(&env, ctx, identity, &me, status, call).await
}

/// `PATCH` and `DELETE /functions/v1/messages/<id>`.
pub async fn handle_message(req: Request, env: Env, ctx: &Context, message: &str) -> Result<Response, EdgeError> {
    let (identity, me) = caller::signed_in(&req, &env)?;
    let call = match req.method() {
        Method::Patch => {
            let message = threads::id_in_path(message)?;
            let edit = caller::parse_body::<EditMessage>(req, messages::MAX_REQUEST_BYTES).await?;
            edit.check()?;
            ThreadCall::Edit { message, edit }
        }
        Method::Delete => ThreadCall::Delete(threads::id_in_path(message)?),
        _ => return Err(EdgeError::MethodNotAllowed),
    };
    respond(&env, ctx, identity, &me, 200, call).await
}

/// Runs `call` as the caller in their object and answers `status` with its result.
async fn respond(
    env: &Env,
    ctx: &Context,
    identity: Identity,
    me: &str,
    status: u16,
    call: ThreadCall,
) -> Result<Response, EdgeError> {
    let writes = call.cost() > 0;
    user_object::respond(env, ctx, me, status, &UserCall::Threads { identity, call }, writes).await
}

/// Runs `call` as `identity` on `client` (in the user's object): the endpoint's answer,
/// or its refusal; the outer error is the database's.
async fn answer(
    client: &Client,
    identity: &Identity,
    call: &ThreadCall,
) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
    let no_thread = || ApiError::not_found("no such thread, or you do not take part in it");
    let text = |id: &Uuid| id.to_string();
    let outcome = match call {
        ThreadCall::OpenDirect(user) => caller::json_as(
            client,
            identity,
            "select public.open_direct_thread($1::text::uuid)::text",
            &[(&text(user), Type::TEXT)],
        )
        .await
        .map(|v| v.ok_or_else(no_thread)),
        ThreadCall::CreateGroup(create) => {
            let ids: Vec<String> = create.participant_ids.iter().map(Uuid::to_string).collect();
            caller::json_as(
                client,
                identity,
                "select public.create_group_thread($1::text, $2::text[]::uuid[])::text",
                &[(&create.title, Type::TEXT), (&ids, Type::TEXT_ARRAY)],
            )
            .await
            .map(|v| v.ok_or_else(ApiError::internal))
        }
        ThreadCall::List { page, unread_only } => list(client, identity, page, *unread_only).await,
        ThreadCall::Unread => unread(client, identity).await,
        ThreadCall::Get(thread) => caller::json_as(
            client,
            identity,
            "select public.describe_thread($1::text::uuid)::text",
            &[(&text(thread), Type::TEXT)],
        )
        .await
        .map(|v| v.ok_or_else(no_thread)),
        ThreadCall::AddParticipants { thread, user_ids } => {
            let ids: Vec<String> = user_ids.iter().map(Uuid::to_string).collect();
            caller::json_as(
                client,
                identity,
                "select public.add_thread_participants($1::text::uuid, $2::text[]::uuid[])::text",
                &[(&text(thread), Type::TEXT), (&ids, Type::TEXT_ARRAY)],
            )
            .await
            .map(|v| v.ok_or_else(no_thread))
        }
        ThreadCall::RemoveParticipant { thread, user_id } => remove(client, identity, thread, user_id).await,
        ThreadCall::Mute { thread, muted } => caller::query_as(
            client,
            identity,
            "update public.conversation_participants set muted = $2
              where thread_id = $1::text::uuid and user_id = (select auth.uid()) returning muted",
            &[(&text(thread), Type::TEXT), (muted, Type::BOOL)],
        )
        .await
        .map(|rows| match rows.first() {
            Some(_) => Ok(json!({ "thread_id": thread, "muted": muted })),
            None => Err(no_thread()),
        }),
        ThreadCall::MarkRead { thread, seq } => caller::json_as(
            client,
            identity,
            "select public.mark_thread_read($1::text::uuid, $2::bigint)::text",
            &[(&text(thread), Type::TEXT), (seq, Type::INT8)],
        )
        .await
        .map(|v| v.ok_or_else(no_thread)),
        ThreadCall::History { thread, query } => history(client, identity, thread, query).await,
        ThreadCall::Edit { message, edit } => edit_message(client, identity, message, edit).await,
        ThreadCall::Delete(message) => caller::json_as(
            client,
            identity,
            "select public.delete_message($1::text::uuid)::text",
            &[(&text(message), Type::TEXT)],
        )
        .await
        .map(|v| v.ok_or_else(|| ApiError::not_found("no such message"))),
    };
    match outcome {
        Err(e) => match e.as_db_error().map(|d| (d.code().code(), d.message())) {
            // A participant named who has no account (the foreign key to auth.users).
            Some(("23503", _)) => {
                Ok(Err(ApiError::invalid_field(participants_field(call), "names a user who does not exist")))
            }
            // The participants of a direct thread, a thread at its participant limit:
            // the request is well formed, the thread's state refuses it.
            Some(("23514", message)) if !matches!(call, ThreadCall::Edit { .. }) => {
                Ok(Err(ApiError::conflict(message)))
            }
            _ => Err(e),
        },
        ok => ok,
    }
}

fn participants_field(call: &ThreadCall) -> &'static str {
    match call {
        ThreadCall::CreateGroup(_) => "participant_ids",
        ThreadCall::OpenDirect(_) => "user_id",
        _ => "user_ids",
    }
}

async fn list(
    client: &Client,
    identity: &Identity,
    page: &Page,
    unread_only: bool,
) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
    let keyset = Keyset { at: "t.active_at", id: "t.id" };
    let statement = format!(
        "select to_jsonb(t)::text, t.id::text, {}
           from public.my_threads t
          where (not $1::bool or t.unread > 0) and {}
          {}",
        keyset.cursor_column(),
        keyset.after_cursor(),
        keyset.order_and_limit(),
    );
    caller::page_as(client, identity, &statement, (&unread_only, Type::BOOL), page, |row| {
        let item: String = row.try_get(0)?;
        let id: String = row.try_get(1)?;
        let (Ok(item), Ok(id)) = (serde_json::from_str::<Value>(&item), Uuid::parse_str(&id)) else {
            return Ok(None);
        };
        Ok(Some((item, Cursor { micros: row.try_get(2)?, id })))
    })
    .await
}

async fn unread(client: &Client, identity: &Identity) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
    let statement = "select coalesce(sum(t.unread), 0)::bigint,
                            coalesce(jsonb_agg(jsonb_build_object('thread_id', t.id, 'unread', t.unread)
                                               order by t.active_at desc, t.id desc)
                                     filter (where t.unread > 0), '[]'::jsonb)::text
                       from public.my_threads t";
    let rows = caller::query_as(client, identity, statement, &[]).await?;
    let Some(row) = rows.first() else { return Ok(Err(ApiError::internal())) };
    let total: i64 = row.try_get(0)?;
    let threads: String = row.try_get(1)?;
    Ok(Ok(json!({ "total": total, "threads": serde_json::from_str::<Value>(&threads).unwrap_or(Value::Null) })))
}

/// Removes `user_id` from `thread` (the caller leaving, or the owner removing someone).
/// RLS hides a row the caller may not delete, so the same statement also asks whether
/// the caller can see that participant, to tell 403 from 404.
async fn remove(
    client: &Client,
    identity: &Identity,
    thread: &Uuid,
    user_id: &Uuid,
) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
    let statement = "with removed as (
             delete from public.conversation_participants
              where thread_id = $1::text::uuid and user_id = $2::text::uuid returning 1)
         select (select count(*) from removed),
                exists (select 1 from public.conversation_participants
                         where thread_id = $1::text::uuid and user_id = $2::text::uuid)";
    let params: [(&(dyn ToSql + Sync), Type); 2] =
        [(&thread.to_string(), Type::TEXT), (&user_id.to_string(), Type::TEXT)];
    let rows = caller::query_as(client, identity, statement, &params).await?;
    let Some(row) = rows.first() else { return Ok(Err(ApiError::internal())) };
    let (removed, visible): (i64, bool) = (row.try_get(0)?, row.try_get(1)?);
    Ok(match (removed, visible) {
        (1.., _) => Ok(Value::Null),
        (_, true) => Err(ApiError::forbidden("only the thread's owner can remove others; anyone can leave")),
        (_, false) => Err(ApiError::not_found("no such participant in a thread you take part in")),
    })
}

async fn history(
    client: &Client,
    identity: &Identity,
    thread: &Uuid,
    query: &History,
) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
    let order = match query.order {
        Order::NewestFirst => "desc",
        Order::OldestFirst => "asc",
    };
    let statement = format!(
        "select to_jsonb(m)::text, m.seq from public.messages m
          where m.thread_id = $1::text::uuid
            and ($2::bigint is null or m.seq < $2::bigint) and ($3::bigint is null or m.seq > $3::bigint)
          order by m.seq {order} limit $4::bigint"
    );
    let thread = thread.to_string();
    let params: [(&(dyn ToSql + Sync), Type); 4] =
        [(&thread, Type::TEXT), (&query.before, Type::INT8), (&query.after, Type::INT8), (&query.fetch(), Type::INT8)];
    let rows = caller::query_as(client, identity, &statement, &params).await?;
    if rows.is_empty() {
        // An empty page of a thread the caller is in, or a thread they cannot see.
        let visible = caller::query_as(
            client,
            identity,
            "select 1 from public.conversation_threads where id = $1::text::uuid",
            &[(&thread, Type::TEXT)],
        )
        .await?;
        if visible.is_empty() {
            return Ok(Err(ApiError::not_found("no such thread, or you do not take part in it")));
        }
    }
    let more = rows.len() > query.limit as usize;
    let mut items = Vec::with_capacity(rows.len());
    let mut last = None;
    for row in rows.iter().take(query.limit as usize) {
        let text: String = row.try_get(0)?;
        items.push(serde_json::from_str::<Value>(&text).unwrap_or(Value::Null));
        last = Some(row.try_get::<_, i64>(1)?);
    }
    Ok(Ok(json!({ "items": items, "next": last.filter(|_| more) })))
}

/// Edits as the caller. The update policy hides others' messages, so the statement also
/// reads whether the caller can see the message and whether it is a tombstone, to tell
/// 403 (not yours) and 409 (deleted) from 404.
async fn edit_message(
    client: &Client,
    identity: &Identity,
    message: &Uuid,
    edit: &EditMessage,
) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
    let statement = "with edited as (
             update public.messages
                set body = coalesce($2::text, body), attachments = coalesce($3::text::jsonb, attachments)
              where id = $1::text::uuid and deleted_at is null
             returning *)
         select (select to_jsonb(e)::text from edited e),
                (select m.deleted_at is not null from public.messages m where m.id = $1::text::uuid)";
    let attachments = edit.attachments.as_deref().map(messages::attachments_json);
    let params: [(&(dyn ToSql + Sync), Type); 3] =
        [(&message.to_string(), Type::TEXT), (&edit.body, Type::TEXT), (&attachments, Type::TEXT)];
    let rows = caller::query_as(client, identity, statement, &params).await?;
    let Some(row) = rows.first() else { return Ok(Err(ApiError::internal())) };
    let (edited, deleted): (Option<String>, Option<bool>) = (row.try_get(0)?, row.try_get(1)?);
    Ok(match (edited, deleted) {
        (Some(text), _) => serde_json::from_str(&text).map_err(|_| ApiError::internal()),
        (None, Some(true)) => Err(ApiError::conflict("the message was deleted")),
        (None, Some(false)) => Err(ApiError::forbidden("only the sender can edit a message")),
        (None, None) => Err(ApiError::not_found("no such message")),
    })
}
