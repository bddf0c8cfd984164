//! May this user read or write a private channel? Postgres decides, through the Row
//! Level Security policies on `realtime.messages`, exactly as Supabase Realtime asks it.
//!
//! In one transaction that is always rolled back: a probe row for the topic is inserted
//! with the owner's rights; then, as the caller's role with the caller's claims and
//! `realtime.topic` set, seeing that row means read access, and being allowed to insert
//! one means write access.
//!
//! The caller brings the connection: rooms keep one open (see `room_object::Database`)
//! instead of opening one per join or token refresh.

use realtime_protocol::Topic;
use room::identity::PgRole;
use room::Identity;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

/// A row of the channel's topic: inserted by the owner to be seen, then by the caller to
/// test write access. The transaction is always rolled back.
const PROBE: &str = "insert into realtime.messages (topic, extension, event, payload, private) \
                     values ($1, 'broadcast', 'access_probe', '{}'::jsonb, true)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub read: bool,
    pub write: bool,
}

/// Why a check gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// The database could not be reached or dropped the connection: worth a retry, and
    /// an earlier decision may stand in meanwhile.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database answered, but the policies failed on this token (e.g. a `sub` that
    /// is not a UUID): the same question would fail again.
    #[error("{0}")]
    Policy(String),
}

impl From<tokio_postgres::Error> for AccessError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) if !is_transient(db.code()) => AccessError::Policy(db.message().to_string()),
            _ => AccessError::Unavailable(e.to_string()),
        }
    }
}

/// SQLSTATEs that say the server, not the question, is the problem: connection
/// exceptions (08), too many connections and other resource limits (53), operator
/// intervention such as a shutdown (57), and system errors (58).
fn is_transient(code: &SqlState) -> bool {
    matches!(&code.code()[..2], "08" | "53" | "57" | "58")
}

/// Checks `topic` for a caller with this verified identity.
pub async fn check(client: &mut Client, topic: &Topic, identity: &Identity) -> Result<Access, AccessError> {
    let pg_role = match identity.pg_role() {
        Some(PgRole::ServiceRole) => return Ok(Access { read: true, write: true }),
        Some(role) => role.name(),
        // A role no policy is written for sees nothing.
        None => return Ok(Access { read: false, write: false }),
    };
    let channel = topic.name();
    let tx = client.transaction().await?;
    tx.execute(PROBE, &[&channel]).await?;
    // The role name comes from the allow-list (`Identity::pg_role`), never from the token.
    tx.batch_execute(&format!("set local role {pg_role}")).await?;
    tx.execute(
        "select set_config('request.jwt.claims', $1, true), set_config('realtime.topic', $2, true)",
        &[&identity.claims, &channel],
    )
    .await?;
    let read: bool = tx
        .query_one(
            "select exists (select 1 from realtime.messages where topic = $1 and extension = 'broadcast')",
            &[&channel],
        )
        .await?
        .try_get(0)?;
    tx.batch_execute("savepoint write_probe").await?;
    let write = match tx.execute(PROBE, &[&channel]).await {
        Ok(_) => true,
        Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
            tx.batch_execute("rollback to savepoint write_probe").await?;
            false
        }
        Err(e) => return Err(e.into()),
    };
    tx.rollback().await?;
    Ok(Access { read, write })
}
