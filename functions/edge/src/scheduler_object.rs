//! The `Scheduler` Durable Object: what happens at a time rather than on a request. A
//! poll closes at its closing time, an event's participants are reminded shortly before
//! it starts (`EVENT_REMINDER_MINUTES`, default 15), and a scheduled event nobody started
//! is ended after its end time.
//!
//! The database holds what is due (`private.run_due_jobs`, migration 20261127172000): on
//! its alarm the one scheduler object runs every job due now and sets its next alarm to
//! the next due time the database reports, so between two jobs nothing runs and no room
//! needs to stay awake. Edge functions that create or move something timed wake it
//! (`/wake`), so it learns the new earliest time; what a job changes (a poll closed, an
//! event ended, reminders written) reaches subscribers through the change feed like any
//! other write.

use crate::{clock, db, settings};
use worker::{durable_object, DurableObject, Env, Request, RequestInit, Response, Result, State};

const INTERNAL_URL: &str = "https://scheduler.internal";
/// The one scheduler object's name.
const SCHEDULER_NAME: &str = "scheduler";
/// How long before an event's start its participants are reminded, unless configured.
const DEFAULT_REMINDER_MINUTES: i32 = 15;
/// A failed run is tried again this much later.
const RETRY_MS: u64 = 5_000;

async fn post(env: &Env, path: &str) -> Result<u16> {
    let stub = env.durable_object("SCHEDULER")?.get_by_name(SCHEDULER_NAME)?;
    let mut init = RequestInit::new();
    init.with_method(worker::Method::Post);
    Ok(stub.fetch_with_request(Request::new_with_init(&format!("{INTERNAL_URL}{path}"), &init)?).await?.status_code())
}

/// Tells the scheduler something timed was created or moved, once the response is on
/// its way. A lost wake delays that job until the scheduler's next run.
pub fn wake_after(env: &Env, ctx: &worker::Context) {
    let env = env.clone();
    ctx.wait_until(async move {
        if let Err(e) = wake(&env).await {
            worker::console_warn!("cannot wake the scheduler: {e}");
        }
    });
}

/// Makes the scheduler run what is due and set its alarm from the database again.
pub async fn wake(env: &Env) -> Result<u16> {
    post(env, "/wake").await
}

/// Makes the scheduler drop everything it holds in memory, as an eviction would.
pub async fn forget(env: &Env) -> Result<u16> {
    post(env, "/forget").await
}

#[durable_object]
pub struct Scheduler {
    state: State,
    env: Env,
    db: db::KeptConnection,
    reminder_minutes: i32,
}

impl DurableObject for Scheduler {
    fn new(state: State, env: Env) -> Self {
        let reminder_minutes = settings::text(&env, "EVENT_REMINDER_MINUTES")
            .and_then(|m| m.parse().ok())
            .filter(|m| (0..=24 * 60).contains(m))
            .unwrap_or(DEFAULT_REMINDER_MINUTES);
        Scheduler { state, env, db: db::KeptConnection::default(), reminder_minutes }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        match req.path().as_str() {
            "/wake" => {
                // The run happens on the alarm, now: whoever woke the scheduler (the feed
                // among them) does not wait for it.
                let now = js_sys::Date::new(&js_sys::Number::from(clock::now_millis() as f64));
                self.state.storage().set_alarm(worker::ScheduledTime::new(now)).await?;
                Response::empty().map(|r| r.with_status(204))
            }
            "/forget" => {
                // What eviction does: the connection goes; the alarm stays in storage.
                if let Ok(mut guard) = self.db.lock(&self.env).await {
                    *guard = None;
                }
                Response::empty().map(|r| r.with_status(204))
            }
            _ => Response::error("not found", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.run_due().await?;
        Response::ok("")
    }
}

impl Scheduler {
    /// Runs every job due now and sets the alarm at the next due time (none: no alarm).
    async fn run_due(&self) -> Result<()> {
        let minutes = self.reminder_minutes;
        let next = self
            .db
            .run(&self.env, async |client| {
                let row = client
                    .query_one(
                        "select (extract(epoch from private.run_due_jobs(make_interval(mins => $1))) * 1000)::float8",
                        &[&minutes],
                    )
                    .await?;
                row.try_get::<_, Option<f64>>(0)
            })
            .await;
        let storage = self.state.storage();
        match next {
            Ok(Some(at_ms)) => {
                // Never in the past (a job the run just did would loop), and a Number, not
                // a BigInt: `new Date(BigInt)` throws through wasm.
                let at_ms = at_ms.max(clock::now_millis() as f64 + 50.0);
                storage.set_alarm(worker::ScheduledTime::new(js_sys::Date::new(&js_sys::Number::from(at_ms)))).await
            }
            Ok(None) => storage.delete_alarm().await,
            Err(e) => {
                worker::console_error!("scheduler: cannot run due jobs: {e}");
                let at_ms = (clock::now_millis() + RETRY_MS) as f64;
                storage.set_alarm(worker::ScheduledTime::new(js_sys::Date::new(&js_sys::Number::from(at_ms)))).await
            }
        }
    }
}
