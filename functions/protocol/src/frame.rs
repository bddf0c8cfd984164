//! Text frames: one [`Frame`] type, two framings.
//!
//! vsn 1.0.0 puts a JSON object on the wire (`{"topic","event","payload","ref","join_ref"}`),
//! vsn 2.0.0 a JSON array (`[join_ref, ref, topic, event, payload]`). Clients may send refs
//! as strings or numbers; we keep them as strings because they are only ever echoed back.

use serde_json::{Map, Value};
use thiserror::Error;

/// Which framing a socket speaks, chosen by the `vsn` query parameter at connect time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Vsn {
    #[serde(rename = "1.0.0")]
    V1,
    #[serde(rename = "2.0.0")]
    V2,
}

impl Vsn {
    /// Parses the `vsn` query parameter; a missing one means 1.0.0, as in Phoenix.
    pub fn from_query(value: Option<&str>) -> Option<Vsn> {
        match value {
            None | Some("1.0.0") => Some(Vsn::V1),
            Some("2.0.0") => Some(Vsn::V2),
            Some(_) => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Vsn::V1 => "1.0.0",
            Vsn::V2 => "2.0.0",
        }
    }
}

/// One protocol message, whichever framing carried it.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub join_ref: Option<String>,
    pub msg_ref: Option<String>,
    pub topic: String,
    pub event: String,
    /// Always a JSON object on the wire; decoding refuses anything else.
    pub payload: Map<String, Value>,
}

/// Why a text frame could not be decoded. The `Display` text is for logs only: the
/// client never sees it (an undecodable frame has no topic or ref to reply to).
#[derive(Debug, Error, PartialEq)]
pub enum DecodeError {
    #[error("frame is not valid JSON: {0}")]
    NotJson(String),
    #[error("vsn 1.0.0 frames are JSON objects")]
    NotAnObject,
    #[error("vsn 2.0.0 frames are JSON arrays of five elements")]
    NotAFiveArray,
    #[error("`{0}` must be a string")]
    NotAString(&'static str),
    #[error("`{0}` must be a string, a number or null")]
    BadRef(&'static str),
    #[error("payload must be a JSON object")]
    PayloadNotObject,
}

impl Frame {
    pub fn new(topic: impl Into<String>, event: impl Into<String>, payload: Map<String, Value>) -> Frame {
        Frame { join_ref: None, msg_ref: None, topic: topic.into(), event: event.into(), payload }
    }

    pub fn with_refs(mut self, join_ref: Option<String>, msg_ref: Option<String>) -> Frame {
        self.join_ref = join_ref;
        self.msg_ref = msg_ref;
        self
    }

    /// Decodes a text frame sent by a client speaking `vsn`.
    pub fn decode(vsn: Vsn, text: &str) -> Result<Frame, DecodeError> {
        let value: Value = serde_json::from_str(text).map_err(|e| DecodeError::NotJson(e.to_string()))?;
        match vsn {
            Vsn::V1 => Self::from_object(value),
            Vsn::V2 => Self::from_array(value),
        }
    }

    fn from_object(value: Value) -> Result<Frame, DecodeError> {
        let Value::Object(mut obj) = value else {
            return Err(DecodeError::NotAnObject);
        };
        let join_ref = parse_ref(obj.remove("join_ref").unwrap_or(Value::Null), "join_ref")?;
        let msg_ref = parse_ref(obj.remove("ref").unwrap_or(Value::Null), "ref")?;
        let topic = parse_string(obj.remove("topic"), "topic")?;
        let event = parse_string(obj.remove("event"), "event")?;
        let payload = parse_payload(obj.remove("payload"))?;
        Ok(Frame { join_ref, msg_ref, topic, event, payload })
    }

    fn from_array(value: Value) -> Result<Frame, DecodeError> {
        let Value::Array(items) = value else {
            return Err(DecodeError::NotAFiveArray);
        };
        let Ok([join_ref, msg_ref, topic, event, payload]) = <[Value; 5]>::try_from(items) else {
            return Err(DecodeError::NotAFiveArray);
        };
        Ok(Frame {
            join_ref: parse_ref(join_ref, "join_ref")?,
            msg_ref: parse_ref(msg_ref, "ref")?,
            topic: parse_string(Some(topic), "topic")?,
            event: parse_string(Some(event), "event")?,
            payload: parse_payload(Some(payload))?,
        })
    }

    /// Encodes a frame the server sends to a client speaking `vsn`.
    ///
    /// vsn 1 server frames carry no `join_ref`, as the Phoenix V1 serializer does.
    pub fn encode(&self, vsn: Vsn) -> String {
        match vsn {
            Vsn::V1 => self.to_json(&ServerV1 {
                topic: &self.topic,
                event: &self.event,
                payload: &self.payload,
                msg_ref: &self.msg_ref,
            }),
            Vsn::V2 => self.to_json(&(&self.join_ref, &self.msg_ref, &self.topic, &self.event, &self.payload)),
        }
    }

    /// Encodes the frame as a client would send it (vsn 1 keeps `join_ref`). Used by tests
    /// and by the Rust client; the server never sends this form.
    pub fn encode_as_client(&self, vsn: Vsn) -> String {
        match vsn {
            Vsn::V1 => self.to_json(&ClientV1 {
                topic: &self.topic,
                event: &self.event,
                payload: &self.payload,
                msg_ref: &self.msg_ref,
                join_ref: &self.join_ref,
            }),
            Vsn::V2 => self.encode(Vsn::V2),
        }
    }

    // Serialized by reference: a fan-out encodes every broadcast, and the payload is the
    // large part. Strings and JSON maps always serialize, so the fallback is never taken.
    fn to_json(&self, value: &impl serde::Serialize) -> String {
        serde_json::to_string(value).unwrap_or_default()
    }
}

#[derive(serde::Serialize)]
struct ServerV1<'a> {
    topic: &'a str,
    event: &'a str,
    payload: &'a Map<String, Value>,
    #[serde(rename = "ref")]
    msg_ref: &'a Option<String>,
}

#[derive(serde::Serialize)]
struct ClientV1<'a> {
    topic: &'a str,
    event: &'a str,
    payload: &'a Map<String, Value>,
    #[serde(rename = "ref")]
    msg_ref: &'a Option<String>,
    join_ref: &'a Option<String>,
}

fn parse_ref(value: Value, field: &'static str) -> Result<Option<String>, DecodeError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err(DecodeError::BadRef(field)),
    }
}

fn parse_string(value: Option<Value>, field: &'static str) -> Result<String, DecodeError> {
    match value {
        Some(Value::String(s)) => Ok(s),
        _ => Err(DecodeError::NotAString(field)),
    }
}

fn parse_payload(value: Option<Value>) -> Result<Map<String, Value>, DecodeError> {
    match value {
        Some(Value::Object(map)) => Ok(map),
        _ => Err(DecodeError::PayloadNotObject),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_are_relayed_exactly_as_sent() {
        // Found by the fuzzer: without serde_json's float_roundtrip these came back 1-2 ULPs off.
        for text in ["-9.223372036854757e+16", "9.867437071726851e-60", "3.0000000000000004e-298", "0.1"] {
            let sent = format!(r#"[null,"1","realtime:t","broadcast",{{"x":{text}}}]"#);
            let frame = Frame::decode(Vsn::V2, &sent).unwrap();
            assert_eq!(frame.encode(Vsn::V2), sent, "{text}");
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn a_v2_heartbeat_decodes_with_null_join_ref() {
        let f = Frame::decode(Vsn::V2, r#"[null,"3","phoenix","heartbeat",{}]"#).unwrap();
        assert_eq!(f.join_ref, None);
        assert_eq!(f.msg_ref.as_deref(), Some("3"));
        assert_eq!(f.topic, "phoenix");
        assert_eq!(f.event, "heartbeat");
        assert!(f.payload.is_empty());
    }

    #[test]
    fn a_v1_join_decodes_every_field() {
        let text = r#"{"topic":"realtime:room","event":"phx_join","payload":{"config":{}},"ref":"1","join_ref":"1"}"#;
        let f = Frame::decode(Vsn::V1, text).unwrap();
        assert_eq!(f.join_ref.as_deref(), Some("1"));
        assert_eq!(f.msg_ref.as_deref(), Some("1"));
        assert_eq!(f.topic, "realtime:room");
        assert_eq!(f.payload.get("config"), Some(&json!({})));
    }

    #[test]
    fn numeric_refs_are_kept_as_decimal_strings() {
        let f = Frame::decode(Vsn::V2, r#"[7,8,"t","e",{}]"#).unwrap();
        assert_eq!((f.join_ref.as_deref(), f.msg_ref.as_deref()), (Some("7"), Some("8")));
    }

    #[test]
    fn v1_frames_without_refs_decode_with_none() {
        let f = Frame::decode(Vsn::V1, r#"{"topic":"t","event":"e","payload":{}}"#).unwrap();
        assert_eq!((f.join_ref, f.msg_ref), (None, None));
    }

    #[test]
    fn malformed_frames_are_refused_with_the_reason() {
        let cases: &[(Vsn, &str, DecodeError)] = &[
            (Vsn::V2, "[1,2,", DecodeError::NotJson(String::new())),
            (Vsn::V2, "", DecodeError::NotJson(String::new())),
            (Vsn::V2, r#"{"topic":"t"}"#, DecodeError::NotAFiveArray),
            (Vsn::V2, r#"[null,null,"t","e"]"#, DecodeError::NotAFiveArray),
            (Vsn::V2, r#"[null,null,"t","e",{},6]"#, DecodeError::NotAFiveArray),
            (Vsn::V2, r#"[null,null,5,"e",{}]"#, DecodeError::NotAString("topic")),
            (Vsn::V2, r#"[null,null,"t",null,{}]"#, DecodeError::NotAString("event")),
            (Vsn::V2, r#"[null,null,"t","e",[]]"#, DecodeError::PayloadNotObject),
            (Vsn::V2, r#"[null,null,"t","e","x"]"#, DecodeError::PayloadNotObject),
            (Vsn::V2, r#"[{},null,"t","e",{}]"#, DecodeError::BadRef("join_ref")),
            (Vsn::V2, r#"[null,true,"t","e",{}]"#, DecodeError::BadRef("ref")),
            (Vsn::V1, r#"[null,null,"t","e",{}]"#, DecodeError::NotAnObject),
            (Vsn::V1, r#"{"event":"e","payload":{}}"#, DecodeError::NotAString("topic")),
            (Vsn::V1, r#"{"topic":"t","payload":{}}"#, DecodeError::NotAString("event")),
            (Vsn::V1, r#"{"topic":"t","event":"e"}"#, DecodeError::PayloadNotObject),
            (Vsn::V1, "42", DecodeError::NotAnObject),
        ];
        for (vsn, text, expected) in cases {
            let got = Frame::decode(*vsn, text).unwrap_err();
            match (expected, &got) {
                (DecodeError::NotJson(_), DecodeError::NotJson(_)) => {}
                _ => assert_eq!(&got, expected, "input {text:?}"),
            }
        }
    }

    #[test]
    fn server_frames_encode_per_framing() {
        let f = Frame::new("realtime:a", "phx_reply", obj(json!({"status":"ok","response":{}})))
            .with_refs(Some("1".into()), Some("2".into()));
        let v2: Value = serde_json::from_str(&f.encode(Vsn::V2)).unwrap();
        assert_eq!(v2, json!(["1", "2", "realtime:a", "phx_reply", {"status":"ok","response":{}}]));
        let v1: Value = serde_json::from_str(&f.encode(Vsn::V1)).unwrap();
        assert_eq!(
            v1,
            json!({"topic":"realtime:a","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"2"})
        );
    }

    #[test]
    fn vsn_query_values() {
        assert_eq!(Vsn::from_query(None), Some(Vsn::V1));
        assert_eq!(Vsn::from_query(Some("1.0.0")), Some(Vsn::V1));
        assert_eq!(Vsn::from_query(Some("2.0.0")), Some(Vsn::V2));
        assert_eq!(Vsn::from_query(Some("3.0.0")), None);
    }

    mod roundtrip {
        use super::*;
        use proptest::prelude::*;

        fn json_leaf() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(|n| json!(n)),
                ".{0,12}".prop_map(Value::String),
            ]
        }

        fn payload() -> impl Strategy<Value = Map<String, Value>> {
            let value = json_leaf().prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::btree_map(".{0,6}", inner, 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            });
            prop::collection::btree_map(".{0,8}", value, 0..5).prop_map(|m| m.into_iter().collect())
        }

        fn frame() -> impl Strategy<Value = Frame> {
            (proptest::option::of("[0-9]{1,4}"), proptest::option::of("[0-9]{1,4}"), ".{0,20}", ".{0,12}", payload())
                .prop_map(|(join_ref, msg_ref, topic, event, payload)| Frame {
                    join_ref,
                    msg_ref,
                    topic,
                    event,
                    payload,
                })
        }

        proptest! {
            #[test]
            fn v2_encode_then_decode_is_identity(f in frame()) {
                prop_assert_eq!(Frame::decode(Vsn::V2, &f.encode(Vsn::V2)).unwrap(), f);
            }

            #[test]
            fn v1_client_encode_then_decode_is_identity(f in frame()) {
                prop_assert_eq!(Frame::decode(Vsn::V1, &f.encode_as_client(Vsn::V1)).unwrap(), f);
            }

            #[test]
            fn decoding_arbitrary_text_never_panics(s in ".{0,64}") {
                let _ = Frame::decode(Vsn::V1, &s);
                let _ = Frame::decode(Vsn::V2, &s);
            }
        }
    }
}
