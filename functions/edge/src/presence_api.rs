//! Global presence through the edge (rules and types: [`edge_api::presence`]):
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/functions/v1/presence?user_ids=<id>,<id>,…` (1 to 200) | 200 `{"items": [{"user_id", "status", "activity", "last_seen_at"}]}`, in the order asked |
//! | POST | `/functions/v1/presence` `{"status": "online"\|"away"\|"busy"\|"invisible", "activity"}` | 200 the caller's own view |
//!
//! Whether a user is connected is kept by their object from the sockets the gateways
//! report ([`crate::user_object`], [`room::global_presence`]); the database turns it and
//! the user's choice into the `user_presence` row everyone reads, and broadcasts each
//! change on `presence:<user_id>` (migration 20261127150000).

use crate::error::{json_response, EdgeError};
use crate::user_object::{self, CallerCall, UserCall};
use crate::{caller, feed_object};
use edge_api::answers::{conform, OwnPresence, PresenceList};
use edge_api::presence::{self, SetPresence};
use edge_api::{body, ApiError};
use room::Identity;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio_postgres::types::Type;
use tokio_postgres::Client;
use uuid::Uuid;
use worker::{Context, Env, Method, Request, Response};

/// What the user's object runs for these endpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum PresenceCall {
    Read(Vec<Uuid>),
    Set(SetPresence),
}

impl CallerCall for PresenceCall {
    fn cost(&self) -> u32 {
        match self {
            PresenceCall::Read(_) => 0,
            PresenceCall::Set(_) => 1,
        }
    }

    async fn answer(
        &self,
        client: &Client,
        identity: &Identity,
    ) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
        match self {
            PresenceCall::Read(ids) => Ok(read(client, identity, ids).await?.and_then(conform::<PresenceList>)),
            PresenceCall::Set(set) => {
                let rows = caller::query_as(
                    client,
                    identity,
                    "select public.set_presence($1::text, $2::text)::text",
                    &[(&set.status.as_str(), Type::TEXT), (&set.activity, Type::TEXT)],
                )
                .await?;
                let Some(row) = rows.first() else { return Ok(Err(ApiError::internal())) };
                let text: String = row.try_get(0)?;
                let value: Value = match serde_json::from_str(&text) {
                    Ok(value) => value,
                    Err(_) => return Ok(Err(ApiError::internal())),
                };
                Ok(conform::<OwnPresence>(value))
            }
        }
    }
}

/// `GET` and `POST /functions/v1/presence`.
pub async fn handle(mut req: Request, env: Env, ctx: &Context) -> Result<Response, EdgeError> {
    let (identity, me) = caller::signed_in(&req, &env)?;
    let call = match req.method() {
        Method::Get => PresenceCall::Read(presence::user_ids(req.url()?.query_pairs())?),
        Method::Post => {
            let bytes = req.bytes().await?;
            let set: SetPresence = body::parse(&bytes, presence::MAX_REQUEST_BYTES)?;
            set.check()?;
            PresenceCall::Set(set)
        }
        _ => return Err(EdgeError::MethodNotAllowed),
    };
    let writes = call.cost() > 0;
    let answer = user_object::call(&env, &me, &UserCall::Presence { identity, call }).await?;
    if writes {
        // The row's change is broadcast from the database: wake the feed for it.
        feed_object::wake_after(&env, ctx);
    }
    Ok(json_response(200, &answer)?)
}

/// The users' rows as the caller may read them; a user with no row yet is offline.
async fn read(
    client: &Client,
    identity: &Identity,
    ids: &[Uuid],
) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let statement = "select u.id::text,
                            coalesce(p.status, 'offline')::text,
                            p.activity,
                            to_json(p.last_seen_at)#>>'{}'
                       from unnest($1::text[]::uuid[]) with ordinality as u(id, n)
                       left join public.user_presence p on p.user_id = u.id
                      order by u.n";
    let rows = caller::query_as(client, identity, statement, &[(&ids, Type::TEXT_ARRAY)]).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        items.push(json!({
            "user_id": row.try_get::<_, String>(0)?,
            "status": row.try_get::<_, String>(1)?,
            "activity": row.try_get::<_, Option<String>>(2)?,
            "last_seen_at": row.try_get::<_, Option<String>>(3)?,
        }));
    }
    Ok(Ok(json!({ "items": items })))
}
