//! Frames the server originates. Each builder returns a [`Frame`]; the caller encodes it
//! for the recipient's framing.

use crate::{event, Frame};
use serde_json::{json, Map, Value};

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// `phx_reply` with status ok, answering the frame `to`.
pub fn ok(to: &Frame, response: Value) -> Frame {
    Frame::new(to.topic.clone(), event::REPLY, object(json!({"status": "ok", "response": response})))
        .with_refs(to.join_ref.clone(), to.msg_ref.clone())
}

/// `phx_reply` with status error and `{"reason": ..}`, answering the frame `to`.
pub fn error(to: &Frame, reason: &str) -> Frame {
    Frame::new(to.topic.clone(), event::REPLY, object(json!({"status": "error", "response": {"reason": reason}})))
        .with_refs(to.join_ref.clone(), to.msg_ref.clone())
}

/// `phx_close` ending the channel joined with `join_ref` (the client does not rejoin).
pub fn close(topic: &str, join_ref: Option<&str>) -> Frame {
    let join_ref = join_ref.map(str::to_string);
    Frame::new(topic, event::CLOSE, Map::new()).with_refs(join_ref.clone(), join_ref)
}

/// `phx_error` for the channel joined with `join_ref` (the client rejoins with backoff).
pub fn channel_error(topic: &str, join_ref: Option<&str>) -> Frame {
    let join_ref = join_ref.map(str::to_string);
    Frame::new(topic, event::ERROR, Map::new()).with_refs(join_ref.clone(), join_ref)
}

/// `phx_reply` with status error and a bare string `response` (the shape Supabase uses
/// for `payload_size_exceeded`).
pub fn error_bare(to: &Frame, response: &str) -> Frame {
    Frame::new(to.topic.clone(), event::REPLY, object(json!({"status": "error", "response": response})))
        .with_refs(to.join_ref.clone(), to.msg_ref.clone())
}

/// A `system` message about the channel `topic` (`status` is "ok" or "error").
pub fn system(topic: &str, join_ref: Option<&str>, status: &str, message: &str) -> Frame {
    extension_status(topic, join_ref, "system", status, message)
}

/// A `system` message from one extension of the channel (`system`, `postgres_changes`).
pub fn extension_status(topic: &str, join_ref: Option<&str>, extension: &str, status: &str, message: &str) -> Frame {
    let channel = topic.strip_prefix(crate::TOPIC_PREFIX).unwrap_or(topic);
    Frame::new(
        topic,
        event::SYSTEM,
        object(json!({"extension": extension, "status": status, "message": message, "channel": channel})),
    )
    .with_refs(join_ref.map(str::to_string), None)
}

/// A server push on a joined channel: `[join_ref, null, topic, event, payload]`.
pub fn push(topic: &str, join_ref: Option<&str>, event: &str, payload: Map<String, Value>) -> Frame {
    Frame::new(topic, event, payload).with_refs(join_ref.map(str::to_string), None)
}

/// A fanned-out JSON broadcast: `[null, null, topic, "broadcast", payload]`.
pub fn broadcast(topic: &str, payload: Map<String, Value>) -> Frame {
    Frame::new(topic, event::BROADCAST, payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Vsn;

    #[test]
    fn replies_echo_the_refs_of_the_frame_they_answer() {
        let join = Frame::new("realtime:a", "phx_join", Map::new()).with_refs(Some("4".into()), Some("4".into()));
        let reply: Value = serde_json::from_str(&ok(&join, json!({"postgres_changes": []})).encode(Vsn::V2)).unwrap();
        assert_eq!(
            reply,
            json!(["4", "4", "realtime:a", "phx_reply", {"status":"ok","response":{"postgres_changes":[]}}])
        );
        let err: Value = serde_json::from_str(&error(&join, "unmatched topic").encode(Vsn::V2)).unwrap();
        assert_eq!(err[4], json!({"status":"error","response":{"reason":"unmatched topic"}}));
    }

    #[test]
    fn system_messages_name_the_channel_without_the_prefix() {
        let f: Value = serde_json::from_str(
            &system("realtime:room", Some("3"), "error", "Token has expired 5 seconds ago").encode(Vsn::V2),
        )
        .unwrap();
        assert_eq!(
            f,
            json!(["3", null, "realtime:room", "system",
                   {"extension": "system", "status": "error", "message": "Token has expired 5 seconds ago", "channel": "room"}])
        );
    }

    #[test]
    fn close_uses_the_join_ref_twice() {
        let f: Value = serde_json::from_str(&close("realtime:a", Some("4")).encode(Vsn::V2)).unwrap();
        assert_eq!(f, json!(["4", "4", "realtime:a", "phx_close", {}]));
    }
}
