//! Text frames from clients: `Frame::decode` for vsn 1.0.0 and 2.0.0 on arbitrary UTF-8.
//!
//! Invariants, for every frame that decodes:
//! - no text decodes under both framings (one is a JSON object, the other an array);
//! - `encode` and `encode_as_client` never fall back to the empty string, in either vsn;
//! - a client-encoded frame decodes back to the same frame, in either vsn;
//! - vsn 2 server and client encodings are the same text;
//! - a vsn 1 server frame decodes back to the same frame without its `join_ref`.
//!
//! "The same" is exact, floats included: the workspace builds serde_json with
//! `float_roundtrip`, because rooms decode and re-encode what they relay, and without it
//! a third of random decimals came out one or two ULPs off (found by this target).

#![no_main]

use libfuzzer_sys::{fuzz_target, Corpus};
use realtime_protocol::{Frame, Vsn};

fuzz_target!(|data: &[u8]| -> Corpus {
    let Ok(text) = std::str::from_utf8(data) else {
        return Corpus::Reject;
    };
    let v1 = Frame::decode(Vsn::V1, text);
    let v2 = Frame::decode(Vsn::V2, text);
    assert!(v1.is_err() || v2.is_err(), "decoded under both framings: {text:?}");
    for frame in [v1, v2].into_iter().flatten() {
        check_encodings(&frame);
    }
    Corpus::Keep
});

fn check_encodings(frame: &Frame) {
    for vsn in [Vsn::V1, Vsn::V2] {
        let client = frame.encode_as_client(vsn);
        assert!(!client.is_empty(), "encode_as_client({vsn:?}) failed for {frame:?}");
        let back = Frame::decode(vsn, &client)
            .unwrap_or_else(|e| panic!("client {vsn:?} text {client:?} does not decode: {e}"));
        assert_same(&back, frame, &client);
    }

    let server_v2 = frame.encode(Vsn::V2);
    assert_eq!(server_v2, frame.encode_as_client(Vsn::V2), "vsn 2 server and client encodings differ");

    let server_v1 = frame.encode(Vsn::V1);
    assert!(!server_v1.is_empty(), "encode(V1) failed for {frame:?}");
    let back = Frame::decode(Vsn::V1, &server_v1)
        .unwrap_or_else(|e| panic!("server V1 text {server_v1:?} does not decode: {e}"));
    assert_same(&back, &frame.clone().with_refs(None, frame.msg_ref.clone()), &server_v1);
}

fn assert_same(got: &Frame, want: &Frame, text: &str) {
    assert!(got == want, "round trip changed the frame\n  text: {text:?}\n  want: {want:?}\n   got: {got:?}");
}
