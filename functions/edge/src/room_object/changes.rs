//! The room's side of the change feed: `postgres_changes` bindings at join (checked
//! against the published schema, registered with the feed), batches from the feed matched
//! and RLS-checked in one query, replay on join, broadcasts from the database, and the
//! feed's database status passed on to subscribers.

use super::{Room, MAX_BINDINGS};
use realtime_protocol::{event, reply, JoinError, Topic, Vsn};
use room::handle::Admission;
use room::Outbound;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use tokio_postgres::types::Type;
use worker::{Request, Response, Result};

impl Room {
    /// Reads a join's `postgres_changes` bindings, checks each names a published table
    /// (and its filter a column of it), and registers the room with the feed.
    pub(super) async fn bind_changes(
        &self,
        topic: &Topic,
        private: bool,
        requested: &[Value],
        admission: &mut Admission,
    ) -> std::result::Result<(), JoinError> {
        if requested.len() > MAX_BINDINGS {
            return Err(JoinError::InvalidJoin(format!("at most {MAX_BINDINGS} postgres_changes bindings")));
        }
        let (mut bindings, errors) = room::changes::Binding::parse_all(requested);
        let mut messages: Vec<String> = errors.iter().map(|(_, e)| e.to_string()).collect();
        let mut interests = Vec::new();
        for binding in bindings.iter_mut() {
            let Some(rule) = binding.rule.clone() else { continue };
            let Some(table) = rule.table.clone() else {
                interests.push(Value::Object(binding.requested.clone()).to_string());
                continue;
            };
            let columns = self.published_columns(&rule.schema, &table).await.map_err(|e| {
                worker::console_error!("room: cannot check bindings: {e}");
                JoinError::DatabaseUnavailable
            })?;
            let servable =
                columns.as_ref().is_some_and(|cols| rule.filter.as_ref().is_none_or(|f| cols.contains(&f.column)));
            if servable {
                interests.push(Value::Object(binding.requested.clone()).to_string());
            } else {
                messages.push(rule.unavailable(&binding.requested).to_string());
                binding.rule = None;
            }
        }
        if !interests.is_empty() {
            let registration = crate::feed_object::Registration { room: topic.room_name(private), interests };
            crate::feed_object::register(&self.env, &registration).await.map_err(|e| {
                worker::console_error!("room: cannot register with the feed: {e}");
                JoinError::RoomUnavailable
            })?;
        }
        admission.bindings = bindings;
        admission.binding_errors = messages;
        Ok(())
    }

    /// The columns of `schema.table` if the change feed publishes it, else None.
    async fn published_columns(&self, schema: &str, table: &str) -> std::result::Result<Option<Vec<String>>, String> {
        let row = self
            .db
            .run(&self.env, async |client| {
                client
                    .query_one(
                        "select array_agg(a.attname::text) from pg_catalog.pg_attribute a
                          where a.attrelid = to_regclass(format('%I.%I', $1::text, $2::text)) and a.attnum > 0
                            and not a.attisdropped
                            and exists (select 1 from pg_catalog.pg_trigger t
                                         where t.tgrelid = a.attrelid and t.tgfoid = 'feed.capture'::regproc)",
                        &[&schema, &table],
                    )
                    .await
            })
            .await?;
        row.try_get::<_, Option<Vec<String>>>(0).map_err(|e| e.to_string())
    }

    /// A batch from the feed: each joined channel gets the changes its bindings match and
    /// its subscriber may select, checked for the whole batch in one query
    /// (`feed.visible`; a DELETE, whose row is gone, by the table's select policies on its
    /// old row where its key is a relationship: `Change::needs_row_check`; a DELETE is
    /// delivered with its primary key only). 410 tells the feed nobody here listens any more.
    pub(super) async fn receive_changes(&self, mut req: Request) -> Result<Response> {
        let Ok(batch) = req.json::<crate::feed_object::Batch>().await else {
            return Response::error("bad batch", 400);
        };
        // Aligned with `feeds`: a change whose operation does not parse is left out of both.
        let (feeds, changes): (Vec<&crate::feed_object::FeedChange>, Vec<room::changes::Change>) =
            batch.changes.iter().filter_map(|f| Some((f, crate::feed_object::as_change(f)?))).unzip();
        struct Wanted {
            key: String,
            /// The member's hub, if it has one: its change frames are grouped per hub.
            hub: Option<String>,
            topic: String,
            join_ref: Option<String>,
            vsn: Vsn,
            claim_set: usize,
            /// (change index, binding ids)
            matches: Vec<(usize, Vec<u32>)>,
        }
        let mut claim_sets: Vec<(String, String)> = Vec::new();
        let mut wanted = Vec::new();
        let mut listening = false;
        if let Some(roster) = self.roster.borrow().as_ref() {
            for (key, entry) in &roster.entries {
                let Some(channel) = entry.member.channel.as_ref() else { continue };
                if channel.bindings.iter().all(|b| b.rule.is_none()) {
                    continue;
                }
                listening = true;
                let matches = room::changes::Binding::matches_in(&channel.bindings, &changes);
                if matches.is_empty() {
                    continue;
                }
                let claims = (channel.identity.role.clone(), channel.identity.claims.clone());
                let claim_set = claim_sets.iter().position(|c| *c == claims).unwrap_or_else(|| {
                    claim_sets.push(claims);
                    claim_sets.len() - 1
                });
                wanted.push(Wanted {
                    key: key.clone(),
                    hub: match &entry.route {
                        super::Route::Hub(hub) => Some(hub.clone()),
                        super::Route::Socket(_) => None,
                    },
                    topic: entry.topic.clone(),
                    join_ref: channel.join_ref.clone(),
                    vsn: entry.member.vsn,
                    claim_set,
                    matches,
                });
            }
        }
        if !listening && self.joining.get() == 0 {
            // The feed forgets this room's bindings now: the next join announces it again.
            self.announced.set(false);
            return Response::empty().map(|r| r.with_status(410));
        }
        if wanted.is_empty() {
            return Response::empty().map(|r| r.with_status(204));
        }
        // Only changes some subscriber here matched are checked (the feed sends every
        // change of the tables the room listens to, most of them for other filters).
        let mut checked: Vec<usize> = wanted
            .iter()
            .flat_map(|w| w.matches.iter().map(|(i, _)| *i))
            .filter(|i| changes[*i].needs_row_check())
            .collect();
        checked.sort_unstable();
        checked.dedup();
        let visible = match self.visible(&claim_sets, &feeds, &checked).await {
            Ok(visible) => visible,
            Err(e) => {
                worker::console_error!("room: cannot check who may see changes: {e}");
                for w in &wanted {
                    let frame = reply::extension_status(
                        &w.topic,
                        w.join_ref.as_deref(),
                        event::POSTGRES_CHANGES,
                        "error",
                        &JoinError::DatabaseUnavailable.to_string(),
                    );
                    self.send(&w.key, &frame.encode(w.vsn));
                }
                self.drop_closed().await?;
                return Response::error("database unavailable", 503);
            }
        };
        // Change by change, so each member gets them in order: members who see the same
        // frame (same framing, join_ref and binding ids) share one encoding, and those on
        // one hub get it in one send.
        for (i, change) in changes.iter().enumerate() {
            let mut frames: HashMap<(Vsn, Option<&str>, &[u32]), String> = HashMap::new();
            let mut by_hub: Vec<(&str, String, Vec<&str>)> = Vec::new();
            for w in &wanted {
                let Some((_, ids)) = w.matches.iter().find(|(m, _)| *m == i) else { continue };
                if self.delivered.borrow().get(&w.key).is_some_and(|last| change.position <= *last) {
                    continue;
                }
                if change.needs_row_check() && !visible.contains(&(w.claim_set, i)) {
                    continue;
                }
                let frame = frames
                    .entry((w.vsn, w.join_ref.as_deref(), ids.as_slice()))
                    .or_insert_with(|| {
                        change_frame(change, ids, &batch.columns, &w.topic, w.join_ref.as_deref(), w.vsn)
                    })
                    .clone();
                if let Some(queue) = self.replaying.borrow_mut().get_mut(&w.key) {
                    // Behind a replay in progress: sent once it has caught up.
                    queue.push((change.position, frame));
                    continue;
                }
                self.delivered.borrow_mut().insert(w.key.clone(), change.position);
                match w.hub.as_deref() {
                    Some(hub) => match by_hub.iter_mut().find(|(h, f, _)| *h == hub && *f == frame) {
                        Some((_, _, keys)) => keys.push(&w.key),
                        None => by_hub.push((hub, frame, vec![&w.key])),
                    },
                    None => self.send(&w.key, &frame),
                }
            }
            for (hub, frame, keys) in by_hub {
                self.deliver_on_hub(hub, &keys, &frame);
            }
        }
        self.drop_closed().await?;
        Response::empty().map(|r| r.with_status(204))
    }

    /// The topic, framing and channel of a joined member.
    fn joined_channel(&self, key: &str) -> Option<(String, Vsn, room::Channel)> {
        self.with_entry(key, |e| e.member.channel.clone().map(|c| (e.topic.clone(), e.member.vsn, c))).flatten()
    }

    /// A channel that joined with `postgres_changes_replay.after` first receives every
    /// later change its bindings match and its subscriber may see, in order; live changes
    /// arriving meanwhile wait and follow, without the ones the replay already covered. If
    /// the feed no longer keeps changes that far back, the channel is told to reload.
    pub(super) async fn replay_changes(&self, key: &str) {
        let Some((topic, vsn, channel)) = self.joined_channel(key) else { return };
        let Some(after) = channel.config.changes_after else { return };
        if channel.bindings.iter().all(|b| b.rule.is_none()) {
            return;
        }
        self.replaying.borrow_mut().insert(key.to_string(), Vec::new());
        let system = |status: &str, message: &str| {
            reply::extension_status(&topic, channel.join_ref.as_deref(), event::POSTGRES_CHANGES, status, message)
                .encode(vsn)
        };
        let mut covered = after;
        let outcome = self.replay_from(key, &topic, vsn, &channel, after, &mut covered).await;
        match outcome {
            Ok(true) => {}
            Ok(false) => self.send(
                key,
                &system("error", &format!("ReplayUnavailable: changes after position {after} are no longer kept; reload from the database")),
            ),
            Err(e) => {
                worker::console_error!("room: replay failed: {e}");
                self.send(key, &system("error", &JoinError::DatabaseUnavailable.to_string()));
            }
        }
        let queued = self.replaying.borrow_mut().remove(key).unwrap_or_default();
        for (position, frame) in queued {
            if position > covered {
                self.send(key, &frame);
                covered = position;
            }
        }
        self.delivered.borrow_mut().insert(key.to_string(), covered);
    }

    /// Sends the changes after `after` to one channel, page by page; `covered` ends at the
    /// last position read. Ok(false): the feed no longer keeps changes that far back.
    async fn replay_from(
        &self,
        key: &str,
        topic: &str,
        vsn: Vsn,
        channel: &room::Channel,
        after: i64,
        covered: &mut i64,
    ) -> std::result::Result<bool, String> {
        const PAGE: i32 = 500;
        loop {
            let from = *covered;
            let (page, columns, kept_from) = self
                .db
                .run(&self.env, async |client| {
                    let kept: Option<i64> = if from == after {
                        client
                            .query_one(
                                "select case when (select last_position from feed.cursor) > $1
                                             then coalesce((select min(feed_position) from feed.changes
                                                             where feed_position is not null), 9223372036854775807)
                                        end",
                                &[&after],
                            )
                            .await?
                            .try_get(0)?
                    } else {
                        None
                    };
                    let page = crate::feed_object::fetch(client, crate::feed_object::Source::After(from, PAGE)).await?;
                    let columns =
                        crate::feed_object::table_columns(client, &crate::feed_object::tables_of(&page)).await;
                    Ok((page, columns, kept))
                })
                .await?;
            if kept_from.is_some_and(|first| first > after + 1) {
                return Ok(false);
            }
            let (feeds, changes): (Vec<&crate::feed_object::FeedChange>, Vec<room::changes::Change>) =
                page.iter().filter_map(|f| Some((f, crate::feed_object::as_change(f)?))).unzip();
            let matched = room::changes::Binding::matches_in(&channel.bindings, &changes);
            let checked: Vec<usize> =
                matched.iter().map(|(i, _)| *i).filter(|i| changes[*i].needs_row_check()).collect();
            let claims = [(channel.identity.role.clone(), channel.identity.claims.clone())];
            let visible = self.visible(&claims, &feeds, &checked).await?;
            for (i, ids) in &matched {
                let change = &changes[*i];
                if change.needs_row_check() && !visible.contains(&(0, *i)) {
                    continue;
                }
                let frame = change_frame(change, ids, &columns, topic, channel.join_ref.as_deref(), vsn);
                self.send(key, &frame);
            }
            if let Some(last) = page.last() {
                *covered = last.position;
            }
            if page.len() < PAGE as usize {
                return Ok(true);
            }
        }
    }

    /// After the first join since the room woke up: tells the feed someone listens here, so
    /// broadcasts from the database reach this room's topic.
    pub(super) async fn announce_to_feed(&self, key: &str) {
        if self.announced.get() || !self.with_entry(key, |e| e.member.is_joined()).unwrap_or(false) {
            return;
        }
        let Some((topic, private)) = self.with_entry(key, |e| (e.topic.clone(), e.member.room_private)) else { return };
        let Ok(topic) = Topic::parse(&topic) else { return };
        let registration = crate::feed_object::Registration {
            room: topic.room_name(private),
            interests: vec![crate::feed_object::BROADCASTS.to_string()],
        };
        match crate::feed_object::register(&self.env, &registration).await {
            Ok(()) => self.announced.set(true),
            Err(e) => worker::console_error!("room: cannot register with the feed: {e}"),
        }
    }

    /// Broadcasts from the database (`realtime.send`), in commit order: fanned out to every
    /// joined channel as Supabase delivers them, with the message id in payload and meta.
    pub(super) async fn database_broadcast(&self, mut req: Request) -> Result<Response> {
        let Ok(messages) = req.json::<Vec<Value>>().await else {
            return Response::error("bad broadcasts", 400);
        };
        for m in messages {
            let (Some(topic), Some(event)) = (m["topic"].as_str(), m["event"].as_str()) else { continue };
            let id = m["id"].as_str().unwrap_or_default().to_string();
            let message = database_broadcast_message(event, &m["payload"], &id, false);
            // Sockets replaying broadcasts: queued while the replay runs, skipped if it
            // could see this one.
            let mut skip_keys = Vec::new();
            for (key, state) in self.broadcast_replays.borrow_mut().iter_mut() {
                match state {
                    BroadcastReplayState::Replaying(queue) => queue.push((id.clone(), message.clone())),
                    BroadcastReplayState::Covered(ids) if !ids.contains(&id) => continue,
                    BroadcastReplayState::Covered(_) => {}
                }
                skip_keys.push(key.clone());
            }
            let skip: Vec<&str> = skip_keys.iter().map(String::as_str).collect();
            self.stats.borrow_mut().messages_in += 1;
            self.fan_out(&Outbound::from_json(topic, message).encode(), &skip);
        }
        self.drop_closed().await?;
        Response::empty().map(|r| r.with_status(204))
    }

    /// A private channel joined with `config.broadcast.replay` first receives the latest
    /// broadcasts from the database stored since the given moment (at most `limit`,
    /// oldest first, `meta.replayed` set), read from `realtime.messages` as Supabase does.
    /// Its access was decided by the join; broadcasts the replay could see (sent, or left
    /// out by the limit) are not sent again when the feed delivers them live. A database
    /// failure is a `system` error on the channel.
    pub(super) async fn replay_broadcasts(&self, key: &str) {
        let Some((topic, vsn, channel)) = self.joined_channel(key) else { return };
        let Some(replay) = channel.config.broadcast_replay else { return };
        let Ok(parsed) = Topic::parse(&topic) else { return };
        self.broadcast_replays.borrow_mut().insert(key.to_string(), BroadcastReplayState::Replaying(Vec::new()));
        let limit = i64::from(replay.limit);
        let rows = self
            .db
            .run(&self.env, async |client| {
                let latest = client
                    .query(
                        "select id::text, event, coalesce(payload, '{}'::jsonb)::text from (
                             select m.id, m.event, m.payload, m.inserted_at from realtime.messages m
                              where m.topic = $1 and m.private is true and m.extension = 'broadcast'
                                and m.event is distinct from 'access_probe'
                                and m.inserted_at >= (to_timestamp($2::bigint / 1000.0) at time zone 'utc')
                              order by m.inserted_at desc, m.id desc limit $3) latest
                          order by inserted_at, id",
                        &[&parsed.name(), &replay.since_ms, &limit],
                    )
                    .await?;
                // Every broadcast the feed may still be about to deliver live (it imports
                // those of the last two minutes) that this replay could see: sent, or left
                // out by the limit, but not to be sent again after the replay.
                let covered = client
                    .query(
                        "select m.id::text from realtime.messages m
                          where m.topic = $1 and m.private is true and m.extension = 'broadcast'
                            and m.inserted_at >= greatest(to_timestamp($2::bigint / 1000.0) at time zone 'utc',
                                                          localtimestamp - interval '2 minutes')
                          limit 1000",
                        &[&parsed.name(), &replay.since_ms],
                    )
                    .await?;
                Ok((latest, covered.iter().filter_map(|r| r.try_get::<_, String>(0).ok()).collect::<HashSet<_>>()))
            })
            .await;
        let (rows, covered) = match rows {
            Ok(found) => found,
            Err(e) => {
                worker::console_error!("room: broadcast replay failed: {e}");
                let frame = reply::extension_status(
                    &topic,
                    channel.join_ref.as_deref(),
                    event::BROADCAST,
                    "error",
                    &JoinError::DatabaseUnavailable.to_string(),
                );
                self.send(key, &frame.encode(vsn));
                (Vec::new(), HashSet::new())
            }
        };
        let send = |message: serde_json::Map<String, Value>| {
            let frame = reply::push(&topic, channel.join_ref.as_deref(), event::BROADCAST, message);
            self.send(key, &frame.encode(vsn));
        };
        for row in rows {
            let (Ok(id), Ok(event), Ok(payload)) =
                (row.try_get::<_, String>(0), row.try_get::<_, Option<String>>(1), row.try_get::<_, String>(2))
            else {
                continue;
            };
            let payload: Value = serde_json::from_str(&payload).unwrap_or(Value::Null);
            send(database_broadcast_message(&event.unwrap_or_default(), &payload, &id, true));
        }
        let queued =
            self.broadcast_replays.borrow_mut().insert(key.to_string(), BroadcastReplayState::Covered(covered.clone()));
        if let Some(BroadcastReplayState::Replaying(queued)) = queued {
            for (id, message) in queued {
                if !covered.contains(&id) {
                    send(message);
                }
            }
        }
    }

    /// The feed lost (or regained) the database: every channel with bindings hears it as
    /// a `system` message of the postgres_changes extension.
    pub(super) async fn feed_status(&self, mut req: Request) -> Result<Response> {
        let status: Value = req.json().await.unwrap_or(Value::Null);
        let ok = status["ok"].as_bool().unwrap_or(false);
        let message =
            if ok { "Subscribed to PostgreSQL".to_string() } else { JoinError::DatabaseUnavailable.to_string() };
        let listeners: Vec<(String, String, Option<String>, Vsn)> = self
            .roster
            .borrow()
            .as_ref()
            .map(|r| {
                r.entries
                    .iter()
                    .filter_map(|(key, e)| {
                        let channel = e.member.channel.as_ref()?;
                        channel
                            .bindings
                            .iter()
                            .any(|b| b.rule.is_some())
                            .then(|| (key.clone(), e.topic.clone(), channel.join_ref.clone(), e.member.vsn))
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (key, topic, join_ref, vsn) in listeners {
            let status = if ok { "ok" } else { "error" };
            let frame = reply::extension_status(&topic, join_ref.as_deref(), event::POSTGRES_CHANGES, status, &message);
            self.send(&key, &frame.encode(vsn));
        }
        self.drop_closed().await?;
        Response::empty().map(|r| r.with_status(204))
    }

    /// Which of `changes[checked]` each claim set may select: (claim set, change index).
    async fn visible(
        &self,
        claim_sets: &[(String, String)],
        changes: &[&crate::feed_object::FeedChange],
        checked: &[usize],
    ) -> std::result::Result<HashSet<(usize, usize)>, String> {
        if checked.is_empty() {
            return Ok(HashSet::new());
        }
        let sets: Vec<Value> = claim_sets
            .iter()
            .map(|(role, claims)| {
                json!({"role": role, "claims": serde_json::from_str::<Value>(claims).unwrap_or(Value::Null)})
            })
            .collect();
        let rows: Vec<Value> = checked
            .iter()
            .map(|i| {
                let c = changes[*i];
                if c.op == "DELETE" {
                    // Gone, so judged by the table's select policies on its old row (whole
                    // where the table keeps it, else the key): migration 20261128100200.
                    let old = c.old_record.clone().unwrap_or_else(|| c.pk.clone());
                    json!({"schema": c.schema, "table": c.table, "pk": c.pk, "deleted": old})
                } else {
                    json!({"schema": c.schema, "table": c.table, "pk": c.pk})
                }
            })
            .collect();
        let (sets, rows) = (Value::Array(sets).to_string(), Value::Array(rows).to_string());
        let found = self
            .db
            .run(&self.env, async |client| {
                // Typed parameters: no prepare round trip, one per batch and room.
                client
                    .query_typed(
                        "select claim_set, change from feed.visible($1::jsonb, $2::jsonb)",
                        &[(&sets, Type::TEXT), (&rows, Type::TEXT)],
                    )
                    .await
            })
            .await?;
        Ok(found
            .iter()
            .filter_map(|r| {
                let (Ok(set), Ok(change)) = (r.try_get::<_, i32>(0), r.try_get::<_, i32>(1)) else { return None };
                Some((set as usize, *checked.get(change as usize)?))
            })
            .collect())
    }
}

/// The `postgres_changes` frame of one change for the binding `ids` it matched (a
/// DELETE's old row is already its key only: `feed_object::as_change`).
fn change_frame(
    change: &room::changes::Change,
    ids: &[u32],
    columns: &HashMap<String, Vec<(String, String)>>,
    topic: &str,
    join_ref: Option<&str>,
    vsn: Vsn,
) -> String {
    let columns = columns.get(&format!("{}.{}", change.schema, change.table)).map_or(&[][..], Vec::as_slice);
    let payload = room::changes::delivery(ids, change, columns);
    reply::push(topic, join_ref, event::POSTGRES_CHANGES, payload).encode(vsn)
}

/// A broadcast from the database as Supabase delivers it: the message id in the payload
/// and in `meta`, with `meta.replayed` when a broadcast replay sent it.
pub(super) fn database_broadcast_message(
    event: &str,
    payload: &Value,
    id: &str,
    replayed: bool,
) -> serde_json::Map<String, Value> {
    let mut payload = payload.as_object().cloned().unwrap_or_default();
    payload.insert("id".into(), Value::String(id.to_string()));
    let mut meta = serde_json::Map::new();
    if replayed {
        meta.insert("replayed".into(), Value::Bool(true));
    }
    meta.insert("id".into(), Value::String(id.to_string()));
    let mut message = serde_json::Map::new();
    message.insert("type".into(), Value::String("broadcast".into()));
    message.insert("event".into(), Value::String(event.to_string()));
    message.insert("payload".into(), Value::Object(payload));
    message.insert("meta".into(), Value::Object(meta));
    message
}

/// Where a socket's broadcast replay stands.
pub(super) enum BroadcastReplayState {
    /// Running: live database broadcasts wait here (id, message).
    Replaying(Vec<(String, serde_json::Map<String, Value>)>),
    /// Done: the ids it could see, not to be sent again live.
    Covered(HashSet<String>),
}
