//! A message fanned out to every member of a room.
//!
//! The room encodes it at most once per framing (vsn 1 JSON, vsn 2 JSON array, vsn 2
//! binary) rather than once per recipient, and the Worker forwards those bytes as they are.

use realtime_protocol::{reply, BinaryBroadcast, Frame, Vsn};
use serde_json::{Map, Value};

/// Bytes ready for one socket.
#[derive(Debug, Clone, PartialEq)]
pub enum Wire {
    Text(String),
    Binary(Vec<u8>),
}

/// A broadcast to fan out.
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    topic: String,
    /// `{"type":"broadcast","event":..,"payload":..}`; None for a binary user payload,
    /// which has no JSON form and so cannot reach vsn 1 sockets.
    json: Option<Map<String, Value>>,
    /// Set when the broadcast arrived as a binary frame: vsn 2 sockets get it as kind 4.
    binary: Option<BinaryBroadcast>,
}

/// The encodings of one [`Outbound`], computed once per fan-out.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    v1: Option<Wire>,
    v2: Option<Wire>,
}

impl Encoded {
    /// The text encodings of a frame every member receives alike (e.g. `presence_diff`).
    pub fn text(frame: &Frame) -> Encoded {
        Encoded { v1: Some(Wire::Text(frame.encode(Vsn::V1))), v2: Some(Wire::Text(frame.encode(Vsn::V2))) }
    }

    /// What a socket speaking `vsn` receives, if anything.
    pub fn for_vsn(&self, vsn: Vsn) -> Option<&Wire> {
        match vsn {
            Vsn::V1 => self.v1.as_ref(),
            Vsn::V2 => self.v2.as_ref(),
        }
    }
}

impl Outbound {
    pub fn from_json(topic: &str, payload: Map<String, Value>) -> Outbound {
        Outbound { topic: topic.to_string(), json: Some(payload), binary: None }
    }

    pub fn from_binary(topic: &str, mut broadcast: BinaryBroadcast) -> Outbound {
        broadcast.topic = topic.to_string();
        broadcast.join_ref = None;
        broadcast.msg_ref = None;
        Outbound { topic: topic.to_string(), json: broadcast.json_payload(), binary: Some(broadcast) }
    }

    /// Size of the user-visible payload in bytes, for limits and counters.
    pub fn payload_len(&self) -> usize {
        match (&self.binary, &self.json) {
            (Some(b), _) => b.payload.len(),
            (None, Some(j)) => serde_json::to_vec(j).map_or(0, |bytes| bytes.len()),
            (None, None) => 0,
        }
    }

    pub fn encode(&self) -> Encoded {
        let json_frame = self.json.as_ref().map(|j| reply::broadcast(&self.topic, j.clone()));
        let v1 = json_frame.as_ref().map(|f| Wire::Text(f.encode(Vsn::V1)));
        // A binary frame whose fields do not fit the one-byte lengths falls back to JSON.
        let v2 = match self.binary.as_ref().and_then(|b| b.encode_server().ok()) {
            Some(bytes) => Some(Wire::Binary(bytes)),
            None => json_frame.as_ref().map(|f: &Frame| Wire::Text(f.encode(Vsn::V2))),
        };
        Encoded { v1, v2 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use realtime_protocol::PayloadEncoding;
    use serde_json::json;

    fn binary(encoding: PayloadEncoding, payload: &[u8]) -> BinaryBroadcast {
        BinaryBroadcast {
            join_ref: Some("1".into()),
            msg_ref: Some("2".into()),
            topic: "realtime:x".into(),
            event: "ping".into(),
            meta: String::new(),
            encoding,
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn a_binary_json_broadcast_reaches_v2_as_kind_4_and_v1_as_json() {
        let e = Outbound::from_binary("realtime:x", binary(PayloadEncoding::Json, br#"{"n":1}"#)).encode();
        let Some(Wire::Binary(b)) = e.for_vsn(Vsn::V2) else { panic!("v2 gets binary") };
        let mut expected = vec![4u8, 10, 4, 0, 1];
        expected.extend_from_slice(br#"realtime:xping{"n":1}"#);
        assert_eq!(b, &expected, "refs are not carried in kind 4");
        let Some(Wire::Text(t)) = e.for_vsn(Vsn::V1) else { panic!("v1 gets text") };
        let v: Value = serde_json::from_str(t).unwrap();
        assert_eq!(
            v,
            json!({"topic":"realtime:x","event":"broadcast","ref":null,
                   "payload":{"type":"broadcast","event":"ping","payload":{"n":1}}})
        );
    }

    #[test]
    fn a_binary_payload_cannot_reach_v1() {
        let e = Outbound::from_binary("realtime:x", binary(PayloadEncoding::Binary, &[0, 159, 146])).encode();
        assert_eq!(e.for_vsn(Vsn::V1), None);
        assert!(matches!(e.for_vsn(Vsn::V2), Some(Wire::Binary(_))));
    }

    #[test]
    fn a_json_broadcast_reaches_v2_as_a_json_array() {
        let payload = json!({"type":"broadcast","event":"ping","payload":{"n":1}});
        let e = Outbound::from_json("realtime:x", payload.as_object().unwrap().clone()).encode();
        let Some(Wire::Text(t)) = e.for_vsn(Vsn::V2) else { panic!("v2 gets text") };
        let v: Value = serde_json::from_str(t).unwrap();
        assert_eq!(v, json!([null, null, "realtime:x", "broadcast", payload]));
    }
}
