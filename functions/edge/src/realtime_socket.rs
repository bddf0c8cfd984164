//! The client's realtime WebSockets.
//!
//! The multiplexed socket carries many topics. The Worker verifies the apikey JWT before
//! the upgrade and hands the socket to a gateway object (`crate::gateway_object`), where
//! [`serve`] runs it: heartbeats and the session's rules are answered there, and each
//! joined topic is relayed to the topic's `Room` as a member of the gateway's hub for
//! that room ([`hub`]: one socket per gateway and room, shared by its clients). It reads
//! only what it needs to route (topic and event of client frames); room-to-client frames
//! are forwarded as they are, in JavaScript, without entering wasm, because the room
//! already encoded them for this client's framing. The per-topic socket
//! ([`upgrade_direct`]) is handed to the topic's room itself.

use crate::error::EdgeError;
use crate::settings;
use crate::{clock, hub, js_send, room_object, user_object};
use futures_channel::mpsc;
use futures_util::{stream, StreamExt};
use realtime_protocol::{
    binary, event, reason, reply, BinaryBroadcast, CloseCode, ConnectRefusal, Frame, JoinError, Topic, Vsn,
};
use room::global_presence::{self, SocketEvent};
use room::session::{counts_as_event, Ending, Session};
use room::{Identity, Limits};
use std::collections::HashMap;
use worker::{Env, Request, Response, WebSocket, WebSocketPair, WebsocketEvent};

/// What every upgrade checks first: a WebSocket upgrade, a valid apikey, a known framing.
struct Verified {
    identity: Identity,
    vsn: Vsn,
    url: url::Url,
}

fn verify_upgrade(req: &Request, env: &Env) -> Result<Verified, EdgeError> {
    let is_upgrade = req.headers().get("upgrade").ok().flatten().is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !is_upgrade {
        return Err(EdgeError::Refused(ConnectRefusal::NotAnUpgrade));
    }
    let url = req.url()?;
    let query = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let apikey = query("apikey")
        .or_else(|| req.headers().get("x-api-key").ok().flatten())
        .filter(|k| !k.is_empty())
        .ok_or(EdgeError::Refused(ConnectRefusal::ApiKeyMissing))?;
    let claims = settings::verifier(env)?
        .verify(&apikey, clock::now_secs())
        .map_err(|e| EdgeError::Refused(e.connect_refusal()))?;
    let vsn = Vsn::from_query(query("vsn").as_deref()).ok_or(EdgeError::Refused(ConnectRefusal::UnsupportedVsn))?;
    // Checked here too, so a misconfigured Worker refuses before any object is reached.
    settings::limits(env)?;
    Ok(Verified { identity: Identity::from(&claims), vsn, url })
}

/// `GET /realtime/v1/channel/websocket?apikey=<jwt>&vsn=..&topic=realtime:<name>[&private=true]`:
/// one socket for one topic, handed straight to the topic's room (no Worker in the data
/// path). The same frames as the multiplexed socket, for that topic only; `private`
/// picks the private room, and the join's `config.private` must agree.
pub async fn upgrade_direct(req: Request, env: Env) -> Result<Response, EdgeError> {
    let Verified { identity, vsn, url, .. } = verify_upgrade(&req, &env)?;
    let query = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let topic = match Topic::parse(&query("topic").unwrap_or_default()) {
        Ok(topic) => topic,
        Err(JoinError::TopicNameRequired) => return Err(EdgeError::Refused(ConnectRefusal::TopicRequired)),
        Err(e) => return Err(EdgeError::BadRequest(e.to_string())),
    };
    let private = query("private").is_some_and(|p| room::join_config::flag(&serde_json::Value::String(p)));
    topic.check_privacy(private).map_err(|e| EdgeError::Forbidden(e.to_string()))?;
    let conn_id = new_conn_id();
    let upstream = room_object::Upstream {
        topic: &topic,
        private,
        socket_key: &conn_id,
        conn_id: &conn_id,
        identity: &identity,
        vsn,
    };
    Ok(room_object::open_direct(&env, upstream).await?)
}

/// `GET /realtime/v1/websocket?apikey=<jwt>&vsn=<1.0.0|2.0.0>`: verified here, then
/// served by a gateway (`crate::gateway_object`), which shares upstreams among clients.
pub async fn upgrade(req: Request, env: Env) -> Result<Response, EdgeError> {
    let Verified { identity, vsn, .. } = verify_upgrade(&req, &env)?;
    Ok(crate::gateway_object::connect(&env, &new_conn_id(), &identity, vsn).await?)
}

/// A verified client, as its gateway receives it.
pub struct Client {
    pub conn_id: String,
    pub identity: Identity,
    pub vsn: Vsn,
    pub limits: Limits,
}

/// Serves one client connection in a gateway, joining its channels through `hubs`.
pub fn serve(env: Env, hubs: hub::Hubs, client: Client) -> worker::Result<Response> {
    let pair = WebSocketPair::new()?;
    pair.server.accept()?;
    let now = clock::now_millis();
    let connection = Connection {
        client: pair.server,
        env,
        hubs,
        identity: client.identity,
        vsn: client.vsn,
        conn_id: client.conn_id,
        topics: HashMap::new(),
        leaving: Vec::new(),
        next_generation: 0,
        session: Session::new(&client.limits, now),
        too_slow: std::cell::Cell::new(false),
        limits: client.limits,
        users: Vec::new(),
        stays: 0,
    };
    wasm_bindgen_futures::spawn_local(connection.run());
    Response::from_websocket(pair.client)
}

/// A process-unique id for one client connection, used by rooms to tell apart several
/// connections of the same user.
/// The user id of a signed-in identity (the anon and service keys are nobody's presence).
fn signed_in(identity: &Identity) -> Option<String> {
    identity.signed_in_user().map(str::to_string)
}

/// A signed-in user present on a socket, as their object knows the stay.
struct Present {
    user: String,
    /// When their latest token expires (seconds): the stay ends then, unless renewed.
    exp: u64,
    /// The stay's name in the user's object: the connection id and a number.
    key: String,
}

fn new_conn_id() -> String {
    let mut bytes = [0u8; 12];
    // If the platform's randomness fails, time still makes the id unique enough to
    // tell connections apart; it is an identifier, not a secret.
    if getrandom_03::fill(&mut bytes).is_err() {
        bytes[..8].copy_from_slice(&clock::now_millis().to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One joined topic: the channel's membership of its room's hub.
struct Upstream {
    member: hub::Membership,
    /// Which of the topic's rooms: a join with the other privacy needs a new upstream.
    private: bool,
    join_ref: Option<String>,
    /// Tells a stale close notice (of a replaced upstream) from the current one.
    generation: u64,
}

/// What the hub tells the connection loop about its members.
enum Notice {
    UpstreamClosed {
        topic: String,
        generation: u64,
        code: u16,
    },
    /// The client stopped reading and its backlog passed the bound.
    ClientTooSlow,
}

enum Input {
    Client(worker::Result<WebsocketEvent>),
    Notice(Notice),
    /// Time to check whether the client has gone quiet.
    Tick,
}

struct Connection {
    client: WebSocket,
    env: Env,
    /// The gateway's hubs, shared by its connections.
    hubs: hub::Hubs,
    identity: Identity,
    vsn: Vsn,
    limits: Limits,
    conn_id: String,
    topics: HashMap<String, Upstream>,
    /// Channels left by the client, kept until the room has answered and released them.
    leaving: Vec<Upstream>,
    next_generation: u64,
    /// The socket's own rules and counters (frame cap, idle, heartbeat, stats, rates).
    session: Session,
    /// Set when a reply of the Worker's own found the client's backlog over the bound.
    too_slow: std::cell::Cell<bool>,
    /// Signed-in users on this socket (its own token, or a join's): each is online while
    /// the socket lives and their token is valid (global presence).
    users: Vec<Present>,
    /// Numbers each user's stay on this socket, so a user who comes back (a new token
    /// after an expired one) is a new socket to their object, not a closed one reopened.
    stays: u64,
}

impl Connection {
    async fn run(mut self) {
        let client = self.client.clone();
        let events = match client.events() {
            Ok(events) => events,
            Err(e) => {
                worker::console_error!("cannot listen on client socket: {e}");
                return;
            }
        };
        let (notice_tx, notice_rx) = mpsc::unbounded::<Notice>();
        // Often enough for the idle check and for presence renewals, whatever the timeout.
        let every_ms = self.session.idle_check_every_ms().min(global_presence::RENEW_EVERY_MS);
        let ticks = stream::unfold((), move |_| async move {
            worker::Delay::from(std::time::Duration::from_millis(every_ms)).await;
            Some((Input::Tick, ()))
        });
        let mut inputs =
            stream::select(stream::select(events.map(Input::Client), notice_rx.map(Input::Notice)), Box::pin(ticks));
        let mut ending: Ending = (CloseCode::Normal, "bye".into());
        // Global presence: the object of each user on this socket hears of it when it
        // opens (or the user's token first arrives), while it lives (a lease renewal),
        // and when it closes, whatever closed it.
        let own = self.identity.clone();
        self.note_user(&own);
        let mut renew_at = clock::now_millis() + global_presence::RENEW_EVERY_MS;
        while let Some(input) = inputs.next().await {
            // When the client's frame was heard: the session's rates count it then, and
            // the room charges the user's budget then (it may get to it later).
            let heard_ms = clock::now_millis();
            if matches!(input, Input::Client(_)) {
                self.session.seen(heard_ms);
            }
            match input {
                Input::Tick => {
                    let now = clock::now_millis();
                    if now >= renew_at {
                        self.end_stays(|p| p.exp <= clock::now_secs());
                        self.report_users(SocketEvent::Renewed);
                        renew_at = now + global_presence::RENEW_EVERY_MS;
                    }
                    if self.session.is_idle(now) {
                        // Silent for too long (a client heartbeats every 25 s): close, and a
                        // Supabase client reconnects and rejoins.
                        ending = (CloseCode::Normal, reason::IDLE.into());
                        break;
                    }
                }
                Input::Client(Ok(WebsocketEvent::Message(message))) => {
                    let outcome = if let Some(text) = message.text() {
                        self.on_text(text, heard_ms, &notice_tx).await
                    } else if let Some(bytes) = message.bytes() {
                        self.on_binary(bytes, heard_ms).await
                    } else {
                        Ok(())
                    };
                    if let Err(end) = outcome {
                        ending = end;
                        break;
                    }
                    if self.too_slow.get() {
                        ending = (CloseCode::TooSlow, reason::too_slow(self.limits.max_buffered_bytes));
                        break;
                    }
                }
                Input::Client(Ok(WebsocketEvent::Close(_))) | Input::Client(Err(_)) => break,
                Input::Notice(Notice::UpstreamClosed { topic, generation, code }) => {
                    self.on_upstream_closed(topic, generation, code);
                }
                Input::Notice(Notice::ClientTooSlow) => {
                    ending = (CloseCode::TooSlow, reason::too_slow(self.limits.max_buffered_bytes));
                    break;
                }
            }
        }
        // The one cleanup path, however the loop ended: upstreams first (their rooms
        // drop this client's presence), then the client socket. A client closed for its
        // backlog is told why on each channel, past the bound (small, and the last frames).
        let too_slow = ending.0 == CloseCode::TooSlow;
        for (topic, upstream) in self.topics.drain() {
            if too_slow {
                let message = reason::client_too_slow(self.limits.max_buffered_bytes);
                let frame = reply::system(&topic, upstream.join_ref.as_deref(), "error", &message);
                let _ = self.client.send_with_str(frame.encode(self.vsn));
            }
            upstream.member.leave(ending.0.code());
        }
        for upstream in self.leaving.drain(..) {
            upstream.member.leave(CloseCode::Normal.code());
        }
        // Complete the closing handshake, or the client waits for our close frame.
        let (code, reason) = ending;
        let _ = self.client.close(Some(code.code()), Some(&reason));
        self.end_stays(|_| true);
    }

    /// The identity of a join's or refresh's `access_token`, when it verifies (the room
    /// verifies it again for the channel; this only says who is connected).
    fn identity_of_token(&self, frame: &Frame) -> Option<Identity> {
        let token = frame.payload.get("access_token")?.as_str()?;
        let claims = settings::verifier(&self.env).ok()?.verify(token, clock::now_secs()).ok()?;
        Some(Identity::from(&claims))
    }

    /// A verified token arrived: its user (if signed in) is present until it expires.
    fn note_user(&mut self, identity: &Identity) {
        let Some(user) = signed_in(identity) else { return };
        if let Some(present) = self.users.iter_mut().find(|p| p.user == user) {
            present.exp = present.exp.max(identity.exp);
            return;
        }
        self.stays += 1;
        let key = format!("{}.{}", self.conn_id, self.stays);
        user_object::report_socket(&self.env, &user, &key, SocketEvent::Opened);
        self.users.push(Present { user, exp: identity.exp, key });
    }

    /// Ends (reports closed) the stays `ended` picks.
    fn end_stays(&mut self, ended: impl Fn(&Present) -> bool) {
        let env = &self.env;
        self.users.retain(|p| {
            let end = ended(p);
            if end {
                user_object::report_socket(env, &p.user, &p.key, SocketEvent::Closed);
            }
            !end
        });
    }

    fn report_users(&self, event: SocketEvent) {
        for p in &self.users {
            user_object::report_socket(&self.env, &p.user, &p.key, event);
        }
    }

    fn send(&self, frame: &Frame) {
        let data = wasm_bindgen::JsValue::from_str(&frame.encode(self.vsn));
        match js_send::send_bounded(&self.client, &data, self.limits.max_buffered_bytes) {
            js_send::Sent::Yes => {}
            // The loop closes the socket after this frame (one cleanup path).
            js_send::Sent::Backlogged => self.too_slow.set(true),
            js_send::Sent::Failed => worker::console_warn!("send to client failed"),
        }
    }

    async fn on_text(
        &mut self,
        text: String,
        heard_ms: u64,
        notices: &mpsc::UnboundedSender<Notice>,
    ) -> Result<(), Ending> {
        self.session.frame_in(text.len(), heard_ms)?;
        let frame = match Frame::decode(self.vsn, &text) {
            Ok(frame) => frame,
            // Nothing to reply to: an undecodable frame has no topic or ref.
            Err(e) => {
                self.session.dropped();
                worker::console_warn!("dropped an undecodable frame: {e}");
                return Ok(());
            }
        };
        if frame.topic == realtime_protocol::PHOENIX_TOPIC {
            if let Some(answer) = self.session.phoenix(&frame, self.topics.len()) {
                self.send(&answer);
            }
            return Ok(());
        }
        if frame.event == event::JOIN {
            if let Err(e) = self.session.admit_join(heard_ms) {
                self.send(&reply::error(&frame, &e.to_string()));
                return Ok(());
            }
            if let Err(e) = self.ensure_upstream(&frame, notices).await {
                self.send(&reply::error(&frame, &e.to_string()));
                return Ok(());
            }
        } else if counts_as_event(&frame.event)
            && self.topics.contains_key(&frame.topic)
            && !self.session.take_event(heard_ms)
        {
            self.close_for_rate(&frame.topic);
            return Ok(());
        }
        if frame.event == event::JOIN || frame.event == event::ACCESS_TOKEN {
            // supabase-js opens the socket with the anon key and hands the user's token
            // over on each join: that is when the user is known to be here. A refresh
            // replaces the token of the socket's channels: whoever it no longer names
            // (signed out, or another user signed in) has left.
            if let Some(identity) = self.identity_of_token(&frame) {
                if frame.event == event::ACCESS_TOKEN {
                    let (now_user, own) = (signed_in(&identity), signed_in(&self.identity));
                    self.end_stays(|p| Some(&p.user) != now_user.as_ref() && Some(&p.user) != own.as_ref());
                }
                self.note_user(&identity);
            }
        }
        let leaving = frame.event == event::LEAVE;
        let Some(upstream) = self.topics.get_mut(&frame.topic) else {
            self.send(&reply::error(&frame, reason::UNMATCHED_TOPIC));
            return Ok(());
        };
        if frame.event == event::JOIN {
            upstream.join_ref = frame.join_ref.clone();
        }
        if let Err(e) = upstream.member.send_text(&text, heard_ms) {
            worker::console_warn!("relay to room failed: {e}");
            let join_ref = upstream.join_ref.clone();
            if let Some(upstream) = self.topics.remove(&frame.topic) {
                upstream.member.leave(CloseCode::InternalError.code());
            }
            self.send(&reply::channel_error(&frame.topic, join_ref.as_deref()));
            return Ok(());
        }
        if leaving {
            // The room answers, sends phx_close and releases the member; a new join on
            // the topic gets a fresh member meanwhile.
            if let Some(upstream) = self.topics.remove(&frame.topic) {
                self.leaving.push(upstream);
            }
        }
        Ok(())
    }

    async fn on_binary(&mut self, bytes: Vec<u8>, heard_ms: u64) -> Result<(), Ending> {
        self.session.frame_in(bytes.len(), heard_ms)?;
        if self.vsn != Vsn::V2 {
            self.session.dropped();
            worker::console_warn!("dropped a binary frame on a vsn {} socket", self.vsn.as_str());
            return Ok(());
        }
        let topic = match binary::client_frame_topic(&bytes) {
            Ok(topic) => topic.to_string(),
            Err(e) => {
                self.session.dropped();
                worker::console_warn!("dropped a malformed binary frame: {e}");
                return Ok(());
            }
        };
        if self.topics.contains_key(&topic) && !self.session.take_event(heard_ms) {
            self.close_for_rate(&topic);
            return Ok(());
        }
        match self.topics.get(&topic) {
            Some(upstream) => {
                if let Err(e) = upstream.member.send_binary(&bytes, heard_ms) {
                    worker::console_warn!("relay to room failed: {e}");
                }
            }
            None => {
                if let Ok(b) = BinaryBroadcast::decode_client(&bytes) {
                    let frame =
                        Frame::new(topic, event::BROADCAST, Default::default()).with_refs(b.join_ref, b.msg_ref);
                    self.send(&reply::error(&frame, reason::UNMATCHED_TOPIC));
                }
            }
        }
        Ok(())
    }

    /// Opens the upstream for a join's topic unless the socket already has one to the
    /// room of the same privacy. The join is checked first by the same rule the room
    /// applies, so a refused join opens nothing.
    async fn ensure_upstream(
        &mut self,
        join: &Frame,
        notices: &mpsc::UnboundedSender<Notice>,
    ) -> Result<(), JoinError> {
        let (topic, config) = room::handle::check_join(join)?;
        let private = config.private;
        match self.topics.get(&join.topic) {
            Some(upstream) if upstream.private == private => return Ok(()),
            Some(_) => {
                // The topic's other room: its channel ends here, as a second join ends the
                // first within one room.
                if let Some(old) = self.topics.remove(&join.topic) {
                    self.send(&reply::close(&join.topic, old.join_ref.as_deref()));
                    old.member.leave(CloseCode::Normal.code());
                }
            }
            None => {}
        }
        if self.topics.len() >= self.limits.max_channels_per_connection {
            return Err(JoinError::TooManyChannels);
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        let socket_key = format!("{}.{generation}", self.conn_id);
        let upstream = room_object::Upstream {
            topic: &topic,
            private,
            socket_key: &socket_key,
            conn_id: &self.conn_id,
            identity: &self.identity,
            vsn: self.vsn,
        };
        let on_end = {
            let notices = notices.clone();
            let topic = join.topic.clone();
            // The connection loop may be gone already (client closed first): nothing to tell.
            move |code| drop(notices.unbounded_send(Notice::UpstreamClosed { topic, generation, code }))
        };
        let on_slow = {
            let notices = notices.clone();
            move || drop(notices.unbounded_send(Notice::ClientTooSlow))
        };
        let member =
            hub::join(&self.env, &self.hubs, upstream, &self.client, self.limits.max_buffered_bytes, on_end, on_slow)
                .await
                .map_err(|e| {
                    worker::console_error!("cannot reach room {topic}: {e}");
                    JoinError::RoomUnavailable
                })?;
        self.topics.insert(join.topic.clone(), Upstream { member, private, join_ref: None, generation });
        Ok(())
    }

    /// The user sent faster than allowed: this channel ends with a `system` error and
    /// `phx_close`; the room hears the upstream close and drops its presence.
    fn close_for_rate(&mut self, topic: &str) {
        let Some(upstream) = self.topics.remove(topic) else { return };
        self.session.closed_for_rate();
        let join_ref = upstream.join_ref.as_deref();
        self.send(&reply::system(topic, join_ref, "error", reason::TOO_MANY_MESSAGES));
        self.send(&reply::close(topic, join_ref));
        upstream.member.leave(CloseCode::Normal.code());
    }

    /// The room released a member (1000), or its hub ended under it.
    fn on_upstream_closed(&mut self, topic: String, generation: u64, code: u16) {
        self.leaving.retain(|u| u.generation != generation);
        let current = self.topics.get(&topic).is_some_and(|u| u.generation == generation);
        if !current {
            return;
        }
        if let Some(upstream) = self.topics.remove(&topic) {
            if code != CloseCode::Normal.code() {
                // The room went away while joined: phx_error makes the client rejoin.
                self.send(&reply::channel_error(&topic, upstream.join_ref.as_deref()));
            }
        }
    }
}
