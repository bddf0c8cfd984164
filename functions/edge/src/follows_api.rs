//! Follows through the edge (rules and types: [`edge_api::follows`]):
//!
//! | method | path | answer |
//! |---|---|---|
//! | POST | `/functions/v1/follows` `{"user_id"}` | 201 the follow, or 200 the existing one |
//! | DELETE | `/functions/v1/follows/<user_id>` | 204, or 404 when not following |
//! | GET | `/functions/v1/users/<user_id>/followers?limit=&before=` | 200 `{"items", "next"}`, newest first |
//! | GET | `/functions/v1/users/<user_id>/following?limit=&before=` | the same, for whom the user follows |
//! | GET | `/functions/v1/users/<user_id>/follow-counts` | 200 `{"user_id", "followers", "following"}` |
//!
//! Every statement runs as the caller in the user's object ([`crate::user_object`]: a kept
//! connection, and the write budget across isolates), so RLS decides. The followee's
//! notification is the database's (migration 20261127110000), so a follow made through
//! PostgREST notifies the same way; the change feed is woken after a follow so it arrives
//! without waiting for the next poll.

use crate::error::{json_response, EdgeError};
use crate::user_object::{self, CallerCall, UserCall};
use crate::{caller, feed_object};
use edge_api::answers::{conform, Follow, FollowCounts, FollowListEntry, PageOf};
use edge_api::follows::{self, Direction, FollowRequest};
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
pub enum FollowCall {
    Follow(Uuid),
    Unfollow(Uuid),
    List { user_id: Uuid, direction: Direction, page: Page },
    Counts(Uuid),
}

impl CallerCall for FollowCall {
    fn cost(&self) -> u32 {
        match self {
            FollowCall::Follow(_) | FollowCall::Unfollow(_) => 1,
            FollowCall::List { .. } | FollowCall::Counts(_) => 0,
        }
    }

    async fn answer(
        &self,
        client: &Client,
        identity: &Identity,
    ) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
        let answer = answer(client, identity, self).await?;
        Ok(answer.and_then(|value| match self {
            FollowCall::Follow(_) => {
                let created = value["created"].clone();
                Ok(json!({"created": created, "follow": conform::<Follow>(value["follow"].clone())?}))
            }
            FollowCall::Unfollow(_) => Ok(value),
            FollowCall::List { .. } => conform::<PageOf<FollowListEntry>>(value),
            FollowCall::Counts(_) => conform::<FollowCounts>(value),
        }))
    }
}

/// `POST /functions/v1/follows`.
pub async fn follow(mut req: Request, env: Env, ctx: &Context) -> Result<Response, EdgeError> {
    let (identity, me) = caller::signed_in(&req, &env)?;
    let bytes = req.bytes().await?;
    let request: FollowRequest = body::parse(&bytes, follows::MAX_REQUEST_BYTES)?;
    request.check(&me)?;
    let answer = run(&env, &me, identity, FollowCall::Follow(request.user_id)).await?;
    let created = answer["created"].as_bool().unwrap_or(false);
    if created {
        feed_object::wake_after(&env, ctx);
    }
    Ok(json_response(if created { 201 } else { 200 }, &answer["follow"])?)
}

/// `DELETE /functions/v1/follows/<user_id>`.
pub async fn unfollow(req: Request, env: Env, user_id: &str) -> Result<Response, EdgeError> {
    let (identity, me) = caller::signed_in(&req, &env)?;
    let user_id = follows::user_id_in_path(user_id)?;
    run(&env, &me, identity, FollowCall::Unfollow(user_id)).await?;
    Ok(Response::empty()?.with_status(204))
}

/// `GET /functions/v1/users/<user_id>/<followers|following|follow-counts>`.
pub async fn read(req: Request, env: Env, user_id: &str, what: &str) -> Result<Response, EdgeError> {
    let (identity, me) = caller::signed_in(&req, &env)?;
    let user_id = follows::user_id_in_path(user_id)?;
    let call = match (what, Direction::from_segment(what)) {
        ("follow-counts", _) => FollowCall::Counts(user_id),
        (_, Some(direction)) => {
            let url = req.url()?;
            FollowCall::List { user_id, direction, page: ListQuery::parse(url.query_pairs(), &[])?.page }
        }
        _ => return Err(EdgeError::NotFound),
    };
    Ok(json_response(200, &run(&env, &me, identity, call).await?)?)
}

async fn run(env: &Env, me: &str, identity: Identity, call: FollowCall) -> Result<Value, EdgeError> {
    user_object::call(env, me, &UserCall::Follows { identity, call }).await
}

/// Runs `call` as `identity` on `client` (in the user's object): the endpoint's answer,
/// or its refusal; the outer error is the database's (the connection's keeper decides
/// what it means for the connection).
async fn answer(
    client: &Client,
    identity: &Identity,
    call: &FollowCall,
) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
    let outcome = match call {
        FollowCall::Follow(user_id) => follow_as(client, identity, user_id).await,
        FollowCall::Unfollow(user_id) => caller::query_as(
            client,
            identity,
            "delete from public.follow_relationships
              where follower_id = (select auth.uid()) and followee_id = $1::text::uuid returning 1",
            &[(&user_id.to_string(), Type::TEXT)],
        )
        .await
        .map(|rows| match rows.is_empty() {
            true => Err(ApiError::not_found("you do not follow this user")),
            false => Ok(Value::Null),
        }),
        FollowCall::List { user_id, direction, page } => list(client, identity, user_id, *direction, page).await,
        FollowCall::Counts(user_id) => counts(client, identity, user_id).await,
    };
    match outcome {
        // The followee does not exist (the foreign key), or the caller has no account.
        Err(e) if e.as_db_error().is_some_and(|d| d.code().code() == "23503") => {
            Ok(Err(ApiError::not_found("no such user")))
        }
        other => other,
    }
}

/// The first row of `statement` run as `identity` with the user id as `$1`.
async fn first_row(
    client: &Client,
    identity: &Identity,
    statement: &str,
    user_id: &Uuid,
) -> Result<Option<tokio_postgres::Row>, tokio_postgres::Error> {
    let rows = caller::query_as(client, identity, statement, &[(&user_id.to_string(), Type::TEXT)]).await?;
    Ok(rows.into_iter().next())
}

/// A one-row answer that came back empty: the statement's fault, not the caller's.
fn no_row() -> ApiError {
    ApiError::internal()
}

async fn counts(
    client: &Client,
    identity: &Identity,
    user_id: &Uuid,
) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
    let statement = "select (select count(*) from public.follow_relationships where followee_id = $1::text::uuid),
                            (select count(*) from public.follow_relationships where follower_id = $1::text::uuid)";
    let Some(row) = first_row(client, identity, statement, user_id).await? else { return Ok(Err(no_row())) };
    let (followers, following): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    Ok(Ok(json!({"user_id": user_id, "followers": followers, "following": following})))
}

/// Inserts the follow unless it exists; `{"created": bool, "follow": {...}}`.
async fn follow_as(
    client: &Client,
    identity: &Identity,
    user_id: &Uuid,
) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
    let statement = "with inserted as (
             insert into public.follow_relationships (followee_id) values ($1::text::uuid)
             on conflict do nothing
             returning follower_id, followee_id, created_at)
         select f.follower_id::text, f.followee_id::text, to_json(f.created_at)#>>'{}', true from inserted f
         union all
         select f.follower_id::text, f.followee_id::text, to_json(f.created_at)#>>'{}', false
           from public.follow_relationships f
          where f.follower_id = (select auth.uid()) and f.followee_id = $1::text::uuid
            and not exists (select 1 from inserted)";
    let Some(row) = first_row(client, identity, statement, user_id).await? else { return Ok(Err(no_row())) };
    Ok(Ok(json!({
        "created": row.try_get::<_, bool>(3)?,
        "follow": {
            "follower_id": row.try_get::<_, String>(0)?,
            "followee_id": row.try_get::<_, String>(1)?,
            "created_at": row.try_get::<_, String>(2)?,
        }
    })))
}

/// One page of a follow list, newest first; `next` is the cursor of the page after it.
async fn list(
    client: &Client,
    identity: &Identity,
    user_id: &Uuid,
    direction: Direction,
    page: &Page,
) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
    // (the listed user, the user whose list it is)
    let (listed, owner) = match direction {
        Direction::Followers => ("follower_id", "followee_id"),
        Direction::Following => ("followee_id", "follower_id"),
    };
    let listed_column = format!("f.{listed}");
    let keyset = Keyset { at: "f.created_at", id: &listed_column };
    let statement = format!(
        "select f.{listed}::text, p.username, p.display_name, p.avatar_url, to_json(f.created_at)#>>'{{}}', {}
           from public.follow_relationships f
           left join public.profiles p on p.id = f.{listed}
          where f.{owner} = $1::text::uuid and {}
          {}",
        keyset.cursor_column(),
        keyset.after_cursor(),
        keyset.order_and_limit(),
    );
    caller::page_as(client, identity, &statement, (&user_id.to_string(), Type::TEXT), page, |row| {
        let id: String = row.try_get(0)?;
        let Ok(listed) = Uuid::parse_str(&id) else { return Ok(None) };
        let item = json!({
            "user_id": id,
            "username": row.try_get::<_, Option<String>>(1)?,
            "display_name": row.try_get::<_, Option<String>>(2)?,
            "avatar_url": row.try_get::<_, Option<String>>(3)?,
            "followed_at": row.try_get::<_, String>(4)?,
        });
        Ok(Some((item, Cursor { micros: row.try_get(5)?, id: listed })))
    })
    .await
}
