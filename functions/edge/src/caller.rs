//! Who calls an edge function, and the transaction their statements run in.
//!
//! The caller is the verified token of `Authorization: Bearer <jwt>` (what supabase-js
//! `functions.invoke` sends: the session's access token, or the anon key signed out), or
//! the `apikey` header alone. Their statements run as PostgREST runs them: inside a
//! transaction, as the token's role (from the allow-list of [`room::identity::PgRole`]),
//! with `request.jwt.claims` set to the token's claims, so Row Level Security decides.

use crate::error::EdgeError;
use crate::{clock, settings};
use edge_api::ApiError;
use room::Identity;
use tokio_postgres::{Client, Transaction};
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

/// The signed-in user behind `identity`; 401 for the anon key and the service role,
/// which have no user to act as.
pub fn user_id(identity: &Identity) -> Result<&str, EdgeError> {
    match (&identity.user_id, identity.role.as_str()) {
        (Some(id), "authenticated") => Ok(id),
        _ => Err(ApiError::unauthorized("this endpoint acts as a signed-in user: send a user's token").into()),
    }
}

/// Begins a transaction that runs as `identity`: its role and its claims.
pub async fn begin<'c>(client: &'c mut Client, identity: &Identity) -> Result<Transaction<'c>, EdgeError> {
    let Some(role) = identity.pg_role() else {
        return Err(ApiError::forbidden("this token's role may not use the database").into());
    };
    let tx = client.transaction().await?;
    // The role's name comes from the allow-list, never from the token.
    tx.batch_execute(&format!("set local role {}", role.name())).await?;
    tx.execute("select set_config('request.jwt.claims', $1, true)", &[&identity.claims]).await?;
    Ok(tx)
}
