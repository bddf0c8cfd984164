//! Sending a JavaScript value as it is.
//!
//! `WebSocket::send_with_str` copies its `&str` out of wasm memory into a new JS string on
//! every call: a fan-out to 200 sockets would build 200 copies of one frame, and the
//! relay would copy every frame in and out of wasm. Here a frame becomes a JS value once
//! and that one value is handed to every socket.

use realtime_protocol::Vsn;
use room::{Encoded, Wire};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

#[wasm_bindgen]
extern "C" {
    /// The platform WebSocket, seen through a `send` that takes any JS value.
    #[wasm_bindgen(js_name = WebSocket)]
    type RawSocket;

    #[wasm_bindgen(method, catch, js_name = send)]
    fn send_value(this: &RawSocket, data: &JsValue) -> Result<(), JsValue>;

    /// Bytes sent but not yet handed to the network: grows while the client does not read.
    #[wasm_bindgen(method, getter, js_name = bufferedAmount)]
    fn buffered_amount(this: &RawSocket) -> f64;
}

/// What became of a bounded send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Yes,
    /// Not sent: the socket already holds more than the bound (its client stopped reading).
    Backlogged,
    /// The socket refused it (closed or broken).
    Failed,
}

/// Sends `data` (a string, ArrayBuffer or typed array) unless `ws` already holds more
/// than `max_buffered` unsent bytes.
pub fn send_bounded(ws: &worker::WebSocket, data: &JsValue, max_buffered: usize) -> Sent {
    let socket: &web_sys::WebSocket = ws.as_ref();
    let raw = socket.unchecked_ref::<RawSocket>();
    if raw.buffered_amount() > max_buffered as f64 {
        return Sent::Backlogged;
    }
    match raw.send_value(data) {
        Ok(()) => Sent::Yes,
        Err(_) => Sent::Failed,
    }
}

/// The JS value of a wire frame.
pub fn to_js(wire: &Wire) -> JsValue {
    match wire {
        Wire::Text(text) => JsValue::from_str(text),
        Wire::Binary(bytes) => js_sys::Uint8Array::from(bytes.as_slice()).into(),
    }
}

/// An [`Encoded`] message as JS values, built once per fan-out.
pub struct JsEncoded {
    v1: Option<JsValue>,
    v2: Option<JsValue>,
}

impl JsEncoded {
    pub fn new(encoded: &Encoded) -> JsEncoded {
        JsEncoded { v1: encoded.for_vsn(Vsn::V1).map(to_js), v2: encoded.for_vsn(Vsn::V2).map(to_js) }
    }

    pub fn for_vsn(&self, vsn: Vsn) -> Option<&JsValue> {
        match vsn {
            Vsn::V1 => self.v1.as_ref(),
            Vsn::V2 => self.v2.as_ref(),
        }
    }
}
