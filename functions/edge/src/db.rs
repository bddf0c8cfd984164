//! Postgres from the Worker: tokio-postgres over the Workers TCP socket API.
//!
//! Locally the URL comes from `DATABASE_URL` (`.dev.vars`); in production there is no
//! such variable and the `HYPERDRIVE` binding supplies a pooled connection string. Each
//! request opens its own connection: a Worker holds no pool, Hyperdrive is the pool.

use crate::error::EdgeError;
use crate::settings;
use edge_api::ApiError;
use futures_util::future::{select, Either};
use std::time::Duration;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Client, Config, NoTls};
use worker::{postgres_tls::PassthroughTls, Delay, Env, SecureTransport, Socket};

/// How long a connection attempt may take before the database counts as unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the database is, as configured for this environment.
fn connection_string(env: &Env) -> Result<String, EdgeError> {
    if let Some(url) = settings::text(env, "DATABASE_URL") {
        return Ok(url);
    }
    env.hyperdrive("HYPERDRIVE")
        .map(|h| h.connection_string())
        .map_err(|_| EdgeError::Misconfigured("neither DATABASE_URL nor a HYPERDRIVE binding is configured".into()))
}

/// Opens a connection, driven in the background for as long as the returned client lives.
pub async fn connect(env: &Env) -> Result<Client, EdgeError> {
    let url = connection_string(env)?;
    let config: Config =
        url.parse().map_err(|e| EdgeError::Misconfigured(format!("DATABASE_URL does not parse: {e}")))?;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        _ => return Err(EdgeError::Misconfigured("DATABASE_URL needs a TCP host".into())),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let attempt = async {
        if config.get_ssl_mode() == SslMode::Disable {
            let socket = Socket::builder().secure_transport(SecureTransport::Off).connect(host, port)?;
            let (client, connection) = config.connect_raw(socket, NoTls).await.map_err(unavailable)?;
            drive(connection);
            Ok(client)
        } else {
            let socket = Socket::builder().secure_transport(SecureTransport::StartTls).connect(host, port)?;
            let (client, connection) = config.connect_raw(socket, PassthroughTls).await.map_err(unavailable)?;
            drive(connection);
            Ok(client)
        }
    };
    let timeout = Delay::from(CONNECT_TIMEOUT);
    futures_util::pin_mut!(attempt, timeout);
    match select(attempt, timeout).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(EdgeError::DatabaseUnavailable("connection timed out".into())),
    }
}

/// Runs the connection's I/O in the background; it ends when the client is dropped.
fn drive(connection: impl std::future::Future<Output = Result<(), tokio_postgres::Error>> + 'static) {
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = connection.await {
            worker::console_warn!("postgres connection ended: {e}");
        }
    });
}

pub fn unavailable(e: impl std::fmt::Display) -> EdgeError {
    EdgeError::DatabaseUnavailable(e.to_string())
}

/// A statement's failure in the client's terms: what the database refused (a policy, a
/// constraint) by its SQLSTATE ([`ApiError::from_sqlstate`]), a broken connection as
/// the database being unavailable. A failure that is ours (a 500) is logged with the
/// database's own words, which the client is not shown.
impl From<tokio_postgres::Error> for EdgeError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => {
                let api = ApiError::from_sqlstate(db.code().code(), db.message());
                if api.status == 500 {
                    worker::console_error!("database error {}: {}", db.code().code(), db.message());
                }
                EdgeError::Api(api)
            }
            None => unavailable(e),
        }
    }
}

/// One connection kept open and reused by its owner (a room), so that joins and token
/// refreshes do not each open one: a burst of them costs queries, not connections. It is
/// opened on first use, dropped after a failure, and closed after [`KEEP_IDLE`] unused,
/// so an idle room holds no connection (and may hibernate).
#[derive(Clone, Default)]
pub struct KeptConnection {
    inner: std::rc::Rc<Kept>,
}

#[derive(Default)]
struct Kept {
    client: futures_util::lock::Mutex<Option<Client>>,
    last_used_ms: std::cell::Cell<u64>,
    reaper_running: std::cell::Cell<bool>,
}

/// How long a kept connection may sit unused before it is closed.
const KEEP_IDLE: Duration = Duration::from_secs(30);

impl KeptConnection {
    /// The connection, opened if needed, held exclusively until the guard is dropped
    /// (a transaction needs the connection to itself). Set the guard to `None` after a
    /// failure that may have broken the connection.
    pub async fn lock(&self, env: &Env) -> Result<futures_util::lock::MutexGuard<'_, Option<Client>>, EdgeError> {
        let mut guard = self.inner.client.lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(connect(env).await?);
        }
        self.inner.last_used_ms.set(crate::clock::now_millis());
        self.reap_when_idle();
        Ok(guard)
    }

    /// Runs `work` on the connection (opened if needed), held exclusively. A failure the
    /// database did not answer itself (the connection broke) drops the connection, so the
    /// next use opens a new one; a database error (a policy, a constraint) keeps it.
    pub async fn with<T>(
        &self,
        env: &Env,
        work: impl AsyncFnOnce(&Client) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, EdgeError> {
        let mut guard = self.lock(env).await?;
        let Some(client) = guard.as_ref() else { return Err(unavailable("no connection")) };
        match work(client).await {
            Ok(value) => Ok(value),
            Err(e) => {
                if e.as_db_error().is_none() {
                    *guard = None;
                }
                Err(e.into())
            }
        }
    }

    /// [`Self::with`], for callers that only log the failure.
    pub async fn run<T>(
        &self,
        env: &Env,
        work: impl AsyncFnOnce(&Client) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, String> {
        self.with(env, work).await.map_err(|e| e.to_string())
    }

    fn reap_when_idle(&self) {
        if self.inner.reaper_running.replace(true) {
            return;
        }
        let inner = self.inner.clone();
        wasm_bindgen_futures::spawn_local(async move {
            loop {
                Delay::from(KEEP_IDLE).await;
                let idle_ms = crate::clock::now_millis().saturating_sub(inner.last_used_ms.get());
                if idle_ms >= KEEP_IDLE.as_millis() as u64 {
                    // In use right now: it was used recently after all; look again later.
                    if let Some(mut guard) = inner.client.try_lock() {
                        *guard = None;
                        break;
                    }
                }
            }
            inner.reaper_running.set(false);
        });
    }
}
