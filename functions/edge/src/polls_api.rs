//! Polls through the edge (rules and types: [`edge_api::polls`]; the database's rules:
//! migrations 20261127171000 to 20261127171200):
//!
//! | method | path | answer |
//! |---|---|---|
//! | POST | `/functions/v1/polls` `{"question", "options", "multiple_choice", "anonymous", "closes_at", "group_id"/"thread_id"}` | 201 the poll |
//! | GET | `/functions/v1/polls/<id>` | 200 the poll, its results and the caller's votes |
//! | POST | `/functions/v1/polls/<id>/votes` `{"option_ids"}` | 200 the poll (the vote replaces the caller's previous one) |
//! | DELETE | `/functions/v1/polls/<id>/votes` | 200 the poll (the caller's vote retracted) |
//! | POST | `/functions/v1/polls/<id>/close` | 200 the poll (the author) |
//! | GET | `/functions/v1/polls/<id>/options/<option_id>/voters?limit=&before=` | 200 `{"items", "next"}` (not for anonymous polls) |
//!
//! Each is one SQL function run as the caller in the user's object. The live tally on
//! `poll:<id>` is the room's (`poll_tally`, paced), from the database's signal; a poll
//! with a closing time wakes the scheduler, which closes it then.

use crate::error::EdgeError;
use crate::user_object::{self, CallerCall, UserCall};
use crate::{caller, scheduler_object};
use edge_api::answers::{conform, PageOf, Poll, Voter};
use edge_api::paging::{Cursor, ListQuery, Page};
use edge_api::polls::{self, NewPoll, Vote};
use edge_api::ApiError;
use room::Identity;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio_postgres::types::Type;
use tokio_postgres::Client;
use uuid::Uuid;
use worker::{Context, Env, Method, Request, Response};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum PollCall {
    Create(NewPoll),
    Get(Uuid),
    Vote { poll: Uuid, vote: Vote },
    Retract(Uuid),
    Close(Uuid),
    Voters { option: Uuid, page: Page },
}

impl CallerCall for PollCall {
    fn cost(&self) -> u32 {
        match self {
            PollCall::Get(_) | PollCall::Voters { .. } => 0,
            _ => 1,
        }
    }

    async fn answer(
        &self,
        client: &Client,
        identity: &Identity,
    ) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
        Ok(answer(client, identity, self).await?.and_then(|value| match self {
            PollCall::Voters { .. } => conform::<PageOf<Voter>>(value),
            _ => conform::<Poll>(value),
        }))
    }
}

/// Every `/functions/v1/polls…` request; `segments` is the path after `polls`.
pub async fn handle(req: Request, env: Env, ctx: &Context, segments: &[&str]) -> Result<Response, EdgeError> {
    let (identity, me) = caller::signed_in(&req, &env)?;
    let id = |segment: &str, name: &str| polls::id_in_path(segment, name);
    let (status, call) = match (req.method(), segments) {
        (Method::Post, []) => {
            let create = caller::parse_body::<NewPoll>(req, polls::MAX_REQUEST_BYTES).await?;
            create.check()?;
            (201, PollCall::Create(create))
        }
        (Method::Get, [poll]) => (200, PollCall::Get(id(poll, "poll_id")?)),
        (Method::Post, [poll, "votes"]) => {
            let poll = id(poll, "poll_id")?;
            let vote = caller::parse_body::<Vote>(req, polls::MAX_REQUEST_BYTES).await?;
            vote.check()?;
            (200, PollCall::Vote { poll, vote })
        }
        (Method::Delete, [poll, "votes"]) => (200, PollCall::Retract(id(poll, "poll_id")?)),
        (Method::Post, [poll, "close"]) => (200, PollCall::Close(id(poll, "poll_id")?)),
        (Method::Get, [poll, "options", option, "voters"]) => {
            id(poll, "poll_id")?;
            let option = id(option, "option_id")?;
            (200, PollCall::Voters { option, page: ListQuery::parse(req.url()?.query_pairs(), &[])?.page })
        }
        (_, [] | [_] | [_, "votes" | "close"] | [_, "options", _, "voters"]) => {
            return Err(EdgeError::MethodNotAllowed)
        }
        _ => return Err(EdgeError::NotFound),
    };
    let timed = matches!(&call, PollCall::Create(p) if p.closes_at.is_some());
    let writes = call.cost() > 0;
    let response = user_object::respond(&env, ctx, &me, status, &UserCall::Polls { identity, call }, writes).await?;
    if timed {
        scheduler_object::wake_after(&env, ctx);
    }
    Ok(response)
}

async fn answer(
    client: &Client,
    identity: &Identity,
    call: &PollCall,
) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
    let no_poll = || ApiError::not_found("no such poll, or you may not see it");
    let one = |statement: &'static str, poll: &Uuid| {
        let poll = poll.to_string();
        async move { caller::json_as(client, identity, statement, &[(&poll, Type::TEXT)]).await }
    };
    let outcome = match call {
        PollCall::Create(p) => {
            caller::json_as(
                client,
                identity,
                "select public.create_poll($1, $2::text[], $3, $4, $5::text::timestamptz,
                                           $6::text::uuid, $7::text::uuid)::text",
                &[
                    (&p.question, Type::TEXT),
                    (&p.options, Type::TEXT_ARRAY),
                    (&p.multiple_choice, Type::BOOL),
                    (&p.anonymous, Type::BOOL),
                    (&p.closes_at, Type::TEXT),
                    (&p.group_id.map(|g| g.to_string()), Type::TEXT),
                    (&p.thread_id.map(|t| t.to_string()), Type::TEXT),
                ],
            )
            .await
        }
        PollCall::Get(poll) => one("select public.describe_poll($1::text::uuid)::text", poll).await,
        PollCall::Vote { poll, vote } => {
            let options: Vec<String> = vote.option_ids.iter().map(Uuid::to_string).collect();
            caller::json_as(
                client,
                identity,
                "select public.cast_vote($1::text::uuid, $2::text[]::uuid[])::text",
                &[(&poll.to_string(), Type::TEXT), (&options, Type::TEXT_ARRAY)],
            )
            .await
        }
        PollCall::Retract(poll) => one("select public.retract_vote($1::text::uuid)::text", poll).await,
        PollCall::Close(poll) => one("select public.close_poll($1::text::uuid)::text", poll).await,
        PollCall::Voters { option, page } => return voters(client, identity, option, page).await,
    };
    match outcome {
        Ok(value) => Ok(value.ok_or_else(no_poll)),
        // A group or thread that is not the caller's (the insert policy), or one that
        // does not exist (the foreign key).
        Err(e) if matches!(e.as_db_error().map(|d| d.code().code()), Some("42501" | "23503")) => {
            Ok(Err(ApiError::forbidden("you may ask polls only in groups and threads you belong to")))
        }
        Err(e) => Err(e),
    }
}

async fn voters(
    client: &Client,
    identity: &Identity,
    option: &Uuid,
    page: &Page,
) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
    let statement = "select v.user_id::text, v.username, v.display_name, v.avatar_url,
                            to_json(v.voted_at)#>>'{}', v.cursor_micros
                       from public.poll_option_voters($1::text::uuid, $2::bigint, $3::text, $4::bigint) v";
    caller::page_as(client, identity, statement, (&option.to_string(), Type::TEXT), page, |row| {
        let id: String = row.try_get(0)?;
        let Ok(user) = Uuid::parse_str(&id) else { return Ok(None) };
        let item = json!({
            "user_id": id,
            "username": row.try_get::<_, Option<String>>(1)?,
            "display_name": row.try_get::<_, Option<String>>(2)?,
            "avatar_url": row.try_get::<_, Option<String>>(3)?,
            "voted_at": row.try_get::<_, String>(4)?,
        });
        Ok(Some((item, Cursor { micros: row.try_get(5)?, id: user })))
    })
    .await
}
