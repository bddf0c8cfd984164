//! The room's side of the hubs (`crate::hub`): a gateway's one socket to this
//! room, carrying many client channels as members. A member opens, sends frames and goes
//! over its hub (`room::hub_wire`); in between it is a member like a direct socket's, kept
//! in storage instead of an attachment (a hub's members do not fit one attachment).

use super::{Entry, HubAttachment, HubSocket, Room, Route, SocketOf, HUB_TAG_PREFIX};
use crate::clock;
use realtime_protocol::{CloseCode, Vsn};
use room::hub_wire::{self, Up};
use room::{Identity, Member};
use wasm_bindgen::JsValue;
use worker::{Request, Response, Result, WebSocket, WebSocketIncomingMessage, WebSocketPair};

impl Room {
    /// `/hub?topic=..&hub=<id>&vsn=..[&private=1]`: a gateway's hub for this room.
    pub(super) fn accept_hub(&self, req: Request) -> Result<Response> {
        let url = req.url()?;
        let query = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        let (Some(topic), Some(hub), Some(vsn)) =
            (query("topic"), query("hub").filter(|h| hub_wire::valid_key(h)), Vsn::from_query(query("vsn").as_deref()))
        else {
            return Response::error("bad hub request", 400);
        };
        let private = query("private").as_deref() == Some("1");
        let pair = WebSocketPair::new()?;
        self.state.accept_websocket_with_tags(&pair.server, &[format!("{HUB_TAG_PREFIX}{hub}").as_str()]);
        let attachment = HubAttachment { hub: hub.clone(), topic: topic.clone(), vsn, private };
        if let Err(e) = pair.server.serialize_attachment(&attachment) {
            worker::console_error!("room: cannot store a hub's state: {e}");
            let _ = pair.server.close(Some(CloseCode::InternalError.code()), Some("cannot keep hub state"));
            return Response::error("cannot keep hub state", 500);
        }
        if let Some(roster) = self.roster.borrow_mut().as_mut() {
            roster.hubs.insert(hub, HubSocket { ws: pair.server.clone(), topic, vsn, private });
        }
        let response = Response::from_websocket(pair.client)?;
        // This room reads stamped frames: the gateway may send them (see hub_wire).
        response.headers().set(hub_wire::STAMPS_HEADER, hub_wire::STAMPS_READ)?;
        Ok(response)
    }

    /// A frame on a hub: a member opens, speaks for its client, or goes.
    pub(super) async fn on_hub_message(&self, hub: &str, message: WebSocketIncomingMessage) -> Result<()> {
        let (key, inner, heard_ms) = match &message {
            WebSocketIncomingMessage::String(text) => match Up::decode(text) {
                Ok(Up::Open { key, conn_id, identity }) => return self.open_member(hub, key, conn_id, identity).await,
                Ok(Up::Gone { key, code }) => {
                    if !self.is_member_of(key, hub) {
                        return Ok(());
                    }
                    if code == CloseCode::TooSlow.code() {
                        self.stats.borrow_mut().closed_too_slow += 1;
                    }
                    return self.drop_member(key).await;
                }
                Ok(Up::Text { key, frame, heard_ms }) => {
                    (key, WebSocketIncomingMessage::String(frame.to_string()), heard_ms)
                }
                Err(e) => {
                    worker::console_error!("room: {e}");
                    return Ok(());
                }
            },
            WebSocketIncomingMessage::Binary(bytes) => match hub_wire::decode_up_binary(bytes) {
                Ok(up) => (up.key, WebSocketIncomingMessage::Binary(up.frame.to_vec()), up.heard_ms),
                Err(e) => {
                    worker::console_error!("room: {e}");
                    return Ok(());
                }
            },
        };
        // Only a member of this hub speaks through it.
        if !self.is_member_of(key, hub) {
            return Ok(());
        }
        self.on_message(key, inner, heard_ms).await
    }

    fn is_member_of(&self, key: &str, hub: &str) -> bool {
        self.with_entry(key, |e| matches!(&e.route, Route::Hub(h) if h == hub)) == Some(true)
    }

    async fn open_member(&self, hub: &str, key: &str, conn_id: &str, identity: &str) -> Result<()> {
        let Some((topic, vsn, private)) =
            self.roster.borrow().as_ref().and_then(|r| r.hubs.get(hub)).map(|h| (h.topic.clone(), h.vsn, h.private))
        else {
            return Ok(());
        };
        let route = Route::Hub(hub.to_string());
        let Ok(identity) = serde_json::from_str::<Identity>(identity) else {
            worker::console_error!("room: a hub member came without a readable identity");
            self.tell_hub(&route, hub_wire::Down::Close { key, code: CloseCode::InternalError.code() });
            return Ok(());
        };
        let mut member = Member::new(key, conn_id, identity, vsn);
        member.room_private = private;
        member.last_seen_ms = clock::now_millis();
        if let Some(roster) = self.roster.borrow_mut().as_mut() {
            roster
                .entries
                .insert(key.to_string(), Entry { route: route.clone(), topic: topic.clone(), member: member.clone() });
        }
        self.keep(key, &route, &topic, member).await;
        Ok(())
    }

    /// A socket closed or failed: a direct member, or a hub with all its members.
    pub(super) async fn socket_gone(&self, ws: &WebSocket) -> Result<()> {
        self.ensure_roster().await?;
        match self.socket_of(ws) {
            Some(SocketOf::Member(key)) => self.drop_member(&key).await,
            Some(SocketOf::Hub(hub)) => {
                self.forget_hub(&hub);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Closes a hub (its gateway stopped reading, or it broke): its members are over,
    /// each of its clients is told by its gateway, and the room forgets them.
    pub(super) fn close_hub(&self, hub: &str, code: CloseCode, why: &str) {
        let ws = self.roster.borrow().as_ref().and_then(|r| r.hubs.get(hub)).map(|h| h.ws.clone());
        if let Some(ws) = ws {
            let _ = ws.close(Some(code.code()), Some(why));
        }
        let members = self.forget_hub(hub);
        if code == CloseCode::TooSlow {
            self.stats.borrow_mut().closed_too_slow += members as u64;
        }
    }

    /// Forgets a hub and marks its members for dropping; how many it had.
    fn forget_hub(&self, hub: &str) -> usize {
        let members: Vec<String> = self
            .roster
            .borrow_mut()
            .as_mut()
            .map(|r| {
                r.hubs.remove(hub);
                r.entries
                    .iter()
                    .filter(|(_, e)| matches!(&e.route, Route::Hub(h) if h == hub))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default();
        let count = members.len();
        self.closing.borrow_mut().extend(members);
        count
    }
}

/// Every stored value whose name starts with `prefix`, as (name, value).
pub(super) async fn list_prefixed(storage: &worker::Storage, prefix: &str) -> Result<Vec<(String, JsValue)>> {
    let stored = storage.list_with_options(worker::ListOptions::new().prefix(prefix)).await?;
    Ok(stored
        .entries()
        .into_iter()
        .filter_map(|item| {
            let pair: js_sys::Array = item.ok()?.into();
            Some((pair.get(0).as_string()?, pair.get(1)))
        })
        .collect())
}
