//! Running SQL as a given kind of user, the way PostgREST and the edge functions do:
//! inside a transaction, `set local role` and `request.jwt.claims`, always rolled back,
//! so every test sees the seeded world (supabase/seed.sql) and leaves it as it was.

use tokio_postgres::{Client, NoTls};

pub const ADA: &str = "11111111-1111-4111-8111-111111111111"; // group owner, direct thread participant
pub const BASIL: &str = "22222222-2222-4222-8222-222222222222"; // group admin, event host
pub const CLOVER: &str = "33333333-3333-4333-8333-333333333333"; // group moderator, poll author
pub const DILL: &str = "44444444-4444-4444-8444-444444444444"; // group member
pub const ELM: &str = "55555555-5555-4555-8555-555555555555"; // belongs nowhere: the stranger
pub const THREAD: &str = "aaaaaaaa-0000-4000-8000-000000000001";
pub const MESSAGE: &str = "aaaaaaaa-0000-4000-8000-000000000101";
pub const GROUP: &str = "bbbbbbbb-0000-4000-8000-000000000001";
pub const EVENT: &str = "cccccccc-0000-4000-8000-000000000001";
pub const POLL: &str = "dddddddd-0000-4000-8000-000000000001";
pub const OPTION: &str = "dddddddd-0000-4000-8000-000000000103";
pub const NOTIFICATION: &str = "eeeeeeee-0000-4000-8000-000000000001";

/// Who runs the statement.
#[derive(Debug, Clone, Copy)]
pub enum Who {
    Anon,
    User(&'static str),
    Service,
}

/// What the matrix expects of a statement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expect {
    /// Allowed: at least one row returned or changed.
    Allowed,
    /// Allowed with exactly this many rows.
    Rows(u64),
    /// Refused by returning or changing nothing.
    Nothing,
    /// Refused with SQLSTATE 42501 (insufficient privilege / RLS violation).
    Refused,
    /// Refused either way: 42501, or nothing returned or changed.
    Denied,
    /// Refused by a constraint or trigger with this SQLSTATE.
    Fails(&'static str),
}

pub async fn connect() -> Client {
    let url = std::env::var("E2E_DATABASE_URL").expect("E2E_DATABASE_URL: run the database tests with `make test`");
    connect_to(&url).await
}

/// A connection to the database at `url` (another database of the test cluster).
pub async fn connect_to(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect to the test database");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Runs `sql` as `who` in a transaction that is rolled back; returns rows returned (for
/// queries) or changed (for other statements), or the error's SQLSTATE.
pub async fn run_as(who: Who, sql: &str) -> Result<u64, String> {
    let mut client = connect().await;
    let tx = client.transaction().await.expect("begin");
    let (role, claims) = match who {
        Who::Anon => ("anon", serde_json::json!({"role": "anon"})),
        Who::User(id) => {
            ("authenticated", serde_json::json!({"sub": id, "role": "authenticated", "aud": "authenticated"}))
        }
        Who::Service => ("service_role", serde_json::json!({"role": "service_role"})),
    };
    tx.execute("select set_config('request.jwt.claims', $1, true)", &[&claims.to_string()]).await.expect("claims");
    tx.batch_execute(&format!("set local role {role}")).await.expect("role");
    let trimmed = sql.trim_start().to_ascii_lowercase();
    let result = if trimmed.starts_with("select") || trimmed.contains(" returning ") {
        tx.query(sql, &[]).await.map(|rows| rows.len() as u64)
    } else {
        tx.execute(sql, &[]).await
    };
    let _ = tx.rollback().await;
    result.map_err(|e| e.code().map(|c| c.code().to_string()).unwrap_or_else(|| e.to_string()))
}

/// Makes the rest of `client`'s transaction run as the signed-in `user`, as PostgREST
/// sets a request up (for tests that act in several steps inside one transaction).
pub async fn act_as(client: &Client, user: &str) {
    let claims = serde_json::json!({"sub": user, "role": "authenticated", "aud": "authenticated"}).to_string();
    client.execute("select set_config('request.jwt.claims', $1, true)", &[&claims]).await.expect("claims");
    client.batch_execute("set local role authenticated").await.expect("role");
}

/// Asserts the matrix's expectation for one statement.
pub async fn check(who: Who, sql: &str, expect: Expect) {
    let got = run_as(who, sql).await;
    let ok = match (expect, &got) {
        (Expect::Allowed, Ok(n)) => *n > 0,
        (Expect::Rows(want), Ok(n)) => *n == want,
        (Expect::Nothing, Ok(n)) => *n == 0,
        (Expect::Refused, Err(code)) | (Expect::Denied, Err(code)) => code == "42501",
        (Expect::Denied, Ok(n)) => *n == 0,
        (Expect::Fails(want), Err(code)) => code == want,
        _ => false,
    };
    assert!(ok, "as {who:?}: {sql}\n  expected {expect:?}, got {got:?}");
}

/// One named test per row: `name: who, "sql" => expectation;`
#[macro_export]
macro_rules! matrix {
    ($($name:ident: $who:expr, $sql:expr => $expect:expr;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                $crate::check($who, &$sql, $expect).await;
            }
        )*
    };
}

/// The one JSON value `sql` returns (null for SQL null).
pub async fn json(
    client: &Client,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> serde_json::Value {
    let row = client.query_one(sql, params).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    row.get::<_, Option<serde_json::Value>>(0).unwrap_or(serde_json::Value::Null)
}

/// The SQLSTATE `sql` fails with; inside a savepoint, so the test's transaction goes on.
pub async fn sqlstate(client: &Client, sql: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) -> String {
    client.batch_execute("savepoint refused").await.expect("savepoint");
    let e = client.query(sql, params).await.expect_err(sql);
    client.batch_execute("rollback to savepoint refused").await.expect("rollback to savepoint");
    e.code().map(|c| c.code().to_string()).unwrap_or_default()
}

/// A connection of its own, signed in as `user` for the whole session (for tests that
/// commit from many users at once).
pub async fn as_user(user: &str) -> Client {
    let client = connect().await;
    let claims = serde_json::json!({"sub": user, "role": "authenticated", "aud": "authenticated"}).to_string();
    client.execute("select set_config('request.jwt.claims', $1, false)", &[&claims]).await.expect("claims");
    client.batch_execute("set role authenticated").await.expect("role");
    client
}
