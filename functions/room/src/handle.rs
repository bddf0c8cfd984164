//! The room's answers, as pure functions: each reads and updates one [`Member`] and
//! returns the [`Effect`]s the host must carry out, in order.
//!
//! What needs I/O happens in the host before these are called: verifying a join's or a
//! refresh's token, and asking Postgres whether a private channel may be read or written.
//! The results come in as an [`Admission`] or an identity; the rules stay here.

use crate::presence::{self, Tracked};
use crate::{Channel, Identity, JoinConfig, Limits, Member, Outbound, TokenBucket};
use realtime_protocol::{event, reason, reply, BinaryBroadcast, Frame, JoinError, Topic};
use serde_json::{json, Map, Value};

/// A frame as it came off the socket.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Text(Frame),
    /// A kind 3 binary broadcast.
    Binary(BinaryBroadcast),
}

/// What the host must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send this frame to the sender alone.
    Reply(Frame),
    /// Send to every joined member; the sender too only when `include_sender`.
    Fanout { message: Outbound, include_sender: bool },
    /// Send `presence_diff` to every joined member, the sender included.
    PresenceDiff { joins: Vec<Tracked>, leaves: Vec<Tracked> },
    /// Release the sender (close its direct socket, or free its hub member): its channel is over.
    CloseSender,
}

/// What the room can see of its other members.
pub trait Roster {
    /// Whether a joined socket other than `except_socket` runs on `user_key`.
    fn has_user(&self, user_key: &str, except_socket: &str) -> bool;
    /// Distinct user keys joined, not counting `except_socket`.
    fn user_count(&self, except_socket: &str) -> usize;
    /// Every tracked presence, except that of `except_socket`.
    fn presence(&self, except_socket: &str) -> Vec<Tracked>;
}

/// The room's surroundings for one call.
pub struct Ctx<'a> {
    pub now_ms: u64,
    pub limits: &'a Limits,
    pub roster: &'a dyn Roster,
}

/// The host's verdict on a join: whose token the channel runs on, and whether it may write.
#[derive(Debug, Clone, PartialEq)]
pub struct Admission {
    pub identity: Identity,
    pub can_write: bool,
    /// The join's `postgres_changes` bindings, every one with its id; those the host
    /// found unservable have no rule and their `system` message in `binding_errors`.
    pub bindings: Vec<crate::changes::Binding>,
    pub binding_errors: Vec<String>,
}

impl Admission {
    /// An admission without `postgres_changes` bindings.
    pub fn new(identity: Identity, can_write: bool) -> Admission {
        Admission { identity, can_write, bindings: Vec::new(), binding_errors: Vec::new() }
    }
}

/// Longest `join_ref` accepted: it is kept with the socket and echoed on every push.
pub const MAX_JOIN_REF_BYTES: usize = 64;
/// Longest presence key accepted: it is kept with the socket and sent to every joiner.
pub const MAX_PRESENCE_KEY_BYTES: usize = 256;

/// What a join must satisfy before anyone is asked about access: a valid topic, a private
/// channel for a policy-owned name, and refs and keys small enough to keep. The Worker
/// calls it before opening an upstream and the room before admitting, so both refuse alike.
pub fn check_join(frame: &Frame) -> Result<(Topic, JoinConfig), JoinError> {
    let topic = Topic::parse(&frame.topic)?;
    let config = JoinConfig::from_join_payload(&frame.payload);
    topic.check_privacy(config.private)?;
    if frame.join_ref.as_ref().is_some_and(|r| r.len() > MAX_JOIN_REF_BYTES) {
        return Err(JoinError::InvalidJoin(format!("join_ref is over {MAX_JOIN_REF_BYTES} bytes")));
    }
    if config.presence_key.len() > MAX_PRESENCE_KEY_BYTES {
        return Err(JoinError::InvalidJoin(format!("presence key is over {MAX_PRESENCE_KEY_BYTES} bytes")));
    }
    crate::join_config::BroadcastReplay::from_join_payload(&frame.payload).map_err(JoinError::InvalidJoin)?;
    Ok((topic, config))
}

/// [`check_join`], plus what only the room knows: the privacy its socket was opened for.
pub fn check_join_in_room(member: &Member, frame: &Frame) -> Result<(Topic, JoinConfig), JoinError> {
    let (topic, config) = check_join(frame)?;
    if config.private != member.room_private {
        let which = if member.room_private { "private" } else { "public" };
        return Err(JoinError::InvalidJoin(format!(
            "this socket was opened for the {which} channel; join it with config.private = {}",
            member.room_private
        )));
    }
    Ok((topic, config))
}

fn channel_name(topic: &str) -> &str {
    topic.strip_prefix(realtime_protocol::TOPIC_PREFIX).unwrap_or(topic)
}

/// Ends the member's channel: presence leave first, so the others see it go.
fn end_channel(member: &mut Member, effects: &mut Vec<Effect>) -> Option<Channel> {
    let channel = member.channel.take()?;
    if let Some(tracked) = channel.presence.clone() {
        effects.push(Effect::PresenceDiff { joins: vec![], leaves: vec![tracked] });
    }
    Some(channel)
}

/// Answers a `phx_join`.
pub fn join(
    member: &mut Member,
    topic: &str,
    frame: Frame,
    admission: Result<Admission, JoinError>,
    ctx: &Ctx,
) -> Vec<Effect> {
    let mut effects = Vec::new();
    // A second join on a joined topic replaces the channel: close the old one first,
    // as Phoenix does, so the client sees the old join_ref end.
    if let Some(old) = end_channel(member, &mut effects) {
        effects.push(Effect::Reply(reply::close(topic, old.join_ref.as_deref())));
    }
    // A refused join leaves nothing behind: a relayed upstream exists only for its channel,
    // so it is released (or it would hold one of the client's channel slots for good). A
    // direct socket stays open for the client to retry.
    let direct = member.direct;
    let refuse = |effects: &mut Vec<Effect>, reason: &str| {
        effects.push(Effect::Reply(reply::error(&frame, reason)));
        if !direct {
            effects.push(Effect::CloseSender);
        }
    };
    let admission = match admission {
        Ok(admission) => admission,
        Err(e) => {
            refuse(&mut effects, &e.to_string());
            return effects;
        }
    };
    let user_key = admission.identity.user_key(&member.conn_id);
    let new_user = !ctx.roster.has_user(&user_key, &member.socket_key);
    if new_user && ctx.roster.user_count(&member.socket_key) >= ctx.limits.max_users_per_channel {
        refuse(&mut effects, &JoinError::TooManyUsers.to_string());
        return effects;
    }
    let config = JoinConfig::from_join_payload(&frame.payload);
    let presence_enabled = config.presence_enabled;
    let echo = crate::changes::Binding::echo(&admission.bindings);
    member.channel = Some(Channel {
        join_ref: frame.join_ref.clone(),
        config,
        identity: admission.identity,
        can_write: admission.can_write,
        bindings: admission.bindings,
        presence: None,
    });
    effects.push(Effect::Reply(reply::ok(&frame, json!({ "postgres_changes": echo }))));
    // Supabase's way: the channel is joined, and each binding it cannot serve gets a
    // `system` error of the postgres_changes extension (realtime-js does not retry it).
    for message in &admission.binding_errors {
        let join_ref = frame.join_ref.as_deref();
        effects.push(Effect::Reply(reply::extension_status(
            topic,
            join_ref,
            event::POSTGRES_CHANGES,
            "error",
            message,
        )));
    }
    if presence_enabled {
        let state = presence::grouped(&ctx.roster.presence(&member.socket_key));
        effects.push(Effect::Reply(reply::push(topic, frame.join_ref.as_deref(), event::PRESENCE_STATE, state)));
    }
    effects
}

/// What only a direct socket needs before [`handle`]: its heartbeats, frames for other
/// topics, and its event budget (text and binary broadcasts alike). `Some` when the frame
/// was fully answered here.
pub fn direct_preamble(member: &mut Member, topic: &str, inbound: &Inbound, ctx: &Ctx) -> Option<Vec<Effect>> {
    if !member.direct {
        return None;
    }
    let (frame_topic, event_name) = match inbound {
        Inbound::Text(frame) => (frame.topic.as_str(), frame.event.as_str()),
        Inbound::Binary(b) => (b.topic.as_str(), event::BROADCAST),
    };
    let joined = member.is_joined();
    let channels = usize::from(joined);
    member.heard(ctx.now_ms, ctx.limits);
    let session = member.session.get_or_insert_with(|| crate::session::Session::new(ctx.limits, ctx.now_ms));
    session.seen(ctx.now_ms);
    if frame_topic == realtime_protocol::PHOENIX_TOPIC {
        return Some(match inbound {
            Inbound::Text(frame) => session.phoenix(frame, channels).map(Effect::Reply).into_iter().collect(),
            Inbound::Binary(_) => vec![],
        });
    }
    if frame_topic != topic {
        let frame = match inbound {
            Inbound::Text(frame) => frame.clone(),
            Inbound::Binary(b) => {
                Frame::new(frame_topic, event::BROADCAST, Map::new()).with_refs(b.join_ref.clone(), b.msg_ref.clone())
            }
        };
        return Some(vec![Effect::Reply(reply::error(&frame, reason::UNMATCHED_TOPIC))]);
    }
    if let Inbound::Text(frame) = inbound {
        if frame.event == event::JOIN {
            if let Err(e) = session.admit_join(ctx.now_ms) {
                return Some(vec![Effect::Reply(reply::error(frame, &e.to_string()))]);
            }
        }
    }
    if crate::session::counts_as_event(event_name) && joined && !session.take_event(ctx.now_ms) {
        session.closed_for_rate();
        return Some(close_with_system(member, topic, reason::TOO_MANY_MESSAGES));
    }
    None
}

/// The user's budget in this room, shared by all their sockets on the topic (see
/// [`crate::user_budget`]), for a broadcast or presence push on a joined channel: `Some`
/// (the channel closed with the `system` message) when it is spent. Runs after a direct
/// socket's own preamble and before [`handle`], for every socket.
///
/// `heard_ms` is when the frame reached the Worker, where a gateway stamped it
/// ([`crate::hub_wire::Up::Text`]); the budget counts it then (never later than now), so a
/// backlog the room takes in at once is charged as the publisher sent it. A direct
/// socket's frames come straight here: `None`, counted now.
pub fn user_budget(
    member: &mut Member,
    topic: &str,
    inbound: &Inbound,
    heard_ms: Option<u64>,
    budgets: &mut crate::user_budget::UserBudgets,
    ctx: &Ctx,
) -> Option<Vec<Effect>> {
    let (frame_topic, event_name) = match inbound {
        Inbound::Text(frame) => (frame.topic.as_str(), frame.event.as_str()),
        Inbound::Binary(b) => (b.topic.as_str(), event::BROADCAST),
    };
    if frame_topic != topic || !crate::session::counts_as_event(event_name) {
        return None;
    }
    let user = member.user_key()?;
    let at_ms = heard_ms.map_or(ctx.now_ms, |heard| heard.min(ctx.now_ms));
    if budgets.take(&user, ctx.limits, at_ms) {
        return None;
    }
    if let Some(session) = member.session.as_mut() {
        session.closed_for_rate();
    }
    Some(close_with_system(member, topic, reason::TOO_MANY_MESSAGES))
}

/// Answers any frame other than a join or a token refresh.
pub fn handle(member: &mut Member, topic: &str, inbound: Inbound, ctx: &Ctx) -> Vec<Effect> {
    let Some(channel) = member.channel.clone() else {
        let frame = match inbound {
            Inbound::Text(frame) => frame,
            Inbound::Binary(b) => Frame::new(topic, event::BROADCAST, Map::new()).with_refs(b.join_ref, b.msg_ref),
        };
        let mut effects = vec![Effect::Reply(reply::error(&frame, reason::UNMATCHED_TOPIC))];
        // The Worker lets go of a relayed member only when the room releases it (so the
        // answer to the leave still reaches the client): a leave always releases it.
        if frame.event == event::LEAVE && !member.direct {
            effects.push(Effect::CloseSender);
        }
        return effects;
    };
    match inbound {
        Inbound::Binary(b) => {
            let frame =
                Frame::new(topic, event::BROADCAST, Map::new()).with_refs(b.join_ref.clone(), b.msg_ref.clone());
            let name = b.event.clone();
            broadcast(&channel, topic, &frame, &name, Outbound::from_binary(topic, b), ctx)
        }
        Inbound::Text(frame) => match frame.event.as_str() {
            event::BROADCAST => {
                let name = frame.payload.get("event").and_then(Value::as_str).unwrap_or_default().to_string();
                let message = Outbound::from_json(topic, frame.payload.clone());
                broadcast(&channel, topic, &frame, &name, message, ctx)
            }
            event::PRESENCE => presence_push(member, topic, &frame, ctx),
            event::LEAVE => {
                let mut effects = Vec::new();
                end_channel(member, &mut effects);
                effects.push(Effect::Reply(reply::ok(&frame, json!({}))));
                effects.push(Effect::Reply(reply::close(topic, channel.join_ref.as_deref())));
                effects.push(Effect::CloseSender);
                effects
            }
            other => vec![Effect::Reply(reply::error(&frame, &format!("UnknownEvent: {other}")))],
        },
    }
}

fn broadcast(channel: &Channel, topic: &str, frame: &Frame, name: &str, message: Outbound, ctx: &Ctx) -> Vec<Effect> {
    let ack = channel.config.broadcast_ack && frame.msg_ref.is_some();
    if !channel.can_write {
        return if ack {
            vec![Effect::Reply(reply::error(frame, &reason::write_refused(channel_name(topic))))]
        } else {
            vec![]
        };
    }
    if reason::is_server_event(name, channel.config.private) {
        return if ack {
            vec![Effect::Reply(reply::error(frame, &reason::server_event_refused(name)))]
        } else {
            vec![]
        };
    }
    if message.payload_len() > ctx.limits.max_payload_bytes {
        return if ack { vec![Effect::Reply(reply::error_bare(frame, reason::PAYLOAD_TOO_LARGE))] } else { vec![] };
    }
    let mut effects = vec![Effect::Fanout { message, include_sender: channel.config.broadcast_self }];
    if ack {
        effects.push(Effect::Reply(reply::ok(frame, json!({}))));
    }
    effects
}

fn presence_push(member: &mut Member, topic: &str, frame: &Frame, ctx: &Ctx) -> Vec<Effect> {
    let bucket = member
        .presence_bucket
        .get_or_insert_with(|| TokenBucket::new(ctx.limits.presence_calls, ctx.limits.presence_window_ms, ctx.now_ms));
    let join_ref = member.channel.as_ref().and_then(|c| c.join_ref.clone());
    if !bucket.try_take(ctx.now_ms) {
        return vec![
            Effect::Reply(reply::error(frame, reason::PRESENCE_RATE_LIMITED)),
            Effect::Reply(reply::system(topic, join_ref.as_deref(), "error", reason::PRESENCE_RATE_LIMITED)),
        ];
    }
    let socket_key = member.socket_key.clone();
    let Some(channel) = member.channel.as_mut() else {
        return vec![Effect::Reply(reply::error(frame, reason::UNMATCHED_TOPIC))];
    };
    match frame.payload.get("event").and_then(Value::as_str) {
        Some("track") => {
            let Some(Value::Object(payload)) = frame.payload.get("payload") else {
                return vec![Effect::Reply(reply::error(frame, reason::PRESENCE_NOT_A_MAP))];
            };
            if !channel.can_write {
                return vec![Effect::Reply(reply::error(frame, &reason::write_refused(channel_name(topic))))];
            }
            if serde_json::to_vec(payload).map_or(usize::MAX, |b| b.len()) > ctx.limits.max_presence_bytes {
                return vec![Effect::Reply(reply::error(
                    frame,
                    &reason::presence_too_large(ctx.limits.max_presence_bytes),
                ))];
            }
            member.presence_seq += 1;
            let previous = channel.presence.take();
            let key = if channel.config.presence_key.is_empty() {
                socket_key.clone()
            } else {
                channel.config.presence_key.clone()
            };
            let phx_ref = format!("{socket_key}.{}", member.presence_seq);
            let meta = presence::meta(payload, phx_ref, channel.identity.user_id.as_deref(), previous.as_ref());
            let tracked = Tracked { key, meta };
            channel.presence = Some(tracked.clone());
            vec![
                Effect::Reply(reply::ok(frame, json!({}))),
                Effect::PresenceDiff { joins: vec![tracked], leaves: previous.into_iter().collect() },
            ]
        }
        Some("untrack") => {
            let mut effects = vec![Effect::Reply(reply::ok(frame, json!({})))];
            if let Some(previous) = channel.presence.take() {
                effects.push(Effect::PresenceDiff { joins: vec![], leaves: vec![previous] });
            }
            effects
        }
        _ => vec![Effect::Reply(reply::error(frame, "presence event must be track or untrack"))],
    }
}

/// Closes the member's channel with a `system` error: presence leave, the message, then
/// `phx_close` (the client does not rejoin), and the upstream is released.
pub fn close_with_system(member: &mut Member, topic: &str, message: &str) -> Vec<Effect> {
    let mut effects = Vec::new();
    let Some(channel) = end_channel(member, &mut effects) else {
        return effects;
    };
    effects.push(Effect::Reply(reply::system(topic, channel.join_ref.as_deref(), "error", message)));
    effects.push(Effect::Reply(reply::close(topic, channel.join_ref.as_deref())));
    effects.push(Effect::CloseSender);
    effects
}

/// The host's verdict on a refreshed token.
#[derive(Debug, Clone, PartialEq)]
pub enum Refresh {
    /// Verified and, for a private channel, re-authorized with this outcome.
    Verified(Admission),
    /// Verified, but the database could not be asked: the channel keeps its last decision.
    Unchecked(Identity),
    /// The message of the `system` error that ends the channel.
    Refused(String),
}

/// Counts an `access_token` push against the channel's budget (each one costs a token
/// verification and, for private channels, a database check). `Some` ends the channel.
pub fn refresh_budget(member: &mut Member, topic: &str, ctx: &Ctx) -> Option<Vec<Effect>> {
    member.channel.as_ref()?;
    let bucket = member
        .refresh_bucket
        .get_or_insert_with(|| TokenBucket::new(ctx.limits.token_refreshes_per_minute, 60_000, ctx.now_ms));
    if bucket.try_take(ctx.now_ms) {
        None
    } else {
        Some(close_with_system(member, topic, reason::TOO_MANY_REFRESHES))
    }
}

/// Answers an `access_token` push, given the host's verdict on the new token.
pub fn refresh(member: &mut Member, topic: &str, verdict: Refresh) -> Vec<Effect> {
    let Some(channel) = member.channel.as_mut() else {
        return vec![];
    };
    let (identity, can_write) = match verdict {
        Refresh::Verified(admission) => (admission.identity, admission.can_write),
        Refresh::Unchecked(identity) => (identity, channel.can_write),
        Refresh::Refused(message) => return close_with_system(member, topic, &message),
    };
    if identity.user_id != channel.identity.user_id {
        return close_with_system(member, topic, "The new token belongs to another user");
    }
    channel.identity = identity;
    channel.can_write = can_write;
    vec![]
}

/// Ends the channel if its token has expired at `now_secs`.
pub fn expire(member: &mut Member, topic: &str, now_secs: u64) -> Vec<Effect> {
    match member.channel.as_ref() {
        Some(channel) if channel.identity.exp <= now_secs => {
            let ago = now_secs - channel.identity.exp;
            close_with_system(member, topic, &format!("Token has expired {ago} seconds ago"))
        }
        _ => vec![],
    }
}

/// The socket is gone: what the others must hear.
pub fn disconnect(member: &mut Member) -> Vec<Effect> {
    let mut effects = Vec::new();
    end_channel(member, &mut effects);
    effects
}

#[cfg(test)]
mod tests;
