//! May this user read or write a private channel? Postgres decides, through the Row
//! Level Security policies on `realtime.messages`, exactly as Supabase Realtime asks it.
//!
//! In one transaction that is always rolled back: a probe row for the topic is inserted
//! with the owner's rights; then, as the caller's role with the caller's claims and
//! `realtime.topic` set, seeing that row means read access, and being allowed to insert
//! one means write access.

use crate::db;
use crate::error::EdgeError;
use serde_json::{Map, Value};
use worker::Env;

/// A row of the channel's topic: inserted by the owner to be seen, then by the caller to
/// test write access. The transaction is always rolled back.
const PROBE: &str = "insert into realtime.messages (topic, extension, event, payload, private) \
                     values ($1, 'broadcast', 'access_probe', '{}'::jsonb, true)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub read: bool,
    pub write: bool,
}

/// Checks `channel` (the topic without `realtime:`) for a caller with these verified claims.
pub async fn check(env: &Env, channel: &str, claims: &Map<String, Value>) -> Result<Access, EdgeError> {
    let role = claims.get("role").and_then(Value::as_str).unwrap_or_default();
    let pg_role = match role {
        "service_role" => return Ok(Access { read: true, write: true }),
        "anon" => "anon",
        "authenticated" => "authenticated",
        // Any other role in a token is not one we let a policy see.
        _ => return Ok(Access { read: false, write: false }),
    };
    let mut client = db::connect(env).await?;
    let tx = client.transaction().await?;
    tx.execute(
        PROBE,
        &[&channel],
    )
    .await?;
    // The role name comes from the allow-list above, never from the token verbatim.
    tx.batch_execute(&format!("set local role {pg_role}")).await?;
    let claims_json = Value::Object(claims.clone()).to_string();
    tx.execute(
        "select set_config('request.jwt.claims', $1, true), set_config('realtime.topic', $2, true)",
        &[&claims_json, &channel],
    )
    .await?;
    let read: bool = tx
        .query_one(
            "select exists (select 1 from realtime.messages where topic = $1 and extension = 'broadcast')",
            &[&channel],
        )
        .await?
        .try_get(0)
        .map_err(db::unavailable)?;
    tx.batch_execute("savepoint write_probe").await?;
    let write = match tx
        .execute(
            PROBE,
            &[&channel],
        )
        .await
    {
        Ok(_) => true,
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) => {
            tx.batch_execute("rollback to savepoint write_probe").await?;
            false
        }
        Err(e) => return Err(e.into()),
    };
    tx.rollback().await?;
    Ok(Access { read, write })
}
