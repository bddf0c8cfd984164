//! The room's answer to one inbound frame from one member.
//!
//! Pure: it reads and updates the sender's [`Member`] and returns [`Effect`]s; the host
//! (the Durable Object) sends the replies, fans out, and stores the updated member.

use crate::{Channel, JoinConfig, Member, Outbound};
use realtime_protocol::{event, reason, reply, BinaryBroadcast, Frame};
use serde_json::{json, Value};

/// A frame as it came off the socket.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Text(Frame),
    /// A kind 3 binary broadcast.
    Binary(BinaryBroadcast),
}

/// What the host must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send this frame to the sender alone.
    Reply(Frame),
    /// Send to every joined member; the sender too only when `include_sender`.
    Fanout { message: Outbound, include_sender: bool },
    /// Close the sender's upstream socket (after a leave: the channel is over).
    CloseSender,
}

/// Handles one inbound frame from `member` on the room's `topic`.
pub fn handle(member: &mut Member, topic: &str, inbound: Inbound) -> Vec<Effect> {
    match inbound {
        Inbound::Binary(b) => match &member.channel {
            Some(channel) => {
                let ack = b.msg_ref.is_some() && channel.config.broadcast_ack;
                let frame_for_reply = Frame::new(topic, event::BROADCAST, Default::default())
                    .with_refs(b.join_ref.clone(), b.msg_ref.clone());
                let mut effects = vec![Effect::Fanout {
                    include_sender: channel.config.broadcast_self,
                    message: Outbound::from_binary(topic, b),
                }];
                if ack {
                    effects.push(Effect::Reply(reply::ok(&frame_for_reply, json!({}))));
                }
                effects
            }
            None => {
                let frame = Frame::new(topic, event::BROADCAST, Default::default()).with_refs(b.join_ref, b.msg_ref);
                vec![Effect::Reply(reply::error(&frame, reason::UNMATCHED_TOPIC))]
            }
        },
        Inbound::Text(frame) => handle_text(member, topic, frame),
    }
}

fn handle_text(member: &mut Member, topic: &str, frame: Frame) -> Vec<Effect> {
    if frame.event == event::JOIN {
        return join(member, topic, frame);
    }
    let Some(channel) = member.channel.clone() else {
        return vec![Effect::Reply(reply::error(&frame, reason::UNMATCHED_TOPIC))];
    };
    match frame.event.as_str() {
        event::BROADCAST => {
            let mut effects = vec![Effect::Fanout {
                message: Outbound::from_json(topic, frame.payload.clone()),
                include_sender: channel.config.broadcast_self,
            }];
            if channel.config.broadcast_ack {
                effects.push(Effect::Reply(reply::ok(&frame, json!({}))));
            }
            effects
        }
        event::LEAVE => {
            member.channel = None;
            vec![
                Effect::Reply(reply::ok(&frame, json!({}))),
                Effect::Reply(reply::close(topic, channel.join_ref.as_deref())),
                Effect::CloseSender,
            ]
        }
        // Token refresh is re-verified once private channels exist; today every
        // channel is public, so a new token changes nothing here.
        event::ACCESS_TOKEN => vec![],
        event::PRESENCE => vec![Effect::Reply(reply::error(
            &frame,
            "NotImplemented: presence is not available yet on this server",
        ))],
        other => vec![Effect::Reply(reply::error(&frame, &format!("UnknownEvent: {other}")))],
    }
}

fn join(member: &mut Member, topic: &str, frame: Frame) -> Vec<Effect> {
    let mut effects = Vec::new();
    // A second join on a joined topic replaces the channel: close the old one first,
    // as Phoenix does, so the client sees the old join_ref end.
    if let Some(old) = member.channel.take() {
        effects.push(Effect::Reply(reply::close(topic, old.join_ref.as_deref())));
    }
    let config = JoinConfig::from_join_payload(&frame.payload);
    // Bindings are echoed with ids once postgres_changes is served; until then the
    // reply carries none, which the client accepts only when it asked for none.
    let requested = frame.payload.get("config").and_then(|c| c.get("postgres_changes"));
    if let Some(Value::Array(bindings)) = requested {
        if !bindings.is_empty() {
            effects.push(Effect::Reply(reply::error(
                &frame,
                "NotImplemented: postgres_changes is not available yet on this server",
            )));
            return effects;
        }
    }
    member.channel = Some(Channel { join_ref: frame.join_ref.clone(), config });
    effects.push(Effect::Reply(reply::ok(&frame, json!({"postgres_changes": []}))));
    effects
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::Wire;
    use realtime_protocol::{PayloadEncoding, Vsn};
    use serde_json::Map;

    const TOPIC: &str = "realtime:garden";

    fn member() -> Member {
        Member::new("c1", Some("u1".into()), "authenticated", Vsn::V2)
    }

    fn frame(event: &str, payload: Value, join_ref: &str, msg_ref: &str) -> Inbound {
        let Value::Object(p) = payload else { panic!("payload must be an object") };
        Inbound::Text(Frame::new(TOPIC, event, p).with_refs(Some(join_ref.into()), Some(msg_ref.into())))
    }

    fn replies(effects: &[Effect]) -> Vec<Value> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Reply(f) => Some(serde_json::from_str(&f.encode(Vsn::V2)).unwrap()),
                _ => None,
            })
            .collect()
    }

    fn joined(config: Value) -> Member {
        let mut m = member();
        handle(&mut m, TOPIC, frame("phx_join", json!({"config": config}), "1", "1"));
        m
    }

    #[test]
    fn a_join_is_answered_ok_with_no_bindings_and_remembered() {
        let mut m = member();
        let effects = handle(&mut m, TOPIC, frame("phx_join", json!({"config": {"broadcast": {"self": true}}}), "1", "1"));
        assert_eq!(
            replies(&effects),
            vec![json!(["1", "1", TOPIC, "phx_reply", {"status":"ok","response":{"postgres_changes":[]}}])]
        );
        let channel = m.channel.unwrap();
        assert_eq!(channel.join_ref.as_deref(), Some("1"));
        assert!(channel.config.broadcast_self);
    }

    #[test]
    fn a_join_asking_for_postgres_changes_is_refused_as_not_implemented() {
        let mut m = member();
        let bindings = json!({"config": {"postgres_changes": [{"event": "*", "schema": "public"}]}});
        let effects = handle(&mut m, TOPIC, frame("phx_join", bindings, "1", "1"));
        let r = replies(&effects);
        assert_eq!(r[0][4]["status"], "error");
        assert!(r[0][4]["response"]["reason"].as_str().unwrap().starts_with("NotImplemented"));
        assert!(!m.is_joined());
    }

    #[test]
    fn a_broadcast_fans_out_excluding_the_sender_by_default() {
        let mut m = joined(json!({}));
        let effects = handle(&mut m, TOPIC, frame("broadcast", json!({"type":"broadcast","event":"e","payload":{}}), "1", "2"));
        assert_eq!(effects.len(), 1, "no ack unless asked");
        assert!(matches!(&effects[0], Effect::Fanout { include_sender: false, .. }));
    }

    #[test]
    fn self_and_ack_are_honoured() {
        let mut m = joined(json!({"broadcast": {"self": true, "ack": true}}));
        let effects = handle(&mut m, TOPIC, frame("broadcast", json!({"type":"broadcast","event":"e","payload":{}}), "1", "2"));
        assert!(matches!(&effects[0], Effect::Fanout { include_sender: true, .. }));
        assert_eq!(replies(&effects), vec![json!(["1", "2", TOPIC, "phx_reply", {"status":"ok","response":{}}])]);
    }

    #[test]
    fn a_binary_broadcast_is_fanned_out_and_acked_with_its_refs() {
        let mut m = joined(json!({"broadcast": {"ack": true}}));
        let b = BinaryBroadcast {
            join_ref: Some("1".into()),
            msg_ref: Some("9".into()),
            topic: TOPIC.into(),
            event: "e".into(),
            meta: String::new(),
            encoding: PayloadEncoding::Json,
            payload: b"{}".to_vec(),
        };
        let effects = handle(&mut m, TOPIC, Inbound::Binary(b));
        let Effect::Fanout { message, .. } = &effects[0] else { panic!("fan-out first") };
        assert!(matches!(message.encode().for_vsn(Vsn::V2), Some(Wire::Binary(_))));
        assert_eq!(replies(&effects), vec![json!(["1", "9", TOPIC, "phx_reply", {"status":"ok","response":{}}])]);
    }

    #[test]
    fn frames_before_a_join_get_unmatched_topic() {
        let mut m = member();
        let effects = handle(&mut m, TOPIC, frame("broadcast", json!({}), "1", "2"));
        assert_eq!(replies(&effects)[0][4], json!({"status":"error","response":{"reason":"unmatched topic"}}));
    }

    #[test]
    fn a_leave_is_answered_then_closed_and_forgotten() {
        let mut m = joined(json!({}));
        let effects = handle(&mut m, TOPIC, frame("phx_leave", json!({}), "1", "3"));
        assert_eq!(
            replies(&effects),
            vec![
                json!(["1", "3", TOPIC, "phx_reply", {"status":"ok","response":{}}]),
                json!(["1", "1", TOPIC, "phx_close", {}]),
            ]
        );
        assert_eq!(effects.last(), Some(&Effect::CloseSender));
        assert!(!m.is_joined());
    }

    #[test]
    fn a_second_join_closes_the_first_channel() {
        let mut m = joined(json!({}));
        let effects = handle(&mut m, TOPIC, frame("phx_join", json!({"config": {}}), "5", "5"));
        let r = replies(&effects);
        assert_eq!(r[0], json!(["1", "1", TOPIC, "phx_close", {}]));
        assert_eq!(r[1][4]["status"], "ok");
        assert_eq!(m.channel.unwrap().join_ref.as_deref(), Some("5"));
    }

    #[test]
    fn unknown_events_get_an_error_reply_and_change_nothing() {
        let mut m = joined(json!({}));
        let before = m.clone();
        let effects = handle(&mut m, TOPIC, frame("dance", Value::Object(Map::new()), "1", "4"));
        assert_eq!(replies(&effects)[0][4]["response"]["reason"], "UnknownEvent: dance");
        assert_eq!(m, before);
    }
}
