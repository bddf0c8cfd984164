//! Who calls an edge function, and the transaction their statements run in.
//!
//! The caller is the verified token of `Authorization: Bearer <jwt>` (what supabase-js
//! `functions.invoke` sends: the session's access token, or the anon key signed out), or
//! the `apikey` header alone. Their statements run as PostgREST runs them: inside a
//! transaction, as the token's role (from the allow-list of [`room::identity::PgRole`]),
//! with `request.jwt.claims` set to the token's claims, so Row Level Security decides.

use crate::error::EdgeError;
use crate::{clock, settings};
use edge_api::paging::{Cursor, Page};
use edge_api::ApiError;
use room::Identity;
use serde_json::Value;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};
use worker::{Env, Request};

/// The caller's verified identity; 401 when there is no token or it does not verify.
pub fn identify(req: &Request, env: &Env) -> Result<Identity, EdgeError> {
    let header = |name: &str| req.headers().get(name).ok().flatten().filter(|v| !v.trim().is_empty());
    let bearer = header("authorization").map(|h| {
        let h = h.trim();
        h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")).unwrap_or(h).trim().to_string()
    });
    let Some(token) = bearer.or_else(|| header("apikey")) else {
        return Err(ApiError::unauthorized("send the user's token as Authorization: Bearer <jwt>").into());
    };
    let claims = settings::verifier(env)?
        .verify(&token, clock::now_secs())
        .map_err(|e| ApiError::unauthorized(format!("the token is refused: {e}")))?;
    Ok(Identity::from(&claims))
}

/// The caller and their user id, for the endpoints that act as a signed-in user; 401
/// before anything else of the request (body, query) is read.
pub fn signed_in(req: &Request, env: &Env) -> Result<(Identity, String), EdgeError> {
    let identity = identify(req, env)?;
    let me = user_id(&identity)?.to_string();
    Ok((identity, me))
}

/// The signed-in user behind `identity`; 401 for the anon key and the service role,
/// which have no user to act as.
pub fn user_id(identity: &Identity) -> Result<&str, EdgeError> {
    match (&identity.user_id, identity.role.as_str()) {
        (Some(id), "authenticated") => Ok(id),
        _ => Err(ApiError::unauthorized("this endpoint acts as a signed-in user: send a user's token").into()),
    }
}

/// Runs one statement as `identity`, in a transaction of its own, and returns its rows.
///
/// One round trip: the transaction's start, the caller's role and claims, the statement
/// and the commit go in one flight (tokio-postgres pipelines requests that are polled
/// together, and each is sent in order on its first poll). Committing in the same flight
/// matters beyond the round trip saved: a statement that takes a row lock (a thread's
/// message counter) holds it until the commit arrives, and a commit sent only after the
/// statement's answer came back held it for as long as this isolate took to get round to
/// sending it, which under load serialised every sender of a thread behind the busiest
/// isolate. When anything in the block fails, PostgreSQL aborts the transaction and the
/// pipelined `commit` ends it as a rollback, so nothing of it is kept and a kept
/// connection is clean for its next use; the first error is returned.
pub async fn query_as(
    client: &Client,
    identity: &Identity,
    statement: &str,
    params: &[(&(dyn ToSql + Sync), Type)],
) -> Result<Vec<Row>, tokio_postgres::Error> {
    // The role's name comes from the allow-list, never from the token; callers refuse
    // an identity without one before getting here, and it would run as nobody (anon).
    let role = identity.pg_role().map_or("anon", |r| r.name());
    // Two strings as TEXT: their encoding cannot fail on the client. It must not, because
    // the statement behind them would then be sent without them and run as the
    // connection's own role (a failure on the server aborts everything instead).
    let claims: [(&(dyn ToSql + Sync), Type); 2] = [(&role, Type::TEXT), (&identity.claims, Type::TEXT)];
    let begin = client.batch_execute("begin");
    let as_caller =
        client.query_typed("select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)", &claims);
    let work = client.query_typed(statement, params);
    let commit = client.batch_execute("commit");
    let (began, became, rows, committed) = futures_util::join!(begin, as_caller, work, commit);
    // A deferred check that fails at the commit fails the call even though the
    // statement itself succeeded.
    began.and(became).and(rows).and_then(|rows| committed.map(|()| rows))
}

/// One page of a list as `identity`: `statement` is built with a
/// [`edge_api::paging::Keyset`] and takes `first` as `$1` (what the list is of); `item`
/// turns a row into the item and its cursor (`None`: a row the statement should not have
/// produced, answered as an internal error).
pub async fn page_as(
    client: &Client,
    identity: &Identity,
    statement: &str,
    first: (&(dyn ToSql + Sync), Type),
    page: &Page,
    item: impl Fn(&Row) -> Result<Option<(serde_json::Value, Cursor)>, tokio_postgres::Error>,
) -> Result<Result<serde_json::Value, ApiError>, tokio_postgres::Error> {
    let (before_micros, before_id) = page.cursor_params();
    let params: [(&(dyn ToSql + Sync), Type); 4] =
        [first, (&before_micros, Type::INT8), (&before_id, Type::TEXT), (&page.fetch(), Type::INT8)];
    let rows = query_as(client, identity, statement, &params).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        match item(row)? {
            Some(entry) => items.push(entry),
            None => return Ok(Err(ApiError::internal())),
        }
    }
    Ok(Ok(page.answer(items)))
}

/// The one JSON value (as text) in the first column of the first row; `None` for no row
/// or SQL null.
pub async fn json_as(
    client: &Client,
    identity: &Identity,
    statement: &str,
    params: &[(&(dyn ToSql + Sync), Type)],
) -> Result<Option<Value>, tokio_postgres::Error> {
    let rows = query_as(client, identity, statement, params).await?;
    let Some(row) = rows.first() else { return Ok(None) };
    let text: Option<String> = row.try_get(0)?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

/// The request's JSON body as `T`, refused past `max` bytes (413) or not a `T` (400
/// naming the field).
pub async fn parse_body<T: serde::de::DeserializeOwned>(mut req: Request, max: usize) -> Result<T, EdgeError> {
    let bytes = req.bytes().await?;
    Ok(edge_api::body::parse(&bytes, max)?)
}
