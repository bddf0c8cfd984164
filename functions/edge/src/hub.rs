//! A gateway's hubs: one socket per room (topic, privacy) and framing, shared by every
//! client of the gateway joined there.
//!
//! A room sends a broadcast once per hub, and the hub copies it to its local clients, so
//! the room's work and the room-to-Worker traffic no longer grow with the number of
//! subscribers (the fan-out tree; docs/architecture.md). Hubs live in a `Gateway`
//! Durable Object, not in the Worker: the platform lets one request's handler use only
//! the sockets it opened itself, while all requests to one object share its sockets. Each client channel is a member
//! of the hub with its own key: the room keeps presence, authorization, `self`, acks and
//! replies per member, exactly as for a socket of its own. The frames are defined in
//! `room::hub_wire`; the room-to-client half is read in JavaScript, so a fanned-out frame
//! never enters wasm and is handed to every client as the one value it arrived as.

use crate::room_object;
use room::hub_wire::{self, Up};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsValue;
use worker::{Env, WebSocket};

#[wasm_bindgen(inline_js = r#"
const deliver = (m, data) => {
  if (m.slow) return;
  if ((m.client.bufferedAmount || 0) > m.maxBuffered) { m.slow = true; m.onSlow(); return; }
  try { m.client.send(data); } catch (_) {}
};

export function hub_open(socket, onClosed) {
  const hub = { socket, members: new Map(), closed: false };
  socket.addEventListener('message', (e) => {
    const data = e.data;
    if (typeof data !== 'string') {
      const bytes = new Uint8Array(data);
      let at = 1;
      const skip = [];
      for (let i = 0; i < bytes[0]; i++) {
        const len = bytes[at];
        skip.push(new TextDecoder().decode(bytes.subarray(at + 1, at + 1 + len)));
        at += 1 + len;
      }
      const frame = bytes.slice(at);
      for (const [key, m] of hub.members) if (m.joined && !skip.includes(key)) deliver(m, frame);
      return;
    }
    const nl = data.indexOf('\n');
    if (nl < 2) return;
    const op = data[0];
    const head = data.slice(2, nl);
    const body = data.slice(nl + 1);
    if (op === 'D') {
      for (const key of head.split(',')) { const m = hub.members.get(key); if (m) deliver(m, body); }
    } else if (op === 'F') {
      const skip = head ? head.split(',') : [];
      for (const [key, m] of hub.members) if (m.joined && !skip.includes(key)) deliver(m, body);
    } else if (op === 'J' || op === 'L') {
      const m = hub.members.get(head);
      if (m) m.joined = op === 'J';
    } else if (op === 'C') {
      const [key, code] = head.split(' ');
      const m = hub.members.get(key);
      if (m) { hub.members.delete(key); m.onEnd(Number(code) || 1000); }
    }
  });
  const end = (code) => {
    if (hub.closed) return;
    hub.closed = true;
    const members = [...hub.members.values()];
    hub.members.clear();
    // The room went away under joined channels: never a normal end for them.
    for (const m of members) m.onEnd(code === 1000 ? 1001 : code);
    onClosed();
  };
  socket.addEventListener('close', (e) => end(e.code || 1006));
  socket.addEventListener('error', () => end(1011));
  socket.accept();
  return hub;
}

export function hub_attach(hub, key, client, maxBuffered, onEnd, onSlow) {
  if (hub.closed) return false;
  hub.members.set(key, { client, maxBuffered, onEnd, onSlow, joined: false, slow: false });
  return true;
}

export function hub_detach(hub, key) {
  hub.members.delete(key);
  return hub.members.size;
}

export function hub_size(hub) {
  return hub.closed ? 0 : hub.members.size;
}
"#)]
extern "C" {
    fn hub_open(socket: &JsValue, on_closed: &JsValue) -> JsValue;
    fn hub_attach(
        hub: &JsValue,
        key: &str,
        client: &JsValue,
        max_buffered: f64,
        on_end: &JsValue,
        on_slow: &JsValue,
    ) -> bool;
    fn hub_detach(hub: &JsValue, key: &str) -> u32;
    fn hub_size(hub: &JsValue) -> u32;
}

/// One hub: its socket to the room and its member table (in JavaScript).
struct Hub {
    name: String,
    id: u64,
    socket: WebSocket,
    /// The room reads stamped frames (a room of the previous release does not).
    stamps: bool,
    js: JsValue,
    /// The table it is listed in, to leave it when it closes.
    hubs: Weak<RefCell<Table>>,
}

/// One gateway's open hubs, by room and framing.
#[derive(Clone, Default)]
pub struct Hubs(Rc<RefCell<Table>>);

#[derive(Default)]
struct Table {
    open: HashMap<String, Rc<Hub>>,
    next_id: u64,
}

impl Hubs {
    fn forget(&self, name: &str, id: u64) {
        let mut table = self.0.borrow_mut();
        if table.open.get(name).is_some_and(|h| h.id == id) {
            table.open.remove(name);
        }
    }

    fn current(&self, name: &str) -> Option<Rc<Hub>> {
        self.0.borrow().open.get(name).cloned()
    }

    /// The hub of `up`'s room and framing, opened if the gateway has none.
    async fn hub_for(&self, env: &Env, up: &room_object::Upstream<'_>) -> worker::Result<Rc<Hub>> {
        let name = format!("{}|{}", up.topic.room_name(up.private), up.vsn.as_str());
        if let Some(hub) = self.current(&name) {
            return Ok(hub);
        }
        let id = {
            let mut table = self.0.borrow_mut();
            table.next_id += 1;
            table.next_id
        };
        let (socket, stamps) = room_object::open_hub(env, up, &format!("{}-{id}", up.conn_id)).await?;
        // Another client of this gateway may have opened one meanwhile: one hub per room.
        if let Some(hub) = self.current(&name) {
            let _ = socket.close(Some(1000), Some("duplicate hub"));
            return Ok(hub);
        }
        let on_closed = {
            let (hubs, name) = (Rc::downgrade(&self.0), name.clone());
            Closure::once_into_js(move || {
                if let Some(hubs) = hubs.upgrade() {
                    Hubs(hubs).forget(&name, id);
                }
            })
        };
        let raw: &web_sys::WebSocket = socket.as_ref();
        let js = hub_open(raw, &on_closed);
        let hub = Rc::new(Hub { name: name.clone(), id, socket, stamps, js, hubs: Rc::downgrade(&self.0) });
        self.0.borrow_mut().open.insert(name, hub.clone());
        Ok(hub)
    }
}

/// One client channel's place on a hub.
pub struct Membership {
    hub: Rc<Hub>,
    key: String,
}

/// Joins the hub of `up`'s room as member `up.socket_key`, delivering to `client`. While
/// `client` holds more than `max_buffered` unsent bytes, nothing more is queued for it and
/// `on_slow` runs; `on_end` runs once, with a close code, when the room releases the
/// member (1000) or the hub ends under it.
pub async fn join(
    env: &Env,
    hubs: &Hubs,
    up: room_object::Upstream<'_>,
    client: &WebSocket,
    max_buffered: usize,
    on_end: impl FnOnce(u16) + 'static,
    on_slow: impl FnMut() + 'static,
) -> worker::Result<Membership> {
    if !hub_wire::valid_key(up.socket_key) {
        return Err(worker::Error::RustError(format!("bad member key {}", up.socket_key)));
    }
    let identity = serde_json::to_string(up.identity).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let hub = hubs.hub_for(env, &up).await?;
    let weak: Weak<Hub> = Rc::downgrade(&hub);
    let on_end = Closure::once_into_js(move |code: u16| {
        on_end(code);
        // The room released the member: the hub goes with its last one.
        if let Some(hub) = weak.upgrade() {
            close_if_empty(&hub);
        }
    });
    let on_slow = Closure::<dyn FnMut()>::new(on_slow).into_js_value();
    let raw: &web_sys::WebSocket = client.as_ref();
    if !hub_attach(&hub.js, up.socket_key, raw, max_buffered as f64, &on_end, &on_slow) {
        return Err(worker::Error::RustError("hub closed".into()));
    }
    let membership = Membership { hub, key: up.socket_key.to_string() };
    let open = Up::Open { key: up.socket_key, conn_id: up.conn_id, identity: &identity };
    if let Err(e) = membership.hub.socket.send_with_str(open.encode()) {
        membership.leave(1011);
        return Err(e);
    }
    Ok(membership)
}

fn close_if_empty(hub: &Hub) {
    if hub_size(&hub.js) == 0 {
        if let Some(hubs) = hub.hubs.upgrade() {
            Hubs(hubs).forget(&hub.name, hub.id);
        }
        let _ = hub.socket.close(Some(1000), Some("no members"));
    }
}

impl Membership {
    /// Relays a client's text frame to the room, with when it was heard (the room
    /// charges the user's budget then, however late it gets round to it).
    pub fn send_text(&self, frame: &str, heard_ms: u64) -> worker::Result<()> {
        let heard_ms = self.hub.stamps.then_some(heard_ms);
        self.hub.socket.send_with_str(Up::Text { key: &self.key, frame, heard_ms }.encode())
    }

    /// Relays a client's binary frame to the room, with when it was heard.
    pub fn send_binary(&self, frame: &[u8], heard_ms: u64) -> worker::Result<()> {
        let heard_ms = self.hub.stamps.then_some(heard_ms);
        self.hub.socket.send_with_bytes(hub_wire::encode_up_binary(&self.key, heard_ms, frame))
    }

    /// The member is gone (`code`: 1000, or 4001 for a client too slow): the room drops
    /// its channel and presence.
    pub fn leave(self, code: u16) {
        hub_detach(&self.hub.js, &self.key);
        let _ = self.hub.socket.send_with_str(Up::Gone { key: &self.key, code }.encode());
        close_if_empty(&self.hub);
    }
}
