//! The `Feed` Durable Object: one per database. It reads the change feed (`feed.read()`,
//! migration 20261126130000) and hands each batch to the rooms whose channels have
//! `postgres_changes` bindings on those tables; each room checks Row Level Security for
//! its subscribers and delivers (see `room_object`).
//!
//! Polling runs on the object's alarm, so it survives eviction and restarts, and stops
//! while no room is registered: an idle database is not polled. Rooms register when a
//! channel joins with bindings and are dropped when they answer that nobody there wants
//! changes any more.

use crate::{clock, db, settings};
use realtime_protocol::Topic;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use tokio_postgres::types::Type;
use worker::{durable_object, DurableObject, Env, Request, RequestInit, Response, Result, State};

const INTERNAL_URL: &str = "https://feed.internal";
/// The one feed object's name.
const FEED_NAME: &str = "feed";
const ROOMS_KEY: &str = "rooms";
/// Set while reads fail: rooms were told, and must be told when it recovers, even if the
/// object was evicted in between.
const FAILING_KEY: &str = "failing";
/// Batches a room could not take yet, per room, kept until it can (`pending:<room>`).
const PENDING_PREFIX: &str = "pending:";
/// Most changes kept for one room that cannot take them; past it the oldest are dropped
/// (and logged): a room that stays broken must not grow the feed's storage for ever.
const MAX_PENDING: usize = 10_000;
/// Most changes one read takes; a full batch is followed by the next read at once.
const BATCH: i32 = 500;
/// The interest of a room with any joined channel: broadcasts from the database
/// (`realtime.send`) go to the room of their topic.
pub const BROADCASTS: &str = "realtime.messages";
/// Every this many polls, registered rooms are asked whether anyone is still there, so
/// the feed goes back to sleep when they all left.
const CHECK_ROOMS_EVERY: u32 = 300;
/// How many times a room is offered its signals before the feed gives up on them (the
/// feed's other deliveries wait meanwhile, so few and short).
const SIGNAL_ATTEMPTS: u32 = 3;

/// What a room tells the feed when a channel joins with bindings.
#[derive(Serialize, Deserialize)]
pub struct Registration {
    /// The room's Durable Object name.
    pub room: String,
    /// The bindings (as JSON, as the client sent them) of the channel that joined, or
    /// [`BROADCASTS`]. The feed sends the room only the changes one of them matches, so a
    /// room listening to one conversation is not sent every message of every other.
    pub interests: Vec<String>,
}

/// One change as the feed hands it to rooms.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeedChange {
    pub position: i64,
    pub commit_timestamp: String,
    pub schema: String,
    pub table: String,
    pub op: String,
    pub pk: Map<String, Value>,
    pub record: Option<Map<String, Value>>,
    pub old_record: Option<Map<String, Value>>,
}

/// A batch for one room, with the column names and types of the tables in it.
#[derive(Serialize, Deserialize)]
pub struct Batch {
    pub changes: Vec<FeedChange>,
    /// `schema.table` -> [(name, pg_type.typname)], in column order.
    pub columns: HashMap<String, Vec<(String, String)>>,
}

/// POSTs `body` to `path` of the one feed object; its status.
async fn post_to_feed(env: &Env, path: &str, body: Option<String>) -> Result<u16> {
    let stub = env.durable_object("FEED")?.get_by_name(FEED_NAME)?;
    let mut init = RequestInit::new();
    init.with_method(worker::Method::Post).with_body(body.map(Into::into));
    Ok(stub.fetch_with_request(Request::new_with_init(&format!("{INTERNAL_URL}{path}"), &init)?).await?.status_code())
}

/// Makes the feed object drop everything it holds in memory, as an eviction would.
pub async fn forget(env: &Env) -> Result<u16> {
    post_to_feed(env, "/forget", None).await
}

thread_local! {
    /// When this isolate's wake in flight was sent (ms), and whether another commit came
    /// after it was sent.
    static WAKING: std::cell::Cell<(Option<u64>, bool)> = const { std::cell::Cell::new((None, false)) };
}

/// A wake in flight for longer than this is taken as lost (its `waitUntil` may have been
/// cancelled before it could clear the flag), so the isolate's wakes never stop for good.
const WAKE_STALE_MS: u64 = 2_000;

/// Wakes the feed once the response is on its way (an edge function's write committed),
/// so its subscribers need not wait for the next poll. A failed wake loses only that
/// shortcut: the next poll picks the change up.
pub fn wake_after(env: &Env, ctx: &worker::Context) {
    let env = env.clone();
    ctx.wait_until(async move {
        if let Err(e) = wake(&env).await {
            worker::console_warn!("cannot wake the change feed: {e}");
        }
    });
}

/// Tells the feed that a transaction just committed, so it reads now rather than at its
/// next poll (the edge functions call it after their own commits). Harmless when nobody
/// listens: an idle feed stays idle.
///
/// Wakes from one isolate coalesce: while one is in flight, later commits only ask for
/// one more, sent when it returns. A wake that arrives after every commit is all the
/// feed needs, and at hundreds of sends per second this saves a Durable Object call per
/// send (measured: sends topped out lower with one wake each).
pub async fn wake(env: &Env) -> Result<()> {
    let (in_flight, _) = WAKING.get();
    if in_flight.is_some_and(|sent| clock::now_millis().saturating_sub(sent) < WAKE_STALE_MS) {
        WAKING.set((in_flight, true));
        return Ok(());
    }
    loop {
        WAKING.set((Some(clock::now_millis()), false));
        let sent = wake_once(env).await;
        let (_, again) = WAKING.get();
        if sent.is_err() || !again {
            WAKING.set((None, false));
            return sent;
        }
    }
}

async fn wake_once(env: &Env) -> Result<()> {
    post_to_feed(env, "/wake", None).await.map(drop)
}

/// Registers `registration.room` with the feed, which starts polling if it was idle.
pub async fn register(env: &Env, registration: &Registration) -> Result<()> {
    let body = serde_json::to_string(registration).map_err(|e| worker::Error::RustError(e.to_string()))?;
    match post_to_feed(env, "/register", Some(body)).await? {
        204 => Ok(()),
        other => Err(worker::Error::RustError(format!("the feed refused a registration: {other}"))),
    }
}

#[durable_object]
pub struct Feed {
    state: State,
    env: Env,
    db: db::KeptConnection,
    /// Column names and types per `schema.table`, read once per object.
    columns: RefCell<HashMap<String, Vec<(String, String)>>>,
    poll_ms: u64,
    /// How long numbered changes are kept for replay (`FEED_RETENTION_HOURS`, default 24).
    retention_hours: i32,
    polls: std::cell::Cell<u32>,
    /// A wake arrived (a commit the last read may not have seen): poll again at once.
    woken: std::cell::Cell<bool>,
    /// The registered rooms and the failing flag as stored, read from storage once per
    /// object and written through: reading and decoding them on every poll cost a tenth
    /// of the isolate's CPU at 500 changes per second. Only this object writes them.
    rooms_cache: RefCell<Option<BTreeMap<String, Vec<String>>>>,
    /// How many registrations each room has made since this object started. A room's
    /// answer that nobody listens is acted on only if no registration came in while the
    /// question was out: the join that registered would otherwise never hear a change.
    registrations: RefCell<HashMap<String, u64>>,
    failing_cache: std::cell::Cell<Option<bool>>,
    /// Rooms with changes kept for later (`pending:<room>` keys), listed once per object
    /// and kept up to date, so a poll does not look up every room's key.
    pending_rooms: RefCell<Option<std::collections::BTreeSet<String>>>,
}

impl DurableObject for Feed {
    fn new(state: State, env: Env) -> Self {
        let poll_ms = settings::text(&env, "FEED_POLL_MS").and_then(|v| v.trim().parse().ok()).unwrap_or(100);
        let retention_hours =
            settings::text(&env, "FEED_RETENTION_HOURS").and_then(|v| v.trim().parse().ok()).unwrap_or(24);
        Feed {
            state,
            env,
            db: db::KeptConnection::default(),
            columns: RefCell::new(HashMap::new()),
            poll_ms,
            retention_hours,
            polls: std::cell::Cell::new(0),
            woken: std::cell::Cell::new(false),
            rooms_cache: RefCell::new(None),
            registrations: RefCell::new(HashMap::new()),
            failing_cache: std::cell::Cell::new(None),
            pending_rooms: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match req.path().as_str() {
            "/register" => {
                let Ok(registration) = req.json::<Registration>().await else {
                    return Response::error("bad registration", 400);
                };
                let mut rooms = self.rooms().await?;
                let was_idle = rooms.is_empty();
                *self.registrations.borrow_mut().entry(registration.room.clone()).or_default() += 1;
                room::changes::Interests::add(rooms.entry(registration.room).or_default(), registration.interests);
                self.save_rooms(&rooms).await?;
                if was_idle {
                    // Changes made while nobody listened are numbered but not delivered:
                    // a channel hears what happens after it joined.
                    self.skip_backlog().await;
                    self.trim().await;
                    // The scheduler's run keeps realtime.messages' partitions too: make
                    // sure it runs (and so sets its daily alarm) once the project is used.
                    if let Err(e) = crate::scheduler_object::wake(&self.env).await {
                        worker::console_warn!("feed: cannot wake the scheduler: {e}");
                    }
                }
                self.poll_soon(0).await?;
                Response::empty().map(|r| r.with_status(204))
            }
            "/wake" => {
                // Wakes coalesce: while one is pending (a poll will start, or the running
                // one will be followed at once), the next costs nothing. At hundreds of
                // sends per second this is most of them.
                if !self.woken.replace(true) {
                    if self.rooms().await?.is_empty() {
                        self.woken.set(false);
                    } else {
                        // If a poll is running now it may have read before this commit:
                        // it sees the flag when it ends and schedules the next one at once.
                        self.poll_soon(0).await?;
                    }
                }
                Response::empty().map(|r| r.with_status(204))
            }
            "/forget" => {
                // What eviction does: nothing in memory survives (the connection included);
                // the next alarm carries on from storage and the database's cursor.
                self.columns.borrow_mut().clear();
                self.polls.set(0);
                self.rooms_cache.borrow_mut().take();
                self.failing_cache.set(None);
                self.pending_rooms.borrow_mut().take();
                if let Ok(mut guard) = self.db.lock(&self.env).await {
                    *guard = None;
                }
                Response::empty().map(|r| r.with_status(204))
            }
            _ => Response::error("not found", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        // The room map is read afresh after every wait: registrations and removals made
        // meanwhile (by /register, or by this poll) are never overwritten by a stale copy.
        if self.rooms().await?.is_empty() {
            return Response::ok("idle");
        }
        let polls = self.polls.get().wrapping_add(1);
        self.polls.set(polls);
        if polls.is_multiple_of(CHECK_ROOMS_EVERY) {
            self.trim().await;
            self.check_rooms().await?;
            if self.rooms().await?.is_empty() {
                return Response::ok("idle");
            }
        }
        let started = clock::now_millis();
        self.woken.set(false);
        // What rooms could not take before goes first, in order.
        self.redeliver().await?;
        let next = match self.read().await {
            Ok(changes) => {
                if self.failing().await {
                    self.tell_rooms(&self.rooms().await?, None).await;
                    self.state.storage().delete(FAILING_KEY).await?;
                    self.failing_cache.set(Some(false));
                }
                let full = changes.len() as i32 == BATCH;
                self.deliver(&changes).await?;
                // Polls start every poll_ms (not poll_ms after the last one ended), so a
                // busy round's own time is not added to the next change's wait.
                let spent = clock::now_millis().saturating_sub(started);
                if full || self.woken.get() {
                    0
                } else {
                    self.poll_ms.saturating_sub(spent)
                }
            }
            Err(e) => {
                worker::console_error!("feed: cannot read changes: {e}");
                if !self.failing().await {
                    self.tell_rooms(&self.rooms().await?, Some(&e)).await;
                    self.state.storage().put(FAILING_KEY, true).await?;
                    self.failing_cache.set(Some(true));
                }
                1000
            }
        };
        if !self.rooms().await?.is_empty() {
            self.poll_soon(next).await?;
        }
        Response::ok("")
    }
}

impl Feed {
    async fn rooms(&self) -> Result<BTreeMap<String, Vec<String>>> {
        if let Some(rooms) = self.rooms_cache.borrow().as_ref() {
            return Ok(rooms.clone());
        }
        let rooms = self
            .state
            .storage()
            .get::<BTreeMap<String, Vec<String>>>(ROOMS_KEY)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        *self.rooms_cache.borrow_mut() = Some(rooms.clone());
        Ok(rooms)
    }

    async fn save_rooms(&self, rooms: &BTreeMap<String, Vec<String>>) -> Result<()> {
        // The cache first: whatever runs while the write is out sees the new map.
        *self.rooms_cache.borrow_mut() = Some(rooms.clone());
        self.state.storage().put(ROOMS_KEY, rooms).await
    }

    /// Whether rooms were told that reads fail (and must hear that they work again).
    async fn failing(&self) -> bool {
        if let Some(failing) = self.failing_cache.get() {
            return failing;
        }
        let failing = self.state.storage().get::<bool>(FAILING_KEY).await.ok().flatten().unwrap_or(false);
        self.failing_cache.set(Some(failing));
        failing
    }

    async fn poll_soon(&self, in_ms: u64) -> Result<()> {
        let at = (clock::now_millis() + in_ms) as f64;
        // A Number, not a BigInt: `new Date(BigInt)` throws through wasm.
        let date = js_sys::Date::new(&js_sys::Number::from(at));
        self.state.storage().set_alarm(worker::ScheduledTime::new(date)).await
    }

    /// Forgets numbered changes older than the retention window; a replay from before it
    /// gets `ReplayUnavailable`, never a silent gap.
    async fn trim(&self) {
        let hours = self.retention_hours;
        let trimmed = self
            .db
            .run(&self.env, async |client| {
                client.query_one("select feed.trim(make_interval(hours => $1))", &[&hours]).await
            })
            .await;
        if let Err(e) = trimmed {
            worker::console_warn!("feed: cannot trim the change log: {e}");
        }
    }

    async fn skip_backlog(&self) {
        for _ in 0..1000 {
            match self.read().await {
                Ok(changes) if changes.len() as i32 == BATCH => continue,
                Ok(_) => return,
                Err(e) => {
                    worker::console_error!("feed: cannot skip the backlog: {e}");
                    return;
                }
            }
        }
    }

    /// Numbers and takes the next batch of committed changes.
    async fn read(&self) -> std::result::Result<Vec<FeedChange>, String> {
        self.db.run(&self.env, async |client| fetch(client, Source::Next(BATCH)).await).await
    }

    /// Column names and types of the tables in `changes`, from the cache or one query.
    async fn columns_of(&self, changes: &[FeedChange]) -> HashMap<String, Vec<(String, String)>> {
        let wanted = tables_of(changes);
        let missing: Vec<String> = wanted.iter().filter(|t| !self.columns.borrow().contains_key(*t)).cloned().collect();
        if !missing.is_empty() {
            if let Ok(found) = self.db.run(&self.env, async |client| Ok(table_columns(client, &missing).await)).await {
                self.columns.borrow_mut().extend(found);
            }
        }
        let cache = self.columns.borrow();
        wanted.into_iter().filter_map(|t| cache.get(&t).map(|c| (t, c.clone()))).collect()
    }

    /// Hands each room the changes one of its registered bindings matches, all rooms at once
    /// (each checks its subscribers' rights in its own round trip, so sending one after
    /// the other would add those round trips up); forgets rooms that answer that nobody
    /// there listens any more, and keeps what a room could not take (it could not check
    /// its subscribers' rights) for the next round.
    async fn deliver(&self, changes: &[FeedChange]) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let columns = self.columns_of(changes).await;
        // Read after the changes were: a room registered before they were read hears them.
        let rooms = self.rooms().await?;
        let asked = self.registrations_now();
        let mut batches = Vec::new();
        let parsed: Vec<(&FeedChange, room::changes::Change)> =
            changes.iter().filter(|c| !is_broadcast(c)).filter_map(|c| Some((c, as_change(c)?))).collect();
        for (room, interests) in rooms.iter() {
            let interests = room::changes::Interests::parse(interests);
            let wanted: Vec<FeedChange> =
                parsed.iter().filter(|(_, c)| interests.want(c)).map(|(f, _)| (*f).clone()).collect();
            if wanted.is_empty() {
                continue;
            }
            if self.has_pending(room).await {
                // Behind older changes still waiting: keep the order.
                self.keep_pending(room, wanted).await?;
                continue;
            }
            batches.push((room.clone(), Batch { changes: wanted, columns: columns.clone() }));
        }
        // Signals first: a member banned in this batch is closed out before a broadcast
        // committed after the ban reaches the room.
        self.deliver_signals(changes).await;
        let sent = futures_util::future::join(
            self.deliver_broadcasts(changes),
            futures_util::future::join_all(batches.iter().map(|(room, batch)| send_batch(&self.env, room, batch))),
        )
        .await
        .1;
        let mut gone = Vec::new();
        for ((room, batch), outcome) in batches.into_iter().zip(sent) {
            match outcome {
                Ok(410) => gone.push(room),
                Ok(status) if status < 300 => {}
                outcome => {
                    worker::console_warn!("feed: room {room} could not take a batch ({outcome:?}); kept for later");
                    self.keep_pending(&room, batch.changes).await?;
                }
            }
        }
        self.forget_rooms(gone, &asked).await
    }

    /// Sends each room what it could not take before, oldest first.
    async fn redeliver(&self) -> Result<()> {
        let rooms = self.rooms().await?;
        let asked = self.registrations_now();
        let mut batches = Vec::new();
        for room in self.pending_rooms().await.into_iter().filter(|r| rooms.contains_key(r)) {
            let key = format!("{PENDING_PREFIX}{room}");
            let Some(changes) = self.state.storage().get::<Vec<FeedChange>>(&key).await.ok().flatten() else {
                continue;
            };
            batches.push((room, Batch { columns: self.columns_of(&changes).await, changes }));
        }
        let sent =
            futures_util::future::join_all(batches.iter().map(|(room, batch)| send_batch(&self.env, room, batch)))
                .await;
        let mut gone = Vec::new();
        for ((room, _), outcome) in batches.into_iter().zip(sent) {
            match outcome {
                Ok(410) => gone.push(room),
                Ok(status) if status < 300 => self.drop_pending(&room).await?,
                _ => {}
            }
        }
        self.forget_rooms(gone, &asked).await
    }

    /// The rooms with changes kept for later.
    async fn pending_rooms(&self) -> std::collections::BTreeSet<String> {
        if let Some(rooms) = self.pending_rooms.borrow().as_ref() {
            return rooms.clone();
        }
        let listed = self.state.storage().list_with_options(worker::ListOptions::new().prefix(PENDING_PREFIX)).await;
        let rooms: std::collections::BTreeSet<String> = match listed {
            Ok(map) => map
                .keys()
                .into_iter()
                .filter_map(|k| k.ok()?.as_string())
                .filter_map(|k| k.strip_prefix(PENDING_PREFIX).map(str::to_string))
                .collect(),
            Err(e) => {
                // Not cached: the next poll lists again.
                worker::console_warn!("feed: cannot list the changes kept for rooms: {e}");
                return Default::default();
            }
        };
        *self.pending_rooms.borrow_mut() = Some(rooms.clone());
        rooms
    }

    async fn has_pending(&self, room: &str) -> bool {
        self.pending_rooms().await.contains(room)
    }

    async fn keep_pending(&self, room: &str, changes: Vec<FeedChange>) -> Result<()> {
        let key = format!("{PENDING_PREFIX}{room}");
        let mut pending = self.state.storage().get::<Vec<FeedChange>>(&key).await.ok().flatten().unwrap_or_default();
        pending.extend(changes);
        if pending.len() > MAX_PENDING {
            let dropped = pending.len() - MAX_PENDING;
            worker::console_error!("feed: room {room} cannot take changes; dropped the oldest {dropped}");
            pending.drain(..dropped);
        }
        self.state.storage().put(&key, &pending).await?;
        if let Some(rooms) = self.pending_rooms.borrow_mut().as_mut() {
            rooms.insert(room.to_string());
        }
        Ok(())
    }

    /// Forgets what was kept for `room`: delivered, or the room is gone.
    async fn drop_pending(&self, room: &str) -> Result<()> {
        self.state.storage().delete(&format!("{PENDING_PREFIX}{room}")).await?;
        if let Some(rooms) = self.pending_rooms.borrow_mut().as_mut() {
            rooms.remove(room);
        }
        Ok(())
    }

    /// The registration count of every room, taken before rooms are asked anything.
    fn registrations_now(&self) -> HashMap<String, u64> {
        self.registrations.borrow().clone()
    }

    /// Rooms that answered that no channel there has bindings any more lose their table
    /// interests; one that still has channels keeps listening for broadcasts. A room that
    /// registered again after `asked` was taken keeps what it registered.
    async fn forget_rooms(&self, gone: Vec<String>, asked: &HashMap<String, u64>) -> Result<()> {
        let gone: Vec<String> = {
            let now = self.registrations.borrow();
            gone.into_iter().filter(|room| now.get(room) == asked.get(room)).collect()
        };
        if gone.is_empty() {
            return Ok(());
        }
        for room in &gone {
            self.drop_pending(room).await?;
        }
        // Applied to the map as it is now, with no wait between reading and changing it.
        let mut rooms = self.rooms().await?;
        for room in gone {
            let keep_broadcasts = rooms.get(&room).is_some_and(|i| i.iter().any(|i| i == BROADCASTS));
            if keep_broadcasts {
                rooms.insert(room, vec![BROADCASTS.to_string()]);
            } else {
                rooms.remove(&room);
            }
        }
        self.save_rooms(&rooms).await
    }

    /// Asks every registered room whether any channel is still joined there; forgets those
    /// that say no (and did not register again meanwhile), so the feed sleeps once
    /// everyone left.
    async fn check_rooms(&self) -> Result<()> {
        let rooms = self.rooms().await?;
        let asked_at = self.registrations_now();
        let asked = futures_util::future::join_all(rooms.keys().map(|room| async move {
            let stub = self.env.durable_object("ROOMS")?.get_by_name(room)?;
            stub.fetch_with_str("https://room.internal/listening").await.map(|r| (room.clone(), r.status_code()))
        }))
        .await;
        let empty: Vec<String> = {
            let now = self.registrations.borrow();
            asked
                .into_iter()
                .filter_map(|a| a.ok().and_then(|(room, status)| (status == 410).then_some(room)))
                .filter(|room| now.get(room) == asked_at.get(room))
                .collect()
        };
        if empty.is_empty() {
            return Ok(());
        }
        for room in &empty {
            self.drop_pending(room).await?;
        }
        let mut rooms = self.rooms().await?;
        for room in empty {
            rooms.remove(&room);
        }
        self.save_rooms(&rooms).await
    }

    /// Broadcasts from the database (`realtime.send`) go to the room of their topic, in
    /// the order they were committed.
    async fn deliver_broadcasts(&self, changes: &[FeedChange]) {
        let mut by_room: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for c in changes.iter().filter(|c| is_broadcast(c) && c.op == "INSERT") {
            let Some(record) = &c.record else { continue };
            let Some(topic) = record.get("topic").and_then(Value::as_str).and_then(|t| Topic::parse(t).ok()) else {
                continue;
            };
            let private = record.get("private").and_then(Value::as_bool).unwrap_or(true);
            by_room.entry(topic.room_name(private)).or_default().push(serde_json::json!({
                "topic": topic.full(),
                "event": record.get("event").cloned().unwrap_or(Value::Null),
                "payload": record.get("payload").cloned().unwrap_or(Value::Null),
                "id": record.get("id").map(|id| match id {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }),
            }));
        }
        let posts = by_room.into_iter().map(|(room, messages)| async move {
            if let Err(e) = post_to_room(&self.env, &room, "/db-broadcast", Value::Array(messages).to_string()).await {
                worker::console_warn!("feed: cannot hand broadcasts to room {room}: {e}");
            }
        });
        futures_util::future::join_all(posts).await;
    }

    /// Signals from the database (`feed.signal`) go to the private room of their topic,
    /// in the order they were committed; the room acts on them (`room_object::signals`).
    /// `schedule` signals wake the scheduler instead (once per batch). A room that cannot
    /// take its signals (or cannot ask the policies now) is tried again, a few times: a
    /// revocation must not be dropped by one failed call.
    async fn deliver_signals(&self, changes: &[FeedChange]) {
        let mut by_room: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let mut schedule = false;
        for c in changes.iter().filter(|c| is_signal(c)) {
            let Some(record) = &c.record else { continue };
            if record.get("kind").and_then(Value::as_str) == Some("schedule") {
                schedule = true;
                continue;
            }
            let Some(topic) = record.get("topic").and_then(Value::as_str).and_then(|t| Topic::parse(t).ok()) else {
                continue;
            };
            by_room.entry(topic.room_name(true)).or_default().push(serde_json::json!({
                "topic": topic.full(),
                "kind": record.get("kind").cloned().unwrap_or(Value::Null),
                "user_id": record.get("user_id").cloned().unwrap_or(Value::Null),
            }));
        }
        if schedule {
            if let Err(e) = crate::scheduler_object::wake(&self.env).await {
                worker::console_warn!("feed: cannot wake the scheduler: {e}");
            }
        }
        let posts = by_room.into_iter().map(|(room, signals)| async move {
            let body = Value::Array(signals).to_string();
            for attempt in 1..=SIGNAL_ATTEMPTS {
                match post_to_room(&self.env, &room, "/signals", body.clone()).await {
                    // Taken, or refused as malformed (trying again would not help).
                    Ok(status) if status < 500 => return,
                    outcome => {
                        worker::console_warn!("feed: room {room} could not take signals ({outcome:?}), try {attempt}");
                        if attempt < SIGNAL_ATTEMPTS {
                            worker::Delay::from(std::time::Duration::from_millis(100 * u64::from(attempt))).await;
                        }
                    }
                }
            }
            worker::console_error!("feed: room {room} did not take its signals; its channels keep their last decision");
        });
        futures_util::future::join_all(posts).await;
    }

    /// Tells every registered room that the feed cannot read the database (`Some`), or
    /// can again (`None`); rooms pass it on to their subscribers as a `system` message.
    async fn tell_rooms(&self, rooms: &BTreeMap<String, Vec<String>>, error: Option<&str>) {
        let body = serde_json::json!({"ok": error.is_none(), "error": error}).to_string();
        let posts = rooms.keys().map(|room| {
            let body = body.clone();
            async move {
                if let Err(e) = post_to_room(&self.env, room, "/feed-status", body).await {
                    worker::console_warn!("feed: cannot tell room {room} about the database: {e}");
                }
            }
        });
        futures_util::future::join_all(posts).await;
    }
}

/// Where changes are read from.
pub enum Source {
    /// The next batch of newly committed changes, numbered now (the feed object only).
    Next(i32),
    /// Changes already numbered, after a position (a channel catching up).
    After(i64, i32),
}

/// Reads changes from the feed, formatted for rooms.
pub async fn fetch(
    client: &tokio_postgres::Client,
    source: Source,
) -> std::result::Result<Vec<FeedChange>, tokio_postgres::Error> {
    const COLUMNS: &str = "select feed_position,
                                  to_char(committed_at at time zone 'utc', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),
                                  schema_name, table_name, op, pk::text, record::text, old_record::text";
    let rows = match source {
        // Typed parameters: no prepare round trip on every poll.
        Source::Next(max) => {
            client.query_typed(&format!("{COLUMNS} from feed.read($1)"), &[(&max, Type::INT4)]).await?
        }
        Source::After(after, max) => {
            client
                .query_typed(&format!("{COLUMNS} from feed.since($1, $2)"), &[(&after, Type::INT8), (&max, Type::INT4)])
                .await?
        }
    };
    let object = |text: Option<String>| text.and_then(|t| serde_json::from_str::<Map<String, Value>>(&t).ok());
    rows.iter()
        .map(|r| {
            Ok(FeedChange {
                position: r.try_get(0)?,
                commit_timestamp: r.try_get(1)?,
                schema: r.try_get(2)?,
                table: r.try_get(3)?,
                op: r.try_get(4)?,
                pk: object(r.try_get(5)?).unwrap_or_default(),
                record: object(r.try_get(6)?),
                old_record: object(r.try_get(7)?),
            })
        })
        .collect()
}

/// `schema.table` of each change, once each.
pub fn tables_of(changes: &[FeedChange]) -> Vec<String> {
    let mut tables: Vec<String> =
        changes.iter().filter(|c| !is_signal(c)).map(|c| format!("{}.{}", c.schema, c.table)).collect();
    tables.sort();
    tables.dedup();
    tables
}

/// Column names and types (`pg_type.typname`) of `tables` (`schema.table`), in order.
pub async fn table_columns(
    client: &tokio_postgres::Client,
    tables: &[String],
) -> HashMap<String, Vec<(String, String)>> {
    let rows = client
        .query(
            "select n.nspname || '.' || c.relname, a.attname::text, t.typname::text
               from pg_catalog.pg_attribute a
               join pg_catalog.pg_class c on c.oid = a.attrelid
               join pg_catalog.pg_namespace n on n.oid = c.relnamespace
               join pg_catalog.pg_type t on t.oid = a.atttypid
              where n.nspname || '.' || c.relname = any($1) and a.attnum > 0 and not a.attisdropped
              order by 1, a.attnum",
            &[&tables],
        )
        .await
        .unwrap_or_default();
    let mut columns: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for r in rows {
        if let (Ok(table), Ok(name), Ok(kind)) =
            (r.try_get::<_, String>(0), r.try_get::<_, String>(1), r.try_get::<_, String>(2))
        {
            columns.entry(table).or_default().push((name, kind));
        }
    }
    columns
}

fn is_broadcast(c: &FeedChange) -> bool {
    c.schema == "realtime" && c.table == "messages"
}

/// A signal to a room (`feed.signal`), not a row change.
fn is_signal(c: &FeedChange) -> bool {
    c.schema == "feed" && c.table == "signals"
}

async fn send_batch(env: &Env, room: &str, batch: &Batch) -> Result<u16> {
    let body = serde_json::to_string(batch).map_err(|e| worker::Error::RustError(e.to_string()))?;
    post_to_room(env, room, "/changes", body).await
}

/// POSTs `body` to `path` of the room (Durable Object) named `room`; its status.
async fn post_to_room(env: &Env, room: &str, path: &str, body: String) -> Result<u16> {
    let stub = env.durable_object("ROOMS")?.get_by_name(room)?;
    let mut init = RequestInit::new();
    init.with_method(worker::Method::Post).with_body(Some(body.into()));
    let response =
        stub.fetch_with_request(Request::new_with_init(&format!("https://room.internal{path}"), &init)?).await?;
    Ok(response.status_code())
}

/// The payload of a `postgres_changes` frame, from a feed change. Of a deleted row only
/// its key is shown, to bindings as to deliveries: nobody's right to a row that is gone
/// can be checked, and a filter tried on the whole old row (REPLICA IDENTITY FULL) would
/// tell a stranger whether it matched (`body=eq.<guess>`).
pub fn as_change(c: &FeedChange) -> Option<room::changes::Change> {
    if is_signal(c) {
        return None;
    }
    let op = room::changes::Op::parse(&c.op)?;
    let old_record = if op == room::changes::Op::Delete { Some(c.pk.clone()) } else { c.old_record.clone() };
    Some(room::changes::Change {
        position: c.position,
        schema: c.schema.clone(),
        table: c.table.clone(),
        op,
        commit_timestamp: c.commit_timestamp.clone(),
        record: c.record.clone(),
        old_record,
    })
}
