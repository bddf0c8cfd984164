//! The `Room` Durable Object: one per topic and privacy, named by
//! `Topic::room_name` (a name's private and public channels never share a room).
//!
//! Each upstream socket from a Worker (one client connection's view of this topic) is
//! accepted with the Hibernation API. What the room must remember survives hibernation
//! and eviction: each [`room::Member`] in its socket's attachment, each tracked presence
//! in the object's storage. In memory the room keeps a roster (socket, member) built
//! from those on wake-up, so a fan-out decodes nothing. The rules are in the `room`
//! crate; this file does the I/O (token checks, Postgres, sockets, storage, alarms), and
//! [`changes`] the room's side of the change feed (bindings, deliveries, replay).

use crate::channel_access::{self, Access, AccessError};
use crate::{clock, db, js_send, settings};
use edge_auth::AuthError;
use realtime_protocol::{event, reason, reply, BinaryBroadcast, CloseCode, Frame, JoinError, Topic, Vsn};
use room::handle::{self as rules, Admission, Ctx, Effect, Inbound, Refresh};
use room::{Identity, Limits, Member, Outbound, Tracked, Wire};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use worker::{
    durable_object, DurableObject, Env, Headers, Request, RequestInit, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

mod changes;

/// The internal URL the Worker uses to reach a room; never exposed to clients.
const INTERNAL_URL: &str = "https://room.internal";
const PRESENCE_PREFIX: &str = "presence:";
/// Most `postgres_changes` bindings one channel may ask for (they live in its attachment).
const MAX_BINDINGS: usize = 10;

/// What a socket's attachment holds. Attachments are capped at 16 KB: the member's
/// identities carry bounded claims (`edge_auth::MAX_POLICY_CLAIMS_BYTES`), and refs and
/// presence keys are bounded at join (`room::handle::check_join`).
#[derive(Debug, Serialize, Deserialize)]
struct Attachment {
    topic: String,
    member: Member,
}

/// What the Worker tells a room about a new upstream socket.
pub struct Upstream<'a> {
    pub topic: &'a Topic,
    /// Which of the topic's two rooms: private channels and public ones never meet.
    pub private: bool,
    pub socket_key: &'a str,
    pub conn_id: &'a str,
    pub identity: &'a Identity,
    pub vsn: Vsn,
}

fn stub(env: &Env, topic: &Topic, private: bool) -> Result<worker::Stub> {
    env.durable_object("ROOMS")?.get_by_name(&topic.room_name(private))
}

/// The internal upgrade request that opens a socket on the room of `up.topic`.
async fn upgrade_request(env: &Env, up: &Upstream<'_>, direct: bool) -> Result<Response> {
    let stub = stub(env, up.topic, up.private)?;
    let identity = serde_json::to_string(up.identity).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let mut url = url::Url::parse(&format!("{INTERNAL_URL}/socket"))?;
    url.query_pairs_mut()
        .append_pair("topic", up.topic.full())
        .append_pair("key", up.socket_key)
        .append_pair("conn", up.conn_id)
        .append_pair("vsn", up.vsn.as_str())
        .append_pair("identity", &identity);
    if up.private {
        url.query_pairs_mut().append_pair("private", "1");
    }
    if direct {
        url.query_pairs_mut().append_pair("direct", "1");
    }
    let headers = Headers::new();
    headers.set("upgrade", "websocket")?;
    let mut init = RequestInit::new();
    init.with_headers(headers);
    stub.fetch_with_request(Request::new_with_init(url.as_str(), &init)?).await
}

/// Opens an upstream WebSocket from the Worker to the room of `topic`. The caller has
/// verified the token; the room trusts these fields because only the Worker can reach it.
pub async fn open_upstream(env: &Env, up: Upstream<'_>) -> Result<WebSocket> {
    let response = upgrade_request(env, &up, false).await?;
    response.websocket().ok_or_else(|| worker::Error::RustError(format!("room {} did not upgrade", up.topic)))
}

/// Opens a direct socket: the room's own 101 response goes back to the client, so the
/// client talks to the room with no Worker in between.
pub async fn open_direct(env: &Env, up: Upstream<'_>) -> Result<Response> {
    upgrade_request(env, &up, true).await
}

/// Asks the room of `topic` for its counters.
pub async fn fetch_stats(env: &Env, topic: &Topic, private: bool) -> Result<Value> {
    let mut response = stub(env, topic, private)?.fetch_with_str(&format!("{INTERNAL_URL}/stats")).await?;
    response.json().await
}

/// Makes the room of `topic` drop its in-memory state, as eviction would.
pub async fn forget(env: &Env, topic: &Topic, private: bool) -> Result<u16> {
    Ok(stub(env, topic, private)?.fetch_with_str(&format!("{INTERNAL_URL}/forget")).await?.status_code())
}

/// A server-side broadcast (the REST endpoint) for one of a topic's rooms.
#[derive(Serialize, Deserialize)]
pub struct ServerBroadcast {
    pub topic: String,
    pub payload: Map<String, Value>,
    /// The sender, whose write access a private room checks.
    pub sender: Identity,
}

/// What a room answered to a server-side broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// The write policy refused the sender.
    Refused,
    /// The database could not be asked.
    Unavailable,
}

/// Delivers a server-side broadcast to the room of `topic` with this privacy; a private
/// room first checks the sender's write access, over the room's own connection.
pub async fn deliver_broadcast(env: &Env, topic: &Topic, private: bool, message: &ServerBroadcast) -> Result<Delivery> {
    let body = serde_json::to_string(message).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let mut init = RequestInit::new();
    init.with_method(worker::Method::Post).with_body(Some(body.into()));
    let privacy = if private { "?private=1" } else { "" };
    let request = Request::new_with_init(&format!("{INTERNAL_URL}/broadcast{privacy}"), &init)?;
    let response = stub(env, topic, private)?.fetch_with_request(request).await?;
    Ok(match response.status_code() {
        202 => Delivery::Sent,
        401 | 403 => Delivery::Refused,
        _ => Delivery::Unavailable,
    })
}

struct Entry {
    ws: WebSocket,
    topic: String,
    member: Member,
}

/// The room's sockets, in memory.
#[derive(Default)]
struct Roster {
    entries: HashMap<String, Entry>,
}

impl rules::Roster for Roster {
    fn has_user(&self, user_key: &str, except_socket: &str) -> bool {
        self.entries.iter().any(|(k, e)| k != except_socket && e.member.user_key().as_deref() == Some(user_key))
    }

    fn user_count(&self, except_socket: &str) -> usize {
        self.entries
            .iter()
            .filter(|(k, _)| k.as_str() != except_socket)
            .filter_map(|(_, e)| e.member.user_key())
            .collect::<HashSet<_>>()
            .len()
    }

    fn presence(&self, except_socket: &str) -> Vec<Tracked> {
        self.entries
            .iter()
            .filter(|(k, _)| k.as_str() != except_socket)
            .filter_map(|(_, e)| e.member.tracked().cloned())
            .collect()
    }
}

/// Counters since the room last woke up.
#[derive(Default, Serialize)]
struct Stats {
    messages_in: u64,
    messages_out: u64,
    send_failures: u64,
    presence_diffs: u64,
    /// Sockets closed because their client stopped reading (4001).
    closed_too_slow: u64,
    /// Direct sockets closed for an oversized frame (1009).
    closed_too_big: u64,
}

/// The last access decision per identity, kept so that a database outage does not close
/// channels that were allowed a moment ago (see [`Room::access`]). Bounded: when full it
/// starts over, which only means fewer fallbacks during an outage.
#[derive(Default)]
struct Decisions {
    by_identity: HashMap<String, Access>,
}

impl Decisions {
    const MAX: usize = 1024;

    fn remember(&mut self, identity: &Identity, access: Access) {
        if self.by_identity.len() >= Self::MAX {
            self.by_identity.clear();
        }
        self.by_identity.insert(identity.access_key(), access);
    }

    fn last(&self, identity: &Identity) -> Option<Access> {
        self.by_identity.get(&identity.access_key()).copied()
    }
}

#[durable_object]
pub struct Room {
    state: State,
    env: Env,
    /// Read from the vars once per object: `run` needs them on every message.
    limits: Limits,
    roster: RefCell<Option<Roster>>,
    stats: RefCell<Stats>,
    /// The connection every access check of this room goes through.
    db: db::KeptConnection,
    decisions: RefCell<Decisions>,
    /// Sockets the room closed during a fan-out, to forget once it is over.
    closing: RefCell<Vec<WebSocket>>,
    /// Whether the feed knows this room listens (once per wake-up).
    announced: std::cell::Cell<bool>,
    /// Channels catching up (`postgres_changes_replay`): live deliveries wait here, by
    /// socket, until the replay has sent everything before them.
    replaying: RefCell<HashMap<String, Vec<(i64, Wire)>>>,
    /// The last change position sent to each socket: a batch in flight from the feed that
    /// a replay already covered is not sent twice.
    delivered: RefCell<HashMap<String, i64>>,
    /// Sockets whose channel asked for a broadcast replay: live database broadcasts wait
    /// while it runs, and those it could see are not sent again afterwards.
    broadcast_replays: RefCell<HashMap<String, changes::BroadcastReplayState>>,
    /// Each user's events budget in this room, shared by their sockets.
    user_budgets: RefCell<room::user_budget::UserBudgets>,
}

impl DurableObject for Room {
    fn new(state: State, env: Env) -> Self {
        // A Worker whose limits do not parse refuses every upgrade and REST call before a
        // room is reached, and health reports it; the room refuses too (in `fetch`), so
        // these placeholder defaults never serve anyone.
        let limits = settings::limits(&env).unwrap_or_default();
        Room {
            state,
            env,
            limits,
            roster: RefCell::new(None),
            stats: RefCell::new(Stats::default()),
            db: db::KeptConnection::default(),
            decisions: RefCell::new(Decisions::default()),
            closing: RefCell::new(Vec::new()),
            user_budgets: RefCell::new(Default::default()),
            announced: std::cell::Cell::new(false),
            replaying: RefCell::new(HashMap::new()),
            delivered: RefCell::new(HashMap::new()),
            broadcast_replays: RefCell::new(HashMap::new()),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        if let Err(e) = settings::limits(&self.env) {
            return crate::error::EdgeError::Misconfigured(e.to_string()).into_response();
        }
        self.ensure_roster().await?;
        match req.path().as_str() {
            "/socket" => {
                let accepted = self.accept(req);
                // A direct socket is swept for idleness by the alarm.
                self.schedule_alarm().await?;
                accepted
            }
            "/stats" => Response::from_json(&self.stats_json()),
            "/forget" => {
                // What eviction does: nothing in memory survives; the next event rebuilds
                // the room from socket attachments and storage.
                *self.roster.borrow_mut() = None;
                *self.stats.borrow_mut() = Stats::default();
                *self.decisions.borrow_mut() = Decisions::default();
                Response::empty().map(|r| r.with_status(204))
            }
            "/broadcast" => self.server_broadcast(req).await,
            "/changes" => self.receive_changes(req).await,
            "/feed-status" => self.feed_status(req).await,
            "/db-broadcast" => self.database_broadcast(req).await,
            "/listening" => {
                let anyone =
                    self.roster.borrow().as_ref().is_some_and(|r| r.entries.values().any(|e| e.member.is_joined()));
                Response::empty().map(|r| r.with_status(if anyone { 204 } else { 410 }))
            }
            _ => Response::error("not found", 404),
        }
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
        let handled = self.on_message(ws, message).await;
        self.drop_closed().await?;
        handled
    }

    async fn websocket_close(&self, ws: WebSocket, _code: usize, _reason: String, _was_clean: bool) -> Result<()> {
        self.drop_socket(&ws).await?;
        // Complete the closing handshake; the socket may already be gone.
        let _ = ws.close(Some(CloseCode::Normal.code()), Some("closed"));
        self.drop_closed().await
    }

    async fn websocket_error(&self, ws: WebSocket, error: worker::Error) -> Result<()> {
        worker::console_warn!("room socket error: {error}");
        self.drop_socket(&ws).await?;
        let _ = ws.close(Some(CloseCode::InternalError.code()), Some("error"));
        self.drop_closed().await
    }

    /// Closes every channel whose token has expired and every direct socket silent for
    /// the idle timeout, then waits for the next expiry or sweep.
    async fn alarm(&self) -> Result<Response> {
        self.ensure_roster().await?;
        let now = clock::now_secs();
        let keys: Vec<String> = self.roster_keys();
        for key in keys {
            self.run(&key, |member, topic, _| rules::expire(member, topic, now)).await?;
        }
        self.close_idle(clock::now_millis());
        self.schedule_alarm().await?;
        self.drop_closed().await?;
        Response::ok("")
    }
}

impl Room {
    async fn on_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
        self.ensure_roster().await?;
        let Some(key) = self.key_of(&ws) else {
            let _ = ws.close(Some(CloseCode::InternalError.code()), Some("socket has no room state"));
            return Ok(());
        };
        self.stats.borrow_mut().messages_in += 1;
        let Some((vsn, direct)) = self.with_entry(&key, |e| (e.member.vsn, e.member.direct)) else {
            return Ok(());
        };
        let size = match &message {
            WebSocketIncomingMessage::String(text) => text.len(),
            WebSocketIncomingMessage::Binary(bytes) => bytes.len(),
        };
        // Relayed frames were measured (and counted) by the Worker's session already; a
        // direct socket's come here first, to the same rule in the member's session.
        if direct {
            let (limits, now_ms) = (self.limits, clock::now_millis());
            let verdict = self.roster.borrow_mut().as_mut().and_then(|r| r.entries.get_mut(&key)).map(|e| {
                e.member
                    .session
                    .get_or_insert_with(|| room::session::Session::new(&limits, now_ms))
                    .frame_in(size, now_ms)
            });
            if let Some(Err((code, reason))) = verdict {
                self.stats.borrow_mut().closed_too_big += 1;
                let _ = ws.close(Some(code.code()), Some(&reason));
                return self.drop_socket(&ws).await;
            }
        }
        let inbound = match message {
            WebSocketIncomingMessage::String(text) => match Frame::decode(vsn, &text) {
                Ok(frame) => Inbound::Text(frame),
                Err(e) => {
                    worker::console_warn!("room: dropped undecodable frame: {e}");
                    self.with_session(&key, room::session::Session::dropped);
                    return Ok(());
                }
            },
            WebSocketIncomingMessage::Binary(bytes) => match BinaryBroadcast::decode_client(&bytes) {
                Ok(b) => Inbound::Binary(b),
                Err(e) => {
                    worker::console_warn!("room: dropped malformed binary frame: {e}");
                    self.with_session(&key, room::session::Session::dropped);
                    return Ok(());
                }
            },
        };
        if direct
            && self.answered_by(&key, |member, topic, ctx| rules::direct_preamble(member, topic, &inbound, ctx)).await?
        {
            return Ok(());
        }
        let over_budget = |member: &mut Member, topic: &str, ctx: &Ctx| {
            rules::user_budget(member, topic, &inbound, &mut self.user_budgets.borrow_mut(), ctx)
        };
        if self.answered_by(&key, over_budget).await? {
            return Ok(());
        }
        match inbound {
            Inbound::Text(frame) if frame.event == event::JOIN => {
                let admission = self.admit(&key, &frame).await;
                self.run(&key, |member, topic, ctx| rules::join(member, topic, frame, admission, ctx)).await?;
                self.announce_to_feed(&key).await;
                self.replay_changes(&key).await;
                self.replay_broadcasts(&key).await;
                Ok(())
            }
            Inbound::Text(frame) if frame.event == event::ACCESS_TOKEN => {
                if self.answered_by(&key, rules::refresh_budget).await? {
                    return Ok(());
                }
                let verdict = self.verify_refresh(&key, &frame).await;
                self.run(&key, |member, topic, _| rules::refresh(member, topic, verdict)).await
            }
            inbound => self.run(&key, |member, topic, ctx| rules::handle(member, topic, inbound, ctx)).await,
        }
    }

    /// Builds the in-memory roster after a wake-up: members from the attachments,
    /// presence from storage (entries of sockets that are gone are deleted).
    async fn ensure_roster(&self) -> Result<()> {
        if self.roster.borrow().is_some() {
            return Ok(());
        }
        let mut roster = Roster::default();
        for ws in self.state.get_websockets() {
            if let Ok(Some(a)) = ws.deserialize_attachment::<Attachment>() {
                let key = a.member.socket_key.clone();
                roster.entries.insert(key, Entry { ws, topic: a.topic, member: a.member });
            }
        }
        let stored = self.state.storage().list_with_options(worker::ListOptions::new().prefix(PRESENCE_PREFIX)).await?;
        let mut stale = Vec::new();
        for item in stored.entries() {
            let Ok(pair) = item else { continue };
            let pair: js_sys::Array = pair.into();
            let name = pair.get(0).as_string().unwrap_or_default();
            let key = name.trim_start_matches(PRESENCE_PREFIX).to_string();
            let tracked: Option<Tracked> = serde_wasm_bindgen::from_value(pair.get(1)).ok();
            match (roster.entries.get_mut(&key), tracked) {
                (Some(entry), Some(tracked)) => {
                    if let Some(channel) = entry.member.channel.as_mut() {
                        channel.presence = Some(tracked);
                    }
                }
                _ => stale.push(name),
            }
        }
        if !stale.is_empty() {
            self.state.storage().delete_multiple(stale).await?;
        }
        if self.roster.borrow().is_none() {
            *self.roster.borrow_mut() = Some(roster);
        }
        Ok(())
    }

    fn roster_keys(&self) -> Vec<String> {
        self.roster.borrow().as_ref().map(|r| r.entries.keys().cloned().collect()).unwrap_or_default()
    }

    fn key_of(&self, ws: &WebSocket) -> Option<String> {
        self.state
            .get_tags(ws)
            .into_iter()
            .next()
            .or_else(|| ws.deserialize_attachment::<Attachment>().ok().flatten().map(|a| a.member.socket_key))
    }

    /// The session of a direct socket's member (made on first use, as after a hibernation).
    fn with_session<T>(&self, key: &str, f: impl FnOnce(&mut room::session::Session) -> T) -> Option<T> {
        let (limits, now_ms) = (self.limits, clock::now_millis());
        let mut roster = self.roster.borrow_mut();
        let entry = roster.as_mut()?.entries.get_mut(key)?;
        Some(f(entry.member.session.get_or_insert_with(|| room::session::Session::new(&limits, now_ms))))
    }

    fn with_entry<T>(&self, key: &str, f: impl FnOnce(&Entry) -> T) -> Option<T> {
        self.roster.borrow().as_ref().and_then(|r| r.entries.get(key)).map(f)
    }

    fn accept(&self, req: Request) -> Result<Response> {
        let url = req.url()?;
        let query = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        let (Some(topic), Some(key), Some(conn), Some(vsn), Some(identity)) = (
            query("topic"),
            query("key"),
            query("conn"),
            Vsn::from_query(query("vsn").as_deref()),
            query("identity").and_then(|c| serde_json::from_str::<Identity>(&c).ok()),
        ) else {
            return Response::error("bad upstream request", 400);
        };
        let pair = WebSocketPair::new()?;
        let mut member = Member::new(key.clone(), conn, identity, vsn);
        member.direct = query("direct").as_deref() == Some("1");
        member.last_seen_ms = clock::now_millis();
        member.room_private = query("private").as_deref() == Some("1");
        let attachment = Attachment { topic: topic.clone(), member: member.clone() };
        // The key as the socket's tag finds its roster entry without scanning the roster.
        self.state.accept_websocket_with_tags(&pair.server, &[key.as_str()]);
        if let Err(e) = pair.server.serialize_attachment(&attachment) {
            worker::console_error!("room: cannot store a new socket's state: {e}");
            let _ = pair.server.close(Some(CloseCode::InternalError.code()), Some("cannot keep socket state"));
            return Response::error("cannot keep socket state", 500);
        }
        if let Some(roster) = self.roster.borrow_mut().as_mut() {
            roster.entries.insert(key, Entry { ws: pair.server.clone(), topic, member });
        }
        Response::from_websocket(pair.client)
    }

    /// Decides a join's admission: whose token, and read/write access for private channels.
    async fn admit(&self, key: &str, frame: &Frame) -> std::result::Result<Admission, JoinError> {
        let Some(member) = self.with_entry(key, |e| e.member.clone()) else {
            return Err(JoinError::RoomUnavailable);
        };
        let (topic, config) = rules::check_join_in_room(&member, frame)?;
        let identity = match frame.payload.get("access_token").and_then(Value::as_str) {
            Some(token) if !token.is_empty() => Identity::from(&self.verify(token).map_err(join_error)?),
            _ => member.conn_identity,
        };
        let mut admission = if config.private {
            match self.access(&topic, &identity).await {
                Ok(access) if access.read => Admission::new(identity, access.write),
                Ok(_) => return Err(JoinError::Unauthorized(topic.name().to_string())),
                Err(AccessError::Policy(message)) => return Err(JoinError::PolicyError(message)),
                Err(AccessError::Unavailable(_)) => return Err(JoinError::DatabaseUnavailable),
            }
        } else {
            Admission::new(identity, true)
        };
        if let Some(Value::Array(requested)) = frame.payload.get("config").and_then(|c| c.get("postgres_changes")) {
            if !requested.is_empty() {
                self.bind_changes(&topic, member.room_private, requested, &mut admission).await?;
            }
        }
        Ok(admission)
    }

    /// Asks the policies (over the room's kept connection) what `identity` may do on
    /// `topic`. While the database is unreachable, the last decision for the same
    /// identity stands in, if there is one.
    async fn access(&self, topic: &Topic, identity: &Identity) -> std::result::Result<Access, AccessError> {
        let answer = match self.db.lock(&self.env).await {
            Ok(mut guard) => match guard.as_mut() {
                Some(client) => {
                    let answer = channel_access::check(client, topic, identity).await;
                    if matches!(answer, Err(AccessError::Unavailable(_))) {
                        *guard = None;
                    }
                    answer
                }
                None => Err(AccessError::Unavailable("no connection".into())),
            },
            Err(e) => Err(AccessError::Unavailable(e.to_string())),
        };
        match answer {
            Ok(access) => {
                self.decisions.borrow_mut().remember(identity, access);
                Ok(access)
            }
            Err(AccessError::Unavailable(reason)) => {
                worker::console_error!("room: access check for {topic} failed: {reason}");
                self.decisions.borrow().last(identity).ok_or(AccessError::Unavailable(reason))
            }
            Err(policy) => Err(policy),
        }
    }

    /// Verifies a token pushed on a channel. A Worker that cannot build its verifier is
    /// misconfigured, which is said as such (not as the client's bad signature).
    fn verify(&self, token: &str) -> std::result::Result<edge_auth::Claims, Unverified> {
        let verifier = settings::verifier(&self.env).map_err(|e| {
            worker::console_error!("room: cannot verify tokens: {e}");
            Unverified::Misconfigured
        })?;
        verifier.verify(token, clock::now_secs()).map_err(Unverified::Token)
    }

    /// Verifies a refreshed token and, for private channels, re-authorizes it.
    async fn verify_refresh(&self, key: &str, frame: &Frame) -> Refresh {
        let token = frame.payload.get("access_token").and_then(Value::as_str).unwrap_or_default();
        let identity = match self.verify(token) {
            Ok(claims) => Identity::from(&claims),
            Err(e) => return Refresh::Refused(refresh_message(&e)),
        };
        let (topic, private) = self
            .with_entry(key, |e| (e.topic.clone(), e.member.channel.as_ref().is_some_and(|c| c.config.private)))
            .unwrap_or_default();
        if !private {
            return Refresh::Verified(Admission::new(identity, true));
        }
        let topic = match Topic::parse(&topic) {
            Ok(topic) => topic,
            Err(e) => return Refresh::Refused(e.to_string()),
        };
        match self.access(&topic, &identity).await {
            Ok(access) if access.read => Refresh::Verified(Admission::new(identity, access.write)),
            Ok(_) => Refresh::Refused(format!(
                "You do not have permissions to read from this Channel topic: {}",
                topic.name()
            )),
            Err(AccessError::Policy(message)) => Refresh::Refused(message),
            // Nothing remembered either (the room woke up during the outage): the channel
            // keeps its own decision until the database is back.
            Err(AccessError::Unavailable(_)) => Refresh::Unchecked(identity),
        }
    }

    /// Runs a rule that may settle a frame by itself (it returns `Some` effects); true when
    /// it did, and the frame goes no further.
    async fn answered_by<F>(&self, key: &str, rule: F) -> Result<bool>
    where
        F: FnOnce(&mut Member, &str, &Ctx) -> Option<Vec<Effect>>,
    {
        let mut answered = false;
        self.run(key, |member, topic, ctx| {
            let effects = rule(member, topic, ctx);
            answered = effects.is_some();
            effects.unwrap_or_default()
        })
        .await?;
        Ok(answered)
    }

    /// Runs one rule on the member of socket `key` and carries out its effects.
    async fn run<F>(&self, key: &str, rule: F) -> Result<()>
    where
        F: FnOnce(&mut Member, &str, &Ctx) -> Vec<Effect>,
    {
        // Take the entry out, so the rule sees the others as the roster and this one mutably.
        let Some(mut entry) = self.roster.borrow_mut().as_mut().and_then(|r| r.entries.remove(key)) else {
            return Ok(());
        };
        let before = entry.member.clone();
        let effects = {
            let roster = self.roster.borrow();
            let empty = Roster::default();
            let ctx =
                Ctx { now_ms: clock::now_millis(), limits: &self.limits, roster: roster.as_ref().unwrap_or(&empty) };
            rule(&mut entry.member, &entry.topic, &ctx)
        };
        let tracked_before = before.tracked().cloned();
        let tracked_after = entry.member.tracked().cloned();
        let joined_changed = before.channel.as_ref().map(|c| (&c.join_ref, c.identity.exp))
            != entry.member.channel.as_ref().map(|c| (&c.join_ref, c.identity.exp));
        if entry.member != before {
            let attachment = Attachment { topic: entry.topic.clone(), member: entry.member.clone() };
            if let Err(e) = entry.ws.serialize_attachment(&attachment) {
                // What the room could not keep, it must not pretend to hold: the socket goes,
                // and its client reconnects into a consistent state.
                worker::console_error!("room: cannot store socket state: {e}");
                let _ = entry.ws.close(Some(CloseCode::InternalError.code()), Some("cannot keep socket state"));
            }
        }
        let ws = entry.ws.clone();
        let topic = entry.topic.clone();
        if let Some(roster) = self.roster.borrow_mut().as_mut() {
            roster.entries.insert(key.to_string(), entry);
        }
        self.apply(&ws, key, &topic, effects);
        if tracked_before != tracked_after {
            let name = format!("{PRESENCE_PREFIX}{key}");
            // Presence is bounded at track (MAX_PRESENCE_BYTES); should storage still refuse,
            // the room keeps serving from memory rather than failing the event.
            let stored = match tracked_after {
                Some(tracked) => self.state.storage().put(&name, &tracked).await,
                None => self.state.storage().delete(&name).await.map(|_| ()),
            };
            if let Err(e) = stored {
                worker::console_error!("room: cannot store presence: {e}");
            }
        }
        if joined_changed {
            self.schedule_alarm().await?;
        }
        Ok(())
    }

    fn apply(&self, sender: &WebSocket, sender_key: &str, topic: &str, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Reply(frame) => {
                    let vsn = self.with_entry(sender_key, |e| e.member.vsn).unwrap_or(Vsn::V2);
                    self.send(sender, &Wire::Text(frame.encode(vsn)));
                }
                Effect::Fanout { message, include_sender } => {
                    let skip: &[&str] = if include_sender { &[] } else { &[sender_key] };
                    self.fan_out(&message.encode(), skip);
                }
                Effect::PresenceDiff { joins, leaves } => {
                    self.stats.borrow_mut().presence_diffs += 1;
                    let frame = reply::push(topic, None, event::PRESENCE_DIFF, room::presence::diff(&joins, &leaves));
                    let encoded = room::Encoded::text(&frame);
                    self.fan_out(&encoded, &[]);
                }
                Effect::CloseSender => {
                    let _ = sender.close(Some(CloseCode::Normal.code()), Some("left"));
                }
            }
        }
    }

    /// Sends to every joined socket but `skip`, encoding once per framing. A failed send
    /// never stops the loop: dead sockets, and sockets whose client stopped reading, are
    /// collected and closed after it.
    fn fan_out(&self, encoded: &room::Encoded, skip: &[&str]) {
        let values = js_send::JsEncoded::new(encoded);
        let mut dead = Vec::new();
        let mut slow = Vec::new();
        let mut sent = 0u64;
        if let Some(roster) = self.roster.borrow().as_ref() {
            for (key, entry) in &roster.entries {
                if !entry.member.is_joined() || skip.contains(&key.as_str()) {
                    continue;
                }
                let Some(value) = values.for_vsn(entry.member.vsn) else { continue };
                match js_send::send_bounded(&entry.ws, value, self.limits.max_buffered_bytes) {
                    js_send::Sent::Yes => sent += 1,
                    js_send::Sent::Backlogged => slow.push(entry.ws.clone()),
                    js_send::Sent::Failed => dead.push(entry.ws.clone()),
                }
            }
        }
        let mut stats = self.stats.borrow_mut();
        stats.messages_out += sent;
        stats.send_failures += dead.len() as u64;
        drop(stats);
        for ws in &dead {
            let _ = ws.close(Some(CloseCode::InternalError.code()), Some("send failed"));
        }
        self.closing.borrow_mut().extend(dead);
        for ws in &slow {
            self.close_too_slow(ws);
        }
    }

    /// The one way a socket whose client stopped reading is closed: counted, told why on
    /// its channel, closed with 4001, and forgotten like any closed socket (`drop_closed`).
    /// The `system` message goes past the bound on purpose: it is small, it is the last
    /// frame, and without it the client only sees a close code.
    fn close_too_slow(&self, ws: &WebSocket) {
        self.stats.borrow_mut().closed_too_slow += 1;
        let max = self.limits.max_buffered_bytes;
        let channel = self.key_of(ws).and_then(|key| {
            self.with_entry(&key, |e| {
                let channel = e.member.channel.as_ref()?;
                Some((e.topic.clone(), channel.join_ref.clone(), e.member.vsn))
            })
        });
        if let Some(Some((topic, join_ref, vsn))) = channel {
            let frame = reply::system(&topic, join_ref.as_deref(), "error", &reason::client_too_slow(max));
            let _ = ws.send_with_str(frame.encode(vsn));
        }
        let _ = ws.close(Some(CloseCode::TooSlow.code()), Some(&reason::too_slow(max)));
        self.closing.borrow_mut().push(ws.clone());
    }

    fn send(&self, ws: &WebSocket, wire: &Wire) {
        match js_send::send_bounded(ws, &js_send::to_js(wire), self.limits.max_buffered_bytes) {
            js_send::Sent::Yes => self.stats.borrow_mut().messages_out += 1,
            js_send::Sent::Backlogged => self.close_too_slow(ws),
            js_send::Sent::Failed => self.stats.borrow_mut().send_failures += 1,
        }
    }

    /// Forgets the sockets the room closed itself (dead or too slow), as their close event
    /// would: a client that stopped reading may never complete the close, and must not
    /// linger in the roster or in everyone's presence meanwhile. Dropping one may fan out a
    /// presence leave that finds more, so this runs until none are left.
    async fn drop_closed(&self) -> Result<()> {
        loop {
            let closed = std::mem::take(&mut *self.closing.borrow_mut());
            if closed.is_empty() {
                return Ok(());
            }
            for ws in closed {
                self.drop_socket(&ws).await?;
            }
        }
    }

    /// A socket is gone: tell the others (presence) and forget it.
    async fn drop_socket(&self, ws: &WebSocket) -> Result<()> {
        self.ensure_roster().await?;
        let Some(key) = self.key_of(ws) else { return Ok(()) };
        self.delivered.borrow_mut().remove(&key);
        self.broadcast_replays.borrow_mut().remove(&key);
        let user = self.with_entry(&key, |e| e.member.user_key()).flatten();
        self.run(&key, |member, _, _| rules::disconnect(member)).await?;
        if let Some(roster) = self.roster.borrow_mut().as_mut() {
            roster.entries.remove(&key);
            if let Some(user) =
                user.filter(|u| !roster.entries.values().any(|e| e.member.user_key().as_ref() == Some(u)))
            {
                self.user_budgets.borrow_mut().forget(&user);
            }
        }
        Ok(())
    }

    /// Closes the direct sockets whose clients have been silent for the idle timeout
    /// (1000, as the multiplexed socket does; a Supabase client reconnects and rejoins).
    /// A multiplexed socket's upstreams are left alone: its Worker answers the heartbeats
    /// and keeps the timeout, so an upstream is quiet while its client is alive.
    fn close_idle(&self, now_ms: u64) {
        let limits = self.limits;
        let mut idle = Vec::new();
        if let Some(roster) = self.roster.borrow_mut().as_mut() {
            for entry in roster.entries.values_mut().filter(|e| e.member.direct) {
                if entry.member.is_idle(now_ms, &limits) {
                    idle.push(entry.ws.clone());
                }
            }
        }
        for ws in &idle {
            let _ = ws.close(Some(CloseCode::Normal.code()), Some(reason::IDLE));
        }
        self.closing.borrow_mut().extend(idle);
    }

    /// Sets the alarm to the earliest token expiry among joined channels, or sooner to
    /// sweep for idle direct sockets (every half idle timeout while there are any).
    async fn schedule_alarm(&self) -> Result<()> {
        let (expiry_ms, any_direct) = {
            let roster = self.roster.borrow();
            let entries = roster.as_ref().map(|r| r.entries.values().collect::<Vec<_>>()).unwrap_or_default();
            let expiry = entries.iter().filter_map(|e| e.member.channel.as_ref().map(|c| c.identity.exp)).min();
            // exp is bounded by the verifier (edge_auth), so this stays a safe JS number.
            (expiry.map(|exp| exp.saturating_add(1).saturating_mul(1000)), entries.iter().any(|e| e.member.direct))
        };
        let sweep_ms = any_direct.then(|| clock::now_millis().saturating_add(self.limits.idle_timeout_ms / 2));
        let Some(at_ms) = [expiry_ms, sweep_ms].into_iter().flatten().min() else {
            return self.state.storage().delete_alarm().await;
        };
        let at_ms = at_ms.min(i64::MAX as u64) as i64;
        match self.state.storage().get_alarm().await? {
            Some(current) if current <= at_ms && current > clock::now_millis() as i64 => Ok(()),
            _ => {
                // A Number, not the BigInt an i64 would become: `new Date(BigInt)` throws,
                // and an exception through wasm resets the instance with every socket on it.
                let at = js_sys::Date::new(&js_sys::Number::from(at_ms as f64));
                self.state.storage().set_alarm(worker::ScheduledTime::new(at)).await
            }
        }
    }

    fn stats_json(&self) -> Value {
        let roster = self.roster.borrow();
        let entries = roster.as_ref().map(|r| r.entries.values().collect::<Vec<_>>()).unwrap_or_default();
        let joined = entries.iter().filter(|e| e.member.is_joined()).count();
        let users: HashSet<String> = entries.iter().filter_map(|e| e.member.user_key()).collect();
        let presence = entries.iter().filter(|e| e.member.tracked().is_some()).count();
        let stats = self.stats.borrow();
        json!({
            "sockets": entries.len(),
            "joined_sockets": joined,
            "distinct_users": users.len(),
            "presence_count": presence,
            "messages_in": stats.messages_in,
            "messages_out": stats.messages_out,
            "send_failures": stats.send_failures,
            "presence_diffs": stats.presence_diffs,
            "closed_too_slow": stats.closed_too_slow,
            "closed_too_big": stats.closed_too_big,
        })
    }

    /// A broadcast from the server side (the REST endpoint): fanned out to every joined
    /// socket. In a private room the sender needs the write policy's consent first.
    async fn server_broadcast(&self, mut req: Request) -> Result<Response> {
        let private = req.url()?.query_pairs().any(|(k, v)| k == "private" && v == "1");
        let Ok(message) = req.json::<ServerBroadcast>().await else {
            return Response::error("bad broadcast", 400);
        };
        if private {
            let topic = match Topic::parse(&message.topic) {
                Ok(topic) => topic,
                Err(_) => return Response::error("bad topic", 400),
            };
            match self.access(&topic, &message.sender).await {
                Ok(access) if access.write => {}
                Ok(_) | Err(AccessError::Policy(_)) => return Response::error("write refused", 403),
                Err(AccessError::Unavailable(_)) => return Response::error("database unavailable", 503),
            }
        }
        self.stats.borrow_mut().messages_in += 1;
        self.fan_out(&Outbound::from_json(&message.topic, message.payload).encode(), &[]);
        self.drop_closed().await?;
        Response::empty().map(|r| r.with_status(202))
    }
}

/// Why a token pushed on a channel was not accepted.
enum Unverified {
    Token(AuthError),
    /// The Worker cannot build its verifier: an operator's problem, said as such.
    Misconfigured,
}

fn join_error(e: Unverified) -> JoinError {
    match e {
        Unverified::Misconfigured => JoinError::ServerMisconfigured,
        Unverified::Token(AuthError::Expired(ago)) => JoinError::TokenExpired(ago),
        Unverified::Token(other) => match other.connect_refusal() {
            realtime_protocol::ConnectRefusal::NotAJwt => JoinError::MalformedJwt,
            refusal => JoinError::InvalidToken(refusal.message().to_string()),
        },
    }
}

/// The `system` message for a refreshed token that does not verify (Supabase's wording).
fn refresh_message(e: &Unverified) -> String {
    match e {
        Unverified::Token(AuthError::Expired(ago)) => format!("Token has expired {ago} seconds ago"),
        Unverified::Token(other) => other.connect_refusal().message().to_string(),
        Unverified::Misconfigured => JoinError::ServerMisconfigured.to_string(),
    }
}
