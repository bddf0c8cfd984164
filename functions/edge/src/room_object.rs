//! The `Room` Durable Object: one per topic and privacy, named by
//! `Topic::room_name` (a name's private and public channels never share a room).
//!
//! A room's members are client channels on the topic, reached one of two ways (a
//! [`Route`]): a per-topic client socket handed to the room, or a member of a
//! gateway's hub (`crate::hub`: one socket per gateway shared by all its clients here, so
//! a broadcast leaves the room once per hub). Sockets are accepted with the Hibernation
//! API. What the room must remember survives hibernation and eviction: a direct socket's
//! [`room::Member`] in its attachment, a hub member's in the object's storage, each
//! tracked presence in storage. In memory the room keeps a roster (route, member) built
//! from those on wake-up, so a fan-out decodes nothing. The rules are in the `room`
//! crate; this file does the I/O (token checks, Postgres, sockets, storage, alarms), and
//! [`changes`] the room's side of the change feed (bindings, deliveries, replay).

use crate::channel_access::{self, Access, AccessError};
use crate::{clock, db, js_send, settings, user_object};
use edge_auth::AuthError;
use realtime_protocol::{event, reason, reply, BinaryBroadcast, CloseCode, Frame, JoinError, Topic, Vsn};
use room::global_presence::{self, SocketEvent};
use room::handle::{self as rules, Admission, Ctx, Effect, Inbound, Refresh};
use room::hub_wire;
use room::{Identity, Limits, Member, Outbound, Tracked, Wire};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use wasm_bindgen::JsValue;
use worker::{
    durable_object, DurableObject, Env, Headers, Request, RequestInit, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

mod changes;
mod hubs;
mod signals;

use hubs::list_prefixed;

/// The internal URL the Worker uses to reach a room; never exposed to clients.
const INTERNAL_URL: &str = "https://room.internal";
const PRESENCE_PREFIX: &str = "presence:";
/// Storage prefix of hub members (a direct socket's member is its attachment).
const MEMBER_PREFIX: &str = "member:";
/// A hub socket's tag: this prefix and the hub's id.
const HUB_TAG_PREFIX: &str = "hub:";
/// A hub carries many clients' traffic, so it may hold this many times one client's
/// bound before the room counts the gateway behind it as too slow.
const HUB_BUFFER_FACTOR: usize = 16;
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

/// What a hub socket's attachment holds (its members are in storage, [`StoredMember`]).
#[derive(Debug, Serialize, Deserialize)]
struct HubAttachment {
    hub: String,
    topic: String,
    vsn: Vsn,
    private: bool,
}

/// A hub member as kept in storage.
#[derive(Debug, Serialize, Deserialize)]
struct StoredMember {
    hub: String,
    topic: String,
    member: Member,
}

/// What the Worker tells a room about a new client channel.
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

/// The internal upgrade request to the room of `topic`: `path` and its query.
async fn upgrade_request(
    env: &Env,
    topic: &Topic,
    private: bool,
    path: &str,
    query: &[(&str, &str)],
) -> Result<Response> {
    let mut url = url::Url::parse(&format!("{INTERNAL_URL}{path}"))?;
    url.query_pairs_mut().append_pair("topic", topic.full()).extend_pairs(query);
    if private {
        url.query_pairs_mut().append_pair("private", "1");
    }
    let headers = Headers::new();
    headers.set("upgrade", "websocket")?;
    let mut init = RequestInit::new();
    init.with_headers(headers);
    stub(env, topic, private)?.fetch_with_request(Request::new_with_init(url.as_str(), &init)?).await
}

/// Opens a direct socket: the room's own 101 response goes back to the client, so the
/// client talks to the room with no Worker in between. The caller has verified the
/// token; the room trusts these fields because only the Worker can reach it.
pub async fn open_direct(env: &Env, up: Upstream<'_>) -> Result<Response> {
    let identity = serde_json::to_string(up.identity).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let query =
        [("key", up.socket_key), ("conn", up.conn_id), ("vsn", up.vsn.as_str()), ("identity", identity.as_str())];
    upgrade_request(env, up.topic, up.private, "/socket", &query).await
}

/// Opens a hub: a gateway's one socket to the room of `up.topic` for clients speaking
/// `up.vsn`; its members come and go over it (`room::hub_wire`). Also whether the room
/// reads stamped frames ([`hub_wire::STAMPS_HEADER`]).
pub async fn open_hub(env: &Env, up: &Upstream<'_>, hub_id: &str) -> Result<(WebSocket, bool)> {
    let query = [("hub", hub_id), ("vsn", up.vsn.as_str())];
    let response = upgrade_request(env, up.topic, up.private, "/hub", &query).await?;
    let stamps =
        response.headers().get(hub_wire::STAMPS_HEADER).ok().flatten().as_deref() == Some(hub_wire::STAMPS_READ);
    let socket =
        response.websocket().ok_or_else(|| worker::Error::RustError(format!("room {} did not upgrade", up.topic)))?;
    Ok((socket, stamps))
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

/// Where a member's frames go.
#[derive(Clone)]
enum Route {
    /// The client's own socket (the per-topic endpoint).
    Socket(WebSocket),
    /// A member of a gateway's hub, by the hub's id.
    Hub(String),
}

struct Entry {
    route: Route,
    topic: String,
    member: Member,
}

/// One hub socket.
struct HubSocket {
    ws: WebSocket,
    topic: String,
    vsn: Vsn,
    private: bool,
}

/// The room's members and hubs, in memory.
#[derive(Default)]
struct Roster {
    entries: HashMap<String, Entry>,
    hubs: HashMap<String, HubSocket>,
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
    /// Client frames that came through a hub with the time their gateway heard them,
    /// which the rate rules count (`room::hub_wire`); the rest came unstamped.
    messages_in_stamped: u64,
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
    /// Members the room ended itself (closed, released or too slow), to forget once the
    /// event that ended them is over.
    closing: RefCell<Vec<String>>,
    /// Whether the feed knows this room listens (once per wake-up).
    announced: std::cell::Cell<bool>,
    /// Joins under way: registered with the feed, channel not yet held. While any is,
    /// the room counts as listening, or a batch arriving in between would make the feed
    /// forget the room (found by the notification tests running side by side).
    joining: std::cell::Cell<u32>,
    /// Channels catching up (`postgres_changes_replay`): live deliveries wait here, by
    /// socket, until the replay has sent everything before them.
    replaying: RefCell<HashMap<String, Vec<(i64, String)>>>,
    /// The last change position sent to each socket: a batch in flight from the feed that
    /// a replay already covered is not sent twice.
    delivered: RefCell<HashMap<String, i64>>,
    /// Sockets whose channel asked for a broadcast replay: live database broadcasts wait
    /// while it runs, and those it could see are not sent again afterwards.
    broadcast_replays: RefCell<HashMap<String, changes::BroadcastReplayState>>,
    /// Each user's events budget in this room, shared by their sockets.
    user_budgets: RefCell<room::user_budget::UserBudgets>,
    /// When this room's live state (a poll's tally, an event's counts) is next sent.
    pacer: RefCell<room::pacer::Pacer>,
    /// The topic whose live state the database signalled (`feed.signal` 'tally').
    live_topic: RefCell<Option<String>>,
    /// Memory was lost (a new object, an eviction): a live state due then was forgotten
    /// with it, so the next alarm sends it anyway (an extra frame costs less than a
    /// final tally never sent).
    live_unknown: std::cell::Cell<bool>,
    /// Reads of the live state that failed in a row (tried again, a few times).
    live_retries: std::cell::Cell<u32>,
    /// When the direct sockets' presence leases were last renewed (ms; 0: not since this
    /// object started, so the first alarm renews).
    renewed_ms: std::cell::Cell<u64>,
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
            joining: std::cell::Cell::new(0),
            replaying: RefCell::new(HashMap::new()),
            delivered: RefCell::new(HashMap::new()),
            broadcast_replays: RefCell::new(HashMap::new()),
            pacer: RefCell::new(Default::default()),
            live_topic: RefCell::new(None),
            live_unknown: std::cell::Cell::new(true),
            live_retries: std::cell::Cell::new(0),
            renewed_ms: std::cell::Cell::new(0),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        if let Err(e) = settings::limits(&self.env) {
            return crate::error::EdgeError::Misconfigured(e.to_string()).into_response();
        }
        self.ensure_roster().await?;
        match req.path().as_str() {
            "/hub" => self.accept_hub(req),
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
                *self.pacer.borrow_mut() = Default::default();
                *self.live_topic.borrow_mut() = None;
                self.live_unknown.set(true);
                Response::empty().map(|r| r.with_status(204))
            }
            "/broadcast" => self.server_broadcast(req).await,
            "/changes" => self.receive_changes(req).await,
            "/feed-status" => self.feed_status(req).await,
            "/db-broadcast" => self.database_broadcast(req).await,
            "/signals" => self.receive_signals(req).await,
            "/listening" => {
                let anyone =
                    self.roster.borrow().as_ref().is_some_and(|r| r.entries.values().any(|e| e.member.is_joined()));
                if !anyone {
                    // The feed forgets this room now: the next join must announce it again.
                    self.announced.set(false);
                }
                Response::empty().map(|r| r.with_status(if anyone { 204 } else { 410 }))
            }
            _ => Response::error("not found", 404),
        }
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
        self.ensure_roster().await?;
        let handled = match self.socket_of(&ws) {
            Some(SocketOf::Member(key)) => self.on_message(&key, message, None).await,
            Some(SocketOf::Hub(hub)) => self.on_hub_message(&hub, message).await,
            None => {
                let _ = ws.close(Some(CloseCode::InternalError.code()), Some("socket has no room state"));
                Ok(())
            }
        };
        self.drop_closed().await?;
        handled
    }

    async fn websocket_close(&self, ws: WebSocket, _code: usize, _reason: String, _was_clean: bool) -> Result<()> {
        self.socket_gone(&ws).await?;
        // Complete the closing handshake; the socket may already be gone.
        let _ = ws.close(Some(CloseCode::Normal.code()), Some("closed"));
        self.drop_closed().await
    }

    async fn websocket_error(&self, ws: WebSocket, error: worker::Error) -> Result<()> {
        worker::console_warn!("room socket error: {error}");
        self.socket_gone(&ws).await?;
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
        self.send_live_state_if_due().await;
        self.renew_direct_stays().await;
        self.schedule_alarm().await?;
        self.drop_closed().await?;
        Response::ok("")
    }
}

/// Whose a socket is, by its tag.
enum SocketOf {
    Member(String),
    Hub(String),
}

impl Room {
    /// A frame of one member's client, from its own socket or through its hub
    /// (`heard_ms`: when the gateway read it from the client, see `rules::user_budget`).
    async fn on_message(&self, key: &str, message: WebSocketIncomingMessage, heard_ms: Option<u64>) -> Result<()> {
        let key = key.to_string();
        {
            let mut stats = self.stats.borrow_mut();
            stats.messages_in += 1;
            stats.messages_in_stamped += u64::from(heard_ms.is_some());
        }
        let Some((vsn, direct)) = self.with_entry(&key, |e| (e.member.vsn, e.member.direct)) else {
            return Ok(());
        };
        let size = match &message {
            WebSocketIncomingMessage::String(text) => text.len(),
            WebSocketIncomingMessage::Binary(bytes) => bytes.len(),
        };
        // Relayed frames were measured (and counted) by the gateway's session already; a
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
                self.close_member(&key, code, &reason);
                return Ok(());
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
            rules::user_budget(member, topic, &inbound, heard_ms, &mut self.user_budgets.borrow_mut(), ctx)
        };
        if self.answered_by(&key, over_budget).await? {
            return Ok(());
        }
        match inbound {
            Inbound::Text(frame) if frame.event == event::JOIN => {
                self.joining.set(self.joining.get() + 1);
                let admission = self.admit(&key, &frame).await;
                let joined =
                    self.run(&key, |member, topic, ctx| rules::join(member, topic, frame, admission, ctx)).await;
                self.joining.set(self.joining.get().saturating_sub(1));
                joined?;
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

    /// Builds the in-memory roster after a wake-up: direct members from their sockets'
    /// attachments, hub members from storage (those of hubs that are gone are deleted),
    /// presence from storage (entries of members that are gone are deleted).
    async fn ensure_roster(&self) -> Result<()> {
        if self.roster.borrow().is_some() {
            return Ok(());
        }
        let mut roster = Roster::default();
        for ws in self.state.get_websockets() {
            let hub_tag = self.state.get_tags(&ws).into_iter().find(|t| t.starts_with(HUB_TAG_PREFIX));
            if hub_tag.is_some() {
                if let Ok(Some(a)) = ws.deserialize_attachment::<HubAttachment>() {
                    let hub = HubSocket { ws, topic: a.topic, vsn: a.vsn, private: a.private };
                    roster.hubs.insert(a.hub, hub);
                }
            } else if let Ok(Some(a)) = ws.deserialize_attachment::<Attachment>() {
                let key = a.member.socket_key.clone();
                roster.entries.insert(key, Entry { route: Route::Socket(ws), topic: a.topic, member: a.member });
            }
        }
        let storage = self.state.storage();
        let mut stale = Vec::new();
        for (name, value) in list_prefixed(&storage, MEMBER_PREFIX).await? {
            match serde_wasm_bindgen::from_value::<StoredMember>(value) {
                Ok(stored) if roster.hubs.contains_key(&stored.hub) => {
                    let key = stored.member.socket_key.clone();
                    let entry = Entry { route: Route::Hub(stored.hub), topic: stored.topic, member: stored.member };
                    roster.entries.insert(key, entry);
                }
                _ => stale.push(name),
            }
        }
        for (name, value) in list_prefixed(&storage, PRESENCE_PREFIX).await? {
            let key = name.trim_start_matches(PRESENCE_PREFIX).to_string();
            let tracked: Option<Tracked> = serde_wasm_bindgen::from_value(value).ok();
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
            storage.delete_multiple(stale).await?;
        }
        if self.roster.borrow().is_none() {
            *self.roster.borrow_mut() = Some(roster);
        }
        Ok(())
    }

    fn roster_keys(&self) -> Vec<String> {
        self.roster.borrow().as_ref().map(|r| r.entries.keys().cloned().collect()).unwrap_or_default()
    }

    /// Whose a socket is: a direct member's, or a hub's (by its tag, else its attachment).
    fn socket_of(&self, ws: &WebSocket) -> Option<SocketOf> {
        match self.state.get_tags(ws).into_iter().next() {
            Some(tag) => Some(match tag.strip_prefix(HUB_TAG_PREFIX) {
                Some(hub) => SocketOf::Hub(hub.to_string()),
                None => SocketOf::Member(tag),
            }),
            None => {
                ws.deserialize_attachment::<Attachment>().ok().flatten().map(|a| SocketOf::Member(a.member.socket_key))
            }
        }
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

    /// A client's own socket for this topic (the per-topic endpoint).
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
        member.direct = true;
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
        if let Some((user, socket)) = direct_stay(&member) {
            user_object::report_socket(&self.env, user, &socket, SocketEvent::Opened);
        }
        if let Some(roster) = self.roster.borrow_mut().as_mut() {
            roster.entries.insert(key, Entry { route: Route::Socket(pair.server.clone()), topic, member });
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
        match self.fresh_access(topic, identity).await {
            Err(AccessError::Unavailable(reason)) => {
                worker::console_error!("room: access check for {topic} failed: {reason}");
                self.decisions.borrow().last(identity).ok_or(AccessError::Unavailable(reason))
            }
            answer => answer,
        }
    }

    /// What the policies say now, without the last decision standing in: for a
    /// revocation, which a remembered "yes" must not overrule.
    async fn fresh_access(&self, topic: &Topic, identity: &Identity) -> std::result::Result<Access, AccessError> {
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
        if let Ok(access) = &answer {
            self.decisions.borrow_mut().remember(identity, *access);
        }
        answer
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

    /// Runs one rule on the member `key` and carries out its effects.
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
        let (was_joined, is_joined) = (before.is_joined(), entry.member.is_joined());
        let changed = entry.member != before;
        let route = entry.route.clone();
        let topic = entry.topic.clone();
        let changed_member = changed.then(|| entry.member.clone());
        if let Some(roster) = self.roster.borrow_mut().as_mut() {
            roster.entries.insert(key.to_string(), entry);
        }
        if let Some(member) = changed_member {
            self.keep(key, &route, &topic, member).await;
        }
        // A hub copies fan-outs to its joined members only: it hears of a join after the
        // join's answers, and of a channel's end before anything fanned out after it.
        if was_joined && !is_joined {
            self.tell_hub(&route, hub_wire::Down::Left(key));
        }
        self.apply(key, &topic, effects);
        if is_joined && !was_joined {
            self.tell_hub(&route, hub_wire::Down::Joined(key));
        }
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
            // An event's live state counts who is present.
            self.presence_moved(&topic).await?;
        }
        if joined_changed {
            self.schedule_alarm().await?;
        }
        Ok(())
    }

    /// Stores a member that changed where it survives hibernation: a direct socket's
    /// attachment, or the room's storage for a hub member. What the room could not keep,
    /// it must not pretend to hold: the member goes, and its client rejoins into a
    /// consistent state.
    async fn keep(&self, key: &str, route: &Route, topic: &str, member: Member) {
        let topic = topic.to_string();
        let kept = match route {
            Route::Socket(ws) => ws.serialize_attachment(&Attachment { topic, member }).map_err(|e| e.to_string()),
            Route::Hub(hub) => {
                let stored = StoredMember { hub: hub.clone(), topic, member };
                let name = format!("{MEMBER_PREFIX}{key}");
                self.state.storage().put(&name, &stored).await.map_err(|e| e.to_string())
            }
        };
        if let Err(e) = kept {
            worker::console_error!("room: cannot store member state: {e}");
            self.close_member(key, CloseCode::InternalError, "cannot keep socket state");
        }
    }

    fn apply(&self, sender_key: &str, topic: &str, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Reply(frame) => {
                    let vsn = self.with_entry(sender_key, |e| e.member.vsn).unwrap_or(Vsn::V2);
                    self.send(sender_key, &frame.encode(vsn));
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
                Effect::CloseSender => self.close_member(sender_key, CloseCode::Normal, "left"),
            }
        }
    }

    /// Sends to every joined member but `skip`, encoding once per framing: once per
    /// direct socket, and once per hub for all of its members. A failed send never stops
    /// the loop: dead sockets and those whose reader fell behind are closed after it.
    fn fan_out(&self, encoded: &room::Encoded, skip: &[&str]) {
        let values = js_send::JsEncoded::new(encoded);
        let mut dead = Vec::new();
        let mut slow = Vec::new();
        let mut sent = 0u64;
        // Per hub: its members to skip, and whether any member is left to receive.
        let mut hubs: HashMap<&str, (Vec<&str>, bool)> = HashMap::new();
        // Sent once the roster is released: a hub that cannot take its frame is closed.
        let mut hub_frames: Vec<(String, JsValue)> = Vec::new();
        let roster = self.roster.borrow();
        if let Some(roster) = roster.as_ref() {
            for (key, entry) in &roster.entries {
                let skipped = skip.contains(&key.as_str());
                match &entry.route {
                    Route::Hub(hub) => {
                        let (skips, anyone) = hubs.entry(hub.as_str()).or_default();
                        if skipped {
                            skips.push(key.as_str());
                        } else if entry.member.is_joined() {
                            *anyone = true;
                        }
                    }
                    Route::Socket(ws) => {
                        if !entry.member.is_joined() || skipped {
                            continue;
                        }
                        let Some(value) = values.for_vsn(entry.member.vsn) else { continue };
                        match js_send::send_bounded(ws, value, self.limits.max_buffered_bytes) {
                            js_send::Sent::Yes => sent += 1,
                            js_send::Sent::Backlogged => slow.push(key.clone()),
                            js_send::Sent::Failed => dead.push(key.clone()),
                        }
                    }
                }
            }
            for (hub, (skips, _)) in hubs.into_iter().filter(|(_, (_, anyone))| *anyone) {
                let Some(socket) = roster.hubs.get(hub) else { continue };
                let Some(wire) = encoded.for_vsn(socket.vsn) else { continue };
                let value = match wire {
                    Wire::Text(text) => {
                        JsValue::from_str(&hub_wire::Down::FanOut { skip: &skips, frame: text }.encode())
                    }
                    Wire::Binary(bytes) => {
                        js_sys::Uint8Array::from(hub_wire::encode_down_binary(&skips, bytes).as_slice()).into()
                    }
                };
                hub_frames.push((hub.to_string(), value));
            }
        }
        drop(roster);
        for (hub, value) in &hub_frames {
            if self.send_to_hub(hub, value) == js_send::Sent::Yes {
                sent += 1;
            }
        }
        let mut stats = self.stats.borrow_mut();
        stats.messages_out += sent;
        stats.send_failures += dead.len() as u64;
        drop(stats);
        for key in &dead {
            self.close_member(key, CloseCode::InternalError, "send failed");
        }
        for key in &slow {
            self.close_too_slow(key);
        }
    }

    /// What a hub may hold unsent before the gateway behind it counts as too slow.
    fn hub_bound(&self) -> usize {
        self.limits.max_buffered_bytes.saturating_mul(HUB_BUFFER_FACTOR)
    }

    /// The one way a direct socket whose client stopped reading is closed: counted, told
    /// why on its channel, closed with 4001, and forgotten like any member the room ended
    /// (`drop_closed`). The `system` message goes past the bound on purpose: it is small,
    /// it is the last frame, and without it the client only sees a close code. (A hub's
    /// client that stops reading is caught by its Worker, which tells the room.)
    fn close_too_slow(&self, key: &str) {
        let max = self.limits.max_buffered_bytes;
        let found = self.with_entry(key, |e| {
            let Route::Socket(ws) = &e.route else { return None };
            let channel = e.member.channel.as_ref().map(|c| (e.topic.clone(), c.join_ref.clone(), e.member.vsn));
            Some((ws.clone(), channel))
        });
        let Some(Some((ws, channel))) = found else { return };
        self.stats.borrow_mut().closed_too_slow += 1;
        if let Some((topic, join_ref, vsn)) = channel {
            let frame = reply::system(&topic, join_ref.as_deref(), "error", &reason::client_too_slow(max));
            let _ = ws.send_with_str(frame.encode(vsn));
        }
        self.close_member(key, CloseCode::TooSlow, &reason::too_slow(max));
    }

    /// Ends one member from the room's side: its socket is closed, or its hub is told to
    /// release it; either way the room forgets it after the current event.
    fn close_member(&self, key: &str, code: CloseCode, why: &str) {
        match self.with_entry(key, |e| e.route.clone()) {
            Some(Route::Socket(ws)) => {
                let _ = ws.close(Some(code.code()), Some(why));
            }
            Some(route @ Route::Hub(_)) => {
                self.tell_hub(&route, hub_wire::Down::Close { key, code: code.code() });
            }
            None => return,
        }
        self.closing.borrow_mut().push(key.to_string());
    }

    /// Sends one member its own frame (a reply, a change, a replayed broadcast).
    fn send(&self, key: &str, text: &str) {
        let Some(route) = self.with_entry(key, |e| e.route.clone()) else { return };
        let sent = match &route {
            Route::Socket(ws) => js_send::send_bounded(ws, &JsValue::from_str(text), self.limits.max_buffered_bytes),
            Route::Hub(_) => self.tell_hub(&route, hub_wire::Down::Deliver { keys: &[key], frame: text }),
        };
        match (sent, route) {
            (js_send::Sent::Yes, _) => self.stats.borrow_mut().messages_out += 1,
            (js_send::Sent::Backlogged, Route::Socket(_)) => self.close_too_slow(key),
            (js_send::Sent::Failed, Route::Socket(_)) => self.stats.borrow_mut().send_failures += 1,
            // The hub was closed for it; its members are forgotten with it.
            (_, Route::Hub(_)) => {}
        }
    }

    /// Sends one frame to several members of one hub.
    fn deliver_on_hub(&self, hub: &str, keys: &[&str], text: &str) {
        let route = Route::Hub(hub.to_string());
        if self.tell_hub(&route, hub_wire::Down::Deliver { keys, frame: text }) == js_send::Sent::Yes {
            self.stats.borrow_mut().messages_out += 1;
        }
    }

    /// Sends a frame to the hub of a hub member (nothing for a direct socket). A hub that
    /// cannot take it is closed with all its members.
    fn tell_hub(&self, route: &Route, down: hub_wire::Down) -> js_send::Sent {
        let Route::Hub(hub) = route else { return js_send::Sent::Failed };
        self.send_to_hub(hub, &JsValue::from_str(&down.encode()))
    }

    /// Sends `value` on hub `hub`, bounded; a hub that cannot take it is closed with all
    /// its members (too slow, or broken and counted as a failed send).
    fn send_to_hub(&self, hub: &str, value: &JsValue) -> js_send::Sent {
        let Some(ws) = self.roster.borrow().as_ref().and_then(|r| r.hubs.get(hub)).map(|h| h.ws.clone()) else {
            return js_send::Sent::Failed;
        };
        let sent = js_send::send_bounded(&ws, value, self.hub_bound());
        match sent {
            js_send::Sent::Yes => {}
            js_send::Sent::Backlogged => self.close_hub(hub, CloseCode::TooSlow, &reason::too_slow(self.hub_bound())),
            js_send::Sent::Failed => {
                self.stats.borrow_mut().send_failures += 1;
                self.close_hub(hub, CloseCode::InternalError, "send failed");
            }
        }
        sent
    }

    /// Forgets the members the room ended itself (closed, released, dead or too slow), as
    /// their close would: a client that stopped reading may never complete the close, and
    /// must not linger in the roster or in everyone's presence meanwhile. Dropping one may
    /// fan out a presence leave that finds more, so this runs until none are left.
    async fn drop_closed(&self) -> Result<()> {
        loop {
            let closed = std::mem::take(&mut *self.closing.borrow_mut());
            if closed.is_empty() {
                return Ok(());
            }
            for key in closed {
                self.drop_member(&key).await?;
            }
        }
    }

    /// A member is gone: tell the others (presence) and forget it.
    async fn drop_member(&self, key: &str) -> Result<()> {
        self.ensure_roster().await?;
        self.delivered.borrow_mut().remove(key);
        self.broadcast_replays.borrow_mut().remove(key);
        let Some((user, on_hub, stay)) = self.with_entry(key, |e| {
            let stay = direct_stay(&e.member).map(|(user, socket)| (user.to_string(), socket));
            (e.member.user_key(), matches!(e.route, Route::Hub(_)), stay)
        }) else {
            return Ok(());
        };
        if let Some((user, socket)) = stay {
            user_object::report_socket(&self.env, &user, &socket, SocketEvent::Closed);
        }
        self.run(key, |member, _, _| rules::disconnect(member)).await?;
        if let Some(roster) = self.roster.borrow_mut().as_mut() {
            roster.entries.remove(key);
            if let Some(user) =
                user.filter(|u| !roster.entries.values().any(|e| e.member.user_key().as_ref() == Some(u)))
            {
                self.user_budgets.borrow_mut().forget(&user);
            }
        }
        if on_hub {
            self.state.storage().delete(&format!("{MEMBER_PREFIX}{key}")).await?;
        }
        Ok(())
    }

    /// Renews the presence lease of every direct socket of a signed-in user whose token
    /// has not expired, once per [`global_presence::RENEW_EVERY_MS`] (the alarm also runs
    /// for token expiries and live tallies, up to four times a second), so a user
    /// connected only through per-topic sockets is online like one on the multiplexed
    /// socket, and goes offline once the room vanishes or the token expires (the lease
    /// lapses). Users in parallel, each user's sockets one after another, so one user's
    /// object is not sent a burst of calls at once.
    async fn renew_direct_stays(&self) {
        let now_ms = clock::now_millis();
        // A little early, so an alarm that fires a moment before the mark still renews.
        let slack = global_presence::RENEW_EVERY_MS / 10;
        if now_ms.saturating_sub(self.renewed_ms.get()) + slack < global_presence::RENEW_EVERY_MS {
            return;
        }
        self.renewed_ms.set(now_ms);
        let now_s = now_ms / 1000;
        let mut by_user: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Some(roster) = self.roster.borrow().as_ref() {
            for entry in roster.entries.values().filter(|e| stay_expires(&e.member) > now_s) {
                if let Some((user, socket)) = direct_stay(&entry.member) {
                    by_user.entry(user.to_string()).or_default().push(socket);
                }
            }
        }
        let env = &self.env;
        let renewals = by_user.iter().map(|(user, sockets)| async move {
            for socket in sockets {
                user_object::report_socket_now(env, user, socket, SocketEvent::Renewed).await;
            }
        });
        futures_util::future::join_all(renewals).await;
    }

    /// Whether any direct socket holds a signed-in user's presence (the alarm renews it).
    fn holds_direct_stays(&self) -> bool {
        self.roster.borrow().as_ref().is_some_and(|r| r.entries.values().any(|e| direct_stay(&e.member).is_some()))
    }

    /// Closes the direct sockets whose clients have been silent for the idle timeout
    /// (1000, as the multiplexed socket does; a Supabase client reconnects and rejoins).
    /// Hub members are left alone: their gateway answers the heartbeats and keeps the
    /// timeout, so a hub member is quiet while its client is alive.
    fn close_idle(&self, now_ms: u64) {
        let limits = self.limits;
        let mut idle = Vec::new();
        if let Some(roster) = self.roster.borrow_mut().as_mut() {
            for (key, entry) in roster.entries.iter_mut().filter(|(_, e)| e.member.direct) {
                if entry.member.is_idle(now_ms, &limits) {
                    idle.push(key.clone());
                }
            }
        }
        for key in &idle {
            self.close_member(key, CloseCode::Normal, reason::IDLE);
        }
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
        // Often enough to renew the direct sockets' presence leases too, when any hold one.
        let sweep_every = match self.holds_direct_stays() {
            true => (self.limits.idle_timeout_ms / 2).min(global_presence::RENEW_EVERY_MS),
            false => self.limits.idle_timeout_ms / 2,
        };
        let sweep_ms = any_direct.then(|| clock::now_millis().saturating_add(sweep_every));
        let live_ms = self.pacer.borrow().due();
        let Some(at_ms) = [expiry_ms, sweep_ms, live_ms].into_iter().flatten().min() else {
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
        let hubs = roster.as_ref().map_or(0, |r| r.hubs.len());
        let joined = entries.iter().filter(|e| e.member.is_joined()).count();
        let users: HashSet<String> = entries.iter().filter_map(|e| e.member.user_key()).collect();
        let presence = entries.iter().filter(|e| e.member.tracked().is_some()).count();
        let stats = self.stats.borrow();
        json!({
            // Members: a direct socket, or a client channel on a hub.
            "sockets": entries.len(),
            "hubs": hubs,
            "joined_sockets": joined,
            "distinct_users": users.len(),
            "presence_count": presence,
            "messages_in": stats.messages_in,
            "messages_in_stamped": stats.messages_in_stamped,
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

/// A direct socket's stay in its user's global presence: the signed-in user of the
/// socket's token, and the socket's name for their object (hub members' sockets are
/// their gateway's to report).
fn direct_stay(member: &Member) -> Option<(&str, String)> {
    let user = member.conn_identity.signed_in_user().filter(|_| member.direct)?;
    Some((user, format!("direct:{}", member.socket_key)))
}

/// When a direct socket's stay ends: its token's expiry, or a later one its channel was
/// refreshed to for the same user (supabase-js refreshes tokens on the channel).
fn stay_expires(member: &Member) -> u64 {
    let refreshed = member
        .channel
        .as_ref()
        .map(|c| &c.identity)
        .filter(|i| i.user_id == member.conn_identity.user_id)
        .map_or(0, |i| i.exp);
    member.conn_identity.exp.max(refreshed)
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
