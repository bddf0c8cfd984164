//! The `Room` Durable Object: one per topic, named by the topic.
//!
//! Each upstream socket from a Worker (one client connection's view of this topic) is
//! accepted with the Hibernation API, and what the room must remember about it (the
//! [`room::Member`]) lives in the socket's attachment, so a room that hibernates or is
//! evicted wakes up knowing every joined socket. The rules are in the `room` crate; this
//! file decodes, calls [`room::handle`], and carries out the effects.

use edge_auth::Claims;
use realtime_protocol::{BinaryBroadcast, CloseCode, Frame, Vsn};
use room::{Effect, Inbound, Member, Outbound, Wire};
use serde::{Deserialize, Serialize};
use worker::{
    durable_object, DurableObject, Env, Headers, Request, RequestInit, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

/// The internal URL the Worker uses to reach a room; never exposed to clients.
const UPSTREAM_URL: &str = "https://room.internal/socket";

/// What a socket's attachment holds.
#[derive(Debug, Serialize, Deserialize)]
struct Attachment {
    topic: String,
    member: Member,
}

/// Opens an upstream WebSocket from the Worker to the room of `topic`. The caller has
/// verified the token; the room trusts these fields because only the Worker can reach it.
pub async fn open_upstream(env: &Env, topic: &str, conn_id: &str, claims: &Claims, vsn: Vsn) -> Result<WebSocket> {
    let stub = env.durable_object("ROOMS")?.get_by_name(topic)?;
    let mut url = url::Url::parse(UPSTREAM_URL)?;
    url.query_pairs_mut()
        .append_pair("topic", topic)
        .append_pair("conn", conn_id)
        .append_pair("role", &claims.role)
        .append_pair("vsn", vsn.as_str());
    if let Some(sub) = &claims.sub {
        url.query_pairs_mut().append_pair("user", sub);
    }
    let headers = Headers::new();
    headers.set("upgrade", "websocket")?;
    let mut init = RequestInit::new();
    init.with_headers(headers);
    let request = Request::new_with_init(url.as_str(), &init)?;
    let response = stub.fetch_with_request(request).await?;
    response
        .websocket()
        .ok_or_else(|| worker::Error::RustError(format!("room {topic} did not upgrade")))
}

#[durable_object]
pub struct Room {
    state: State,
}

impl DurableObject for Room {
    fn new(state: State, _env: Env) -> Self {
        Room { state }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let url = req.url()?;
        let query = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        let (Some(topic), Some(conn), Some(role), Some(vsn)) =
            (query("topic"), query("conn"), query("role"), Vsn::from_query(query("vsn").as_deref()))
        else {
            return Response::error("bad upstream request", 400);
        };
        let pair = WebSocketPair::new()?;
        self.state.accept_web_socket(&pair.server);
        let attachment = Attachment { topic, member: Member::new(conn, query("user"), role, vsn) };
        pair.server.serialize_attachment(&attachment)?;
        Response::from_websocket(pair.client)
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
        let Some(mut attachment) = ws.deserialize_attachment::<Attachment>()? else {
            let _ = ws.close(Some(CloseCode::InternalError.code()), Some("socket has no room state"));
            return Ok(());
        };
        let inbound = match message {
            WebSocketIncomingMessage::String(text) => match Frame::decode(attachment.member.vsn, &text) {
                Ok(frame) => Inbound::Text(frame),
                Err(e) => {
                    worker::console_warn!("room {}: dropped undecodable frame: {e}", attachment.topic);
                    return Ok(());
                }
            },
            WebSocketIncomingMessage::Binary(bytes) => match BinaryBroadcast::decode_client(&bytes) {
                Ok(b) => Inbound::Binary(b),
                Err(e) => {
                    worker::console_warn!("room {}: dropped malformed binary frame: {e}", attachment.topic);
                    return Ok(());
                }
            },
        };
        let before = attachment.member.clone();
        let effects = room::handle(&mut attachment.member, &attachment.topic, inbound);
        if attachment.member != before {
            ws.serialize_attachment(&attachment)?;
        }
        for effect in effects {
            match effect {
                Effect::Reply(frame) => send(&ws, &Wire::Text(frame.encode(attachment.member.vsn))),
                Effect::Fanout { message, include_sender } => {
                    self.fan_out(&message, &attachment.member.conn_id, include_sender)
                }
                Effect::CloseSender => {
                    let _ = ws.close(Some(CloseCode::Normal.code()), Some("left"));
                }
            }
        }
        Ok(())
    }

    async fn websocket_close(&self, ws: WebSocket, _code: usize, _reason: String, _was_clean: bool) -> Result<()> {
        // Complete the closing handshake; the socket may already be gone.
        let _ = ws.close(Some(CloseCode::Normal.code()), Some("closed"));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, error: worker::Error) -> Result<()> {
        worker::console_warn!("room socket error: {error}");
        let _ = ws.close(Some(CloseCode::InternalError.code()), Some("error"));
        Ok(())
    }

    async fn alarm(&self) -> Result<Response> {
        // The room sets no alarms yet; answering keeps a stray one from panicking.
        Response::ok("")
    }
}

impl Room {
    /// Sends `message` to every joined socket. A failed send never stops the loop: dead
    /// sockets are collected and closed after it.
    fn fan_out(&self, message: &Outbound, sender_conn: &str, include_sender: bool) {
        let encoded = message.encode();
        let mut dead = Vec::new();
        for peer in self.state.get_websockets() {
            let Ok(Some(attachment)) = peer.deserialize_attachment::<Attachment>() else {
                continue;
            };
            let member = &attachment.member;
            if !member.is_joined() || (!include_sender && member.conn_id == sender_conn) {
                continue;
            }
            let Some(wire) = encoded.for_vsn(member.vsn) else { continue };
            if !try_send(&peer, wire) {
                dead.push(peer);
            }
        }
        for peer in dead {
            let _ = peer.close(Some(CloseCode::InternalError.code()), Some("send failed"));
        }
    }
}

fn try_send(ws: &WebSocket, wire: &Wire) -> bool {
    let result = match wire {
        Wire::Text(text) => ws.send_with_str(text),
        Wire::Binary(bytes) => ws.send_with_bytes(bytes),
    };
    result.is_ok()
}

fn send(ws: &WebSocket, wire: &Wire) {
    if !try_send(ws, wire) {
        worker::console_warn!("room: reply could not be sent");
    }
}
