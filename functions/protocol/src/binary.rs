//! vsn 2.0.0 binary broadcast frames.
//!
//! realtime-js sends every `broadcast` push whose `payload.event` is a string as a kind 3
//! frame, and decodes only kind 4. Header fields are length-prefixed by one unsigned byte,
//! so each is at most 255 bytes of UTF-8; the user payload is the rest of the frame.
//!
//! ```text
//! kind 3 (client -> server): 3 | len join_ref | len ref | len topic | len event | len meta | encoding
//!                            join_ref ref topic event meta payload
//! kind 4 (server -> client): 4 | len topic | len event | len meta | encoding
//!                            topic event meta payload
//! ```

use serde_json::{Map, Value};
use thiserror::Error;

pub const KIND_CLIENT_BROADCAST: u8 = 3;
pub const KIND_SERVER_BROADCAST: u8 = 4;

/// How the user payload bytes are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PayloadEncoding {
    /// Opaque bytes (an `ArrayBuffer` on the client).
    Binary = 0,
    /// UTF-8 JSON.
    Json = 1,
}

/// A user broadcast carried in a binary frame.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryBroadcast {
    /// Absent (empty) in kind 4 frames.
    pub join_ref: Option<String>,
    pub msg_ref: Option<String>,
    pub topic: String,
    /// The user event name (`payload.event` of the JSON form).
    pub event: String,
    /// JSON object text, or empty when there is no metadata.
    pub meta: String,
    pub encoding: PayloadEncoding,
    pub payload: Vec<u8>,
}

#[derive(Debug, Error, PartialEq)]
pub enum BinaryError {
    #[error("empty binary frame")]
    Empty,
    #[error("binary frame kind {0} is not accepted from clients")]
    UnexpectedKind(u8),
    #[error("binary frame is shorter than its header says")]
    Truncated,
    #[error("unknown payload encoding {0}")]
    UnknownEncoding(u8),
    #[error("a header field is not UTF-8")]
    NotUtf8,
    #[error("field `{0}` is longer than 255 bytes")]
    FieldTooLong(&'static str),
    #[error("metadata is not a JSON object")]
    BadMeta,
    #[error("JSON payload is not valid JSON")]
    BadJsonPayload,
}

/// Reads the topic of a kind 3 frame without decoding the rest: the Worker routes binary
/// frames by topic and otherwise forwards them untouched.
pub fn client_frame_topic(bytes: &[u8]) -> Result<&str, BinaryError> {
    let header = client_header(bytes)?;
    let start = 7 + header[0] + header[1];
    std::str::from_utf8(&bytes[start..start + header[2]]).map_err(|_| BinaryError::NotUtf8)
}

/// Checks kind and lengths of a kind 3 frame and returns the five field lengths.
fn client_header(bytes: &[u8]) -> Result<[usize; 5], BinaryError> {
    let kind = *bytes.first().ok_or(BinaryError::Empty)?;
    if kind != KIND_CLIENT_BROADCAST {
        return Err(BinaryError::UnexpectedKind(kind));
    }
    if bytes.len() < 7 {
        return Err(BinaryError::Truncated);
    }
    let lens = [bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]].map(usize::from);
    if 7 + lens.iter().sum::<usize>() > bytes.len() {
        return Err(BinaryError::Truncated);
    }
    Ok(lens)
}

impl BinaryBroadcast {
    /// Decodes a kind 3 frame from a client.
    pub fn decode_client(bytes: &[u8]) -> Result<BinaryBroadcast, BinaryError> {
        let lens = client_header(bytes)?;
        let encoding = match bytes[6] {
            0 => PayloadEncoding::Binary,
            1 => PayloadEncoding::Json,
            other => return Err(BinaryError::UnknownEncoding(other)),
        };
        let mut offset = 7;
        let mut fields: [&str; 5] = [""; 5];
        for (field, len) in fields.iter_mut().zip(lens) {
            *field = std::str::from_utf8(&bytes[offset..offset + len]).map_err(|_| BinaryError::NotUtf8)?;
            offset += len;
        }
        let [join_ref, msg_ref, topic, event, meta] = fields;
        if !meta.is_empty() && !matches!(serde_json::from_str::<Value>(meta), Ok(Value::Object(_))) {
            return Err(BinaryError::BadMeta);
        }
        let payload = bytes[offset..].to_vec();
        if encoding == PayloadEncoding::Json && serde_json::from_slice::<Value>(&payload).is_err() {
            return Err(BinaryError::BadJsonPayload);
        }
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Ok(BinaryBroadcast {
            join_ref: non_empty(join_ref),
            msg_ref: non_empty(msg_ref),
            topic: topic.to_string(),
            event: event.to_string(),
            meta: meta.to_string(),
            encoding,
            payload,
        })
    }

    /// Encodes the kind 4 frame fanned out to vsn 2 clients.
    pub fn encode_server(&self) -> Result<Vec<u8>, BinaryError> {
        let topic = short_field(&self.topic, "topic")?;
        let event = short_field(&self.event, "event")?;
        let meta = short_field(&self.meta, "meta")?;
        let mut out =
            Vec::with_capacity(5 + self.topic.len() + self.event.len() + self.meta.len() + self.payload.len());
        out.extend_from_slice(&[KIND_SERVER_BROADCAST, topic, event, meta, self.encoding as u8]);
        out.extend_from_slice(self.topic.as_bytes());
        out.extend_from_slice(self.event.as_bytes());
        out.extend_from_slice(self.meta.as_bytes());
        out.extend_from_slice(&self.payload);
        Ok(out)
    }

    /// Encodes a kind 3 frame, as a client sends it. Used by tests and the Rust client.
    pub fn encode_client(&self) -> Result<Vec<u8>, BinaryError> {
        let join_ref = self.join_ref.as_deref().unwrap_or("");
        let msg_ref = self.msg_ref.as_deref().unwrap_or("");
        let lens = [
            short_field(join_ref, "join_ref")?,
            short_field(msg_ref, "ref")?,
            short_field(&self.topic, "topic")?,
            short_field(&self.event, "event")?,
            short_field(&self.meta, "meta")?,
        ];
        let mut out = vec![KIND_CLIENT_BROADCAST];
        out.extend_from_slice(&lens);
        out.push(self.encoding as u8);
        for field in [join_ref, msg_ref, &self.topic, &self.event, &self.meta] {
            out.extend_from_slice(field.as_bytes());
        }
        out.extend_from_slice(&self.payload);
        Ok(out)
    }

    /// The JSON form of this broadcast's payload, as vsn 1 clients (and JSON vsn 2 frames)
    /// carry it: `{"type":"broadcast","event":..,"payload":..[,"meta":..]}`. Binary user
    /// payloads have no JSON form; `None` tells the caller to skip JSON-only recipients.
    pub fn json_payload(&self) -> Option<Map<String, Value>> {
        let payload = match self.encoding {
            PayloadEncoding::Json => serde_json::from_slice::<Value>(&self.payload).ok()?,
            PayloadEncoding::Binary => return None,
        };
        let mut map = Map::new();
        map.insert("type".into(), Value::String("broadcast".into()));
        map.insert("event".into(), Value::String(self.event.clone()));
        map.insert("payload".into(), payload);
        if let Ok(meta @ Value::Object(_)) = serde_json::from_str::<Value>(&self.meta) {
            map.insert("meta".into(), meta);
        }
        Some(map)
    }
}

fn short_field(value: &str, name: &'static str) -> Result<u8, BinaryError> {
    u8::try_from(value.len()).map_err(|_| BinaryError::FieldTooLong(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> BinaryBroadcast {
        BinaryBroadcast {
            join_ref: Some("1".into()),
            msg_ref: Some("5".into()),
            topic: "realtime:plants".into(),
            event: "water".into(),
            meta: String::new(),
            encoding: PayloadEncoding::Json,
            payload: br#"{"ml":250}"#.to_vec(),
        }
    }

    #[test]
    fn a_kind_3_frame_matches_the_realtime_js_layout_byte_for_byte() {
        let bytes = sample().encode_client().unwrap();
        let mut expected = vec![3u8, 1, 1, 15, 5, 0, 1];
        expected.extend_from_slice(b"15realtime:plantswater{\"ml\":250}");
        assert_eq!(bytes, expected);
        assert_eq!(BinaryBroadcast::decode_client(&bytes).unwrap(), sample());
        assert_eq!(client_frame_topic(&bytes).unwrap(), "realtime:plants");
    }

    #[test]
    fn a_kind_4_frame_carries_topic_event_meta_and_payload() {
        let mut b = sample();
        b.meta = r#"{"persist":true}"#.into();
        let bytes = b.encode_server().unwrap();
        let mut expected = vec![4u8, 15, 5, 16, 1];
        expected.extend_from_slice(b"realtime:plantswater{\"persist\":true}{\"ml\":250}");
        assert_eq!(bytes, expected);
    }

    #[test]
    fn multibyte_fields_are_measured_in_bytes() {
        let mut b = sample();
        b.topic = "realtime:sémillon🌱".into();
        let bytes = b.encode_client().unwrap();
        assert_eq!(usize::from(bytes[3]), b.topic.len());
        assert_eq!(BinaryBroadcast::decode_client(&bytes).unwrap().topic, b.topic);
    }

    #[test]
    fn json_payload_is_the_shape_vsn_1_clients_expect() {
        let mut b = sample();
        b.meta = r#"{"persist":true}"#.into();
        assert_eq!(
            Value::Object(b.json_payload().unwrap()),
            json!({"type":"broadcast","event":"water","payload":{"ml":250},"meta":{"persist":true}})
        );
        b.encoding = PayloadEncoding::Binary;
        assert_eq!(b.json_payload(), None);
    }

    #[test]
    fn malformed_binary_frames_are_refused() {
        let good = sample().encode_client().unwrap();
        assert_eq!(BinaryBroadcast::decode_client(&[]), Err(BinaryError::Empty));
        assert_eq!(BinaryBroadcast::decode_client(&[4, 0, 0, 0, 0]), Err(BinaryError::UnexpectedKind(4)));
        assert_eq!(BinaryBroadcast::decode_client(&[3, 0, 0]), Err(BinaryError::Truncated));
        assert_eq!(BinaryBroadcast::decode_client(&good[..12]), Err(BinaryError::Truncated));
        let mut bad_encoding = good.clone();
        bad_encoding[6] = 9;
        assert_eq!(BinaryBroadcast::decode_client(&bad_encoding), Err(BinaryError::UnknownEncoding(9)));
        let mut bad_utf8 = good.clone();
        bad_utf8[9] = 0xff;
        assert_eq!(BinaryBroadcast::decode_client(&bad_utf8), Err(BinaryError::NotUtf8));
        let mut bad_json = good.clone();
        bad_json.truncate(bad_json.len() - 1);
        assert_eq!(BinaryBroadcast::decode_client(&bad_json), Err(BinaryError::BadJsonPayload));
        let mut b = sample();
        b.meta = "[1]".into();
        let bad_meta = b.encode_client().unwrap();
        assert_eq!(BinaryBroadcast::decode_client(&bad_meta), Err(BinaryError::BadMeta));
        b.topic = "x".repeat(256);
        assert_eq!(b.encode_client(), Err(BinaryError::FieldTooLong("topic")));
    }

    mod roundtrip {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn kind_3_encode_then_decode_is_identity(
                join_ref in proptest::option::of("[0-9]{1,5}"),
                msg_ref in proptest::option::of("[0-9]{1,5}"),
                topic in ".{0,40}",
                event in ".{0,20}",
                payload in prop::collection::vec(any::<u8>(), 0..300),
            ) {
                let b = BinaryBroadcast { join_ref, msg_ref, topic, event, meta: String::new(),
                    encoding: PayloadEncoding::Binary, payload };
                prop_assert_eq!(BinaryBroadcast::decode_client(&b.encode_client().unwrap()).unwrap(), b);
            }

            #[test]
            fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
                let _ = BinaryBroadcast::decode_client(&bytes);
                let _ = client_frame_topic(&bytes);
            }
        }
    }
}
