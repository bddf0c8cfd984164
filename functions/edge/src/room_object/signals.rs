//! Signals from the database to this room (`feed.signal`, migration 20261127170100),
//! handed over by the feed after their transaction committed:
//!
//! - `recheck`: a user stopped being allowed here (banned, removed, left); their private
//!   channels in this room are asked about again, and closed with a `system` error if
//!   the policies now refuse them. The policies decide, not the signal.
//! - `tally`: the topic's live state changed (a poll's votes, an event's RSVPs or
//!   status); it is read from the database and sent as one broadcast to everyone here,
//!   paced by [`room::pacer`] (at most 4 frames a second, always one after the last
//!   change) on the room's alarm, so the room may hibernate in between.

use super::Room;
use crate::channel_access::AccessError;
use crate::clock;
use realtime_protocol::Topic;
use room::handle as rules;
use room::Outbound;
use serde::Deserialize;
use serde_json::Value;
use worker::{Request, Response, Result};

#[derive(Debug, Deserialize)]
pub(crate) struct Signal {
    pub topic: String,
    pub kind: String,
    #[serde(default)]
    pub user_id: Option<String>,
}

/// How many times in a row a live state that could not be read is tried again.
const MAX_LIVE_RETRIES: u32 = 5;

/// The live state's broadcast event and the SQL function that reads it, by namespace.
fn live_state_of(topic: &Topic) -> Option<(&'static str, &'static str, &str)> {
    let name = topic.name();
    if let Some(id) = name.strip_prefix("poll:") {
        return Some(("poll_tally", "select private.poll_live_state($1::text::uuid)::text", id));
    }
    if let Some(id) = name.strip_prefix("event:") {
        return Some(("event_state", "select private.event_live_state($1::text::uuid)::text", id));
    }
    None
}

impl Room {
    pub(super) async fn receive_signals(&self, mut req: Request) -> Result<Response> {
        let Ok(signals) = req.json::<Vec<Signal>>().await else {
            return Response::error("bad signals", 400);
        };
        let mut paced = false;
        let mut unchecked = false;
        for signal in signals {
            match (signal.kind.as_str(), signal.user_id) {
                ("recheck", user) => unchecked |= !self.recheck(user.as_deref()).await?,
                ("tally", _) => {
                    self.live_unknown.set(false);
                    *self.live_topic.borrow_mut() = Some(signal.topic);
                    paced |= self.pacer.borrow_mut().signal(clock::now_millis()).is_some();
                }
                _ => {}
            }
        }
        if paced {
            self.schedule_alarm().await?;
        }
        self.drop_closed().await?;
        // The feed offers the signals again: a revocation the database could not be asked
        // about must not be dropped (rechecking twice closes nothing twice).
        Response::empty().map(|r| r.with_status(if unchecked { 503 } else { 204 }))
    }

    /// Someone started or stopped being present here: on an event's channel, whose live
    /// state says how many are present, that is a change to send (paced as any other).
    pub(super) async fn presence_moved(&self, topic: &str) -> Result<()> {
        let Ok(parsed) = Topic::parse(topic) else { return Ok(()) };
        if !parsed.name().starts_with("event:") {
            return Ok(());
        }
        self.live_topic.borrow_mut().get_or_insert_with(|| topic.to_string());
        if self.pacer.borrow_mut().signal(clock::now_millis()).is_some() {
            self.schedule_alarm().await?;
        }
        Ok(())
    }

    /// Asks the policies again about every private channel of `user` here (everyone's
    /// for `None`), closing those now refused; false when the database could not answer
    /// for some (they stay open, and the feed offers the signal again).
    async fn recheck(&self, user: Option<&str>) -> Result<bool> {
        let channels: Vec<(String, String, room::Identity)> = self
            .roster
            .borrow()
            .as_ref()
            .map(|r| {
                r.entries
                    .iter()
                    .filter_map(|(key, e)| {
                        let channel = e.member.channel.as_ref()?;
                        let theirs = user.is_none_or(|u| channel.identity.user_id.as_deref() == Some(u));
                        (channel.config.private && theirs)
                            .then(|| (key.clone(), e.topic.clone(), channel.identity.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut answered = true;
        for (key, topic, identity) in channels {
            let Ok(parsed) = Topic::parse(&topic) else { continue };
            let refusal = match self.fresh_access(&parsed, &identity).await {
                Ok(access) if access.read => continue,
                Ok(_) => format!("You do not have permissions to read from this Channel topic: {}", parsed.name()),
                Err(AccessError::Policy(message)) => message,
                Err(AccessError::Unavailable(reason)) => {
                    // The rest would wait on the same database: stop, and be offered the
                    // signal again.
                    worker::console_warn!("room: cannot recheck the channels of {topic}: {reason}");
                    answered = false;
                    break;
                }
            };
            self.run(&key, |member, topic, _| rules::close_with_system(member, topic, &refusal)).await?;
        }
        Ok(answered)
    }

    /// On the alarm: sends the live state if the pacer says it is time.
    pub(super) async fn send_live_state_if_due(&self) {
        let due = self.pacer.borrow_mut().take(clock::now_millis());
        if !due && !self.live_unknown.replace(false) {
            return;
        }
        let known = self.live_topic.borrow().clone();
        let Some(topic) = known.or_else(|| self.roster_topic()) else { return };
        let Ok(parsed) = Topic::parse(&topic) else { return };
        let Some((event, statement, id)) = live_state_of(&parsed) else { return };
        if !self.roster.borrow().as_ref().is_some_and(|r| r.entries.values().any(|e| e.member.is_joined())) {
            return; // nobody to tell; a joiner reads the state over HTTP
        }
        let id = id.to_string();
        let state = self
            .db
            .run(&self.env, async |client| {
                let row = client.query_opt(statement, &[&id]).await?;
                Ok(row.and_then(|r| r.get::<_, Option<String>>(0)))
            })
            .await;
        let mut state: Value = match state {
            Ok(Some(text)) => serde_json::from_str(&text).unwrap_or(Value::Null),
            Ok(None) => return,
            Err(e) => {
                // Tried again a gap later (a few times): the frame that failed may be the
                // final one, which no later change would bring.
                worker::console_warn!("room: cannot read the live state of {topic}: {e}");
                if self.live_retries.get() < MAX_LIVE_RETRIES {
                    self.live_retries.set(self.live_retries.get() + 1);
                    self.pacer.borrow_mut().signal(clock::now_millis());
                }
                return;
            }
        };
        self.live_retries.set(0);
        if event == "event_state" {
            state["present"] = Value::from(self.present_users());
        }
        let id = format!("{event}-{}", clock::now_millis());
        let message = super::changes::database_broadcast_message(event, &state, &id, false);
        self.stats.borrow_mut().messages_in += 1;
        self.fan_out(&Outbound::from_json(parsed.full(), message).encode(), &[]);
    }

    /// The topic of this room's channels, from any of them.
    fn roster_topic(&self) -> Option<String> {
        self.roster.borrow().as_ref().and_then(|r| r.entries.values().next().map(|e| e.topic.clone()))
    }

    /// Distinct users tracking presence here now.
    fn present_users(&self) -> usize {
        let roster = self.roster.borrow();
        let users: std::collections::HashSet<String> = roster
            .as_ref()
            .map(|r| {
                r.entries
                    .values()
                    .filter(|e| e.member.tracked().is_some())
                    .filter_map(|e| e.member.user_key())
                    .collect()
            })
            .unwrap_or_default();
        users.len()
    }
}
