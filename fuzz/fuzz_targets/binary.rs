//! Binary frames from clients: `BinaryBroadcast::decode_client` and
//! `binary::client_frame_topic` on arbitrary bytes.
//!
//! Invariants, for every frame that `decode_client` accepts:
//! - `client_frame_topic` accepts it too and reads the same topic (the Worker routes by
//!   the one and the room relays what the other decoded);
//! - `encode_server` succeeds and lays out the kind 4 frame: kind, three lengths, the
//!   encoding byte, topic, event, meta, and the payload bytes untouched;
//! - `encode_client` gives back exactly the input bytes (empty refs decode to `None`);
//! - `json_payload` has a JSON form exactly for JSON-encoded payloads.
//!
//! `client_frame_topic` may accept frames `decode_client` refuses (bad encoding byte, bad
//! meta or JSON payload, non-UTF-8 fields after the topic): it reads only the header.

#![no_main]

use libfuzzer_sys::fuzz_target;
use realtime_protocol::binary::{client_frame_topic, KIND_SERVER_BROADCAST};
use realtime_protocol::{BinaryBroadcast, PayloadEncoding};

fuzz_target!(|data: &[u8]| {
    let topic = client_frame_topic(data);
    let Ok(b) = BinaryBroadcast::decode_client(data) else {
        return;
    };
    let topic = topic.unwrap_or_else(|e| panic!("decode_client accepted what client_frame_topic refused: {e}"));
    assert_eq!(topic, b.topic, "client_frame_topic and decode_client disagree on the topic");
    assert!(b.join_ref.as_deref() != Some("") && b.msg_ref.as_deref() != Some(""), "empty ref kept as Some");

    let server = b.encode_server().unwrap_or_else(|e| panic!("encode_server refused a decoded frame: {e}"));
    let mut expected =
        vec![KIND_SERVER_BROADCAST, b.topic.len() as u8, b.event.len() as u8, b.meta.len() as u8, b.encoding as u8];
    for field in [&b.topic, &b.event, &b.meta] {
        expected.extend_from_slice(field.as_bytes());
    }
    expected.extend_from_slice(&b.payload);
    assert_eq!(server, expected, "kind 4 layout");
    assert!(data.ends_with(&b.payload), "payload is not the tail of the frame");

    let client = b.encode_client().unwrap_or_else(|e| panic!("encode_client refused a decoded frame: {e}"));
    assert_eq!(client, data, "kind 3 re-encoding differs from the input");

    assert_eq!(b.json_payload().is_some(), b.encoding == PayloadEncoding::Json, "json_payload");
});
