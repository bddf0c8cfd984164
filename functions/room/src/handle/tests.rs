use super::*;
use crate::outbound::Wire;
use realtime_protocol::{PayloadEncoding, Vsn};

const TOPIC: &str = "realtime:garden";

#[derive(Default)]
struct FakeRoster {
    users: Vec<String>,
    presence: Vec<Tracked>,
}

impl Roster for FakeRoster {
    fn has_user(&self, user_key: &str, _except: &str) -> bool {
        self.users.iter().any(|u| u == user_key)
    }
    fn user_count(&self, _except: &str) -> usize {
        self.users.len()
    }
    fn presence(&self, _except: &str) -> Vec<Tracked> {
        self.presence.clone()
    }
}

fn identity(user: &str, exp: u64) -> Identity {
    Identity { user_id: Some(user.into()), role: "authenticated".into(), exp, claims: format!(r#"{{"sub":"{user}"}}"#) }
}

fn member() -> Member {
    Member::new("s1", "c1", identity("u1", 10_000), Vsn::V2)
}

fn admitted() -> Result<Admission, JoinError> {
    Ok(Admission::new(identity("u1", 10_000), true))
}

fn frame(event: &str, payload: Value, msg_ref: &str) -> Frame {
    let Value::Object(p) = payload else { panic!("payload must be an object") };
    Frame::new(TOPIC, event, p).with_refs(Some("1".into()), Some(msg_ref.into()))
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

fn diffs(effects: &[Effect]) -> Vec<(Vec<Tracked>, Vec<Tracked>)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::PresenceDiff { joins, leaves } => Some((joins.clone(), leaves.clone())),
            _ => None,
        })
        .collect()
}

fn with_ctx<T>(roster: &FakeRoster, limits: &Limits, now_ms: u64, f: impl FnOnce(&Ctx) -> T) -> T {
    f(&Ctx { now_ms, limits, roster })
}

fn joined(config: Value) -> Member {
    let mut m = member();
    let roster = FakeRoster::default();
    with_ctx(&roster, &Limits::default(), 0, |ctx| {
        join(&mut m, TOPIC, frame("phx_join", json!({"config": config}), "1"), admitted(), ctx)
    });
    assert!(m.is_joined());
    m
}

fn push(m: &mut Member, event: &str, payload: Value, now_ms: u64) -> Vec<Effect> {
    let roster = FakeRoster::default();
    with_ctx(&roster, &Limits::default(), now_ms, |ctx| {
        handle(m, TOPIC, Inbound::Text(frame(event, payload, "9")), ctx)
    })
}

fn track(m: &mut Member, payload: Value, now_ms: u64) -> Vec<Effect> {
    push(m, "presence", json!({"type": "presence", "event": "track", "payload": payload}), now_ms)
}

#[test]
fn a_join_is_answered_ok_with_no_bindings_and_remembered() {
    let mut m = member();
    let roster = FakeRoster::default();
    let effects = with_ctx(&roster, &Limits::default(), 0, |ctx| {
        join(&mut m, TOPIC, frame("phx_join", json!({"config": {"broadcast": {"self": true}}}), "1"), admitted(), ctx)
    });
    assert_eq!(
        replies(&effects),
        vec![json!(["1", "1", TOPIC, "phx_reply", {"status":"ok","response":{"postgres_changes":[]}}])]
    );
    let channel = m.channel.unwrap();
    assert!(channel.config.broadcast_self && channel.can_write);
    assert_eq!(channel.identity.user_id.as_deref(), Some("u1"));
}

#[test]
fn a_join_with_presence_enabled_is_followed_by_the_presence_state() {
    let mut m = member();
    let other = Tracked { key: "basil".into(), meta: presence::meta(&Map::new(), "s2.1".into(), Some("u2"), None) };
    let roster = FakeRoster { users: vec!["user:u2".into()], presence: vec![other] };
    let effects = with_ctx(&roster, &Limits::default(), 0, |ctx| {
        join(
            &mut m,
            TOPIC,
            frame("phx_join", json!({"config": {"presence": {"enabled": true, "key": "ada"}}}), "1"),
            admitted(),
            ctx,
        )
    });
    let r = replies(&effects);
    assert_eq!(r.len(), 2);
    assert_eq!(
        r[1],
        json!(["1", null, TOPIC, "presence_state", {"basil": {"metas": [{"phx_ref": "s2.1", "user_id": "u2"}]}}])
    );
}

#[test]
fn a_refused_admission_is_answered_with_its_reason_and_joins_nothing() {
    let mut m = member();
    let roster = FakeRoster::default();
    let effects = with_ctx(&roster, &Limits::default(), 0, |ctx| {
        join(&mut m, TOPIC, frame("phx_join", json!({}), "1"), Err(JoinError::Unauthorized("garden".into())), ctx)
    });
    assert_eq!(
        replies(&effects)[0][4]["response"]["reason"],
        "Unauthorized: You do not have permissions to read from this Channel topic: garden"
    );
    assert!(!m.is_joined());
    assert_eq!(effects.last(), Some(&Effect::CloseSender), "the relayed upstream is released");

    let mut direct = member();
    direct.direct = true;
    let effects = with_ctx(&roster, &Limits::default(), 0, |ctx| {
        join(&mut direct, TOPIC, frame("phx_join", json!({}), "1"), Err(JoinError::Unauthorized("garden".into())), ctx)
    });
    assert!(!effects.contains(&Effect::CloseSender), "a direct socket stays open for a retry");
}

#[test]
fn a_join_with_bindings_echoes_them_all_and_reports_the_unservable_ones_as_system_errors() {
    let mut m = member();
    let roster = FakeRoster::default();
    let requested = vec![
        json!({"event": "INSERT", "schema": "public", "table": "messages", "filter": "thread_id=eq.t1"}),
        json!({"event": "*", "schema": "public", "table": "messages", "filter": "thread_id=like.t%"}),
    ];
    let (bindings, errors) = crate::changes::Binding::parse_all(&requested);
    let mut admission = Admission::new(identity("u1", 10_000), true);
    admission.bindings = bindings;
    admission.binding_errors = errors.iter().map(|(_, e)| e.to_string()).collect();
    let payload = json!({"config": {"postgres_changes": requested}});
    let effects = with_ctx(&roster, &Limits::default(), 0, |ctx| {
        join(&mut m, TOPIC, frame("phx_join", payload, "1"), Ok(admission), ctx)
    });
    let r = replies(&effects);
    assert_eq!(r[0][4]["status"], "ok");
    assert_eq!(r[0][4]["response"]["postgres_changes"][0]["id"], 1);
    assert_eq!(r[0][4]["response"]["postgres_changes"][1]["filter"], "thread_id=like.t%", "echoed verbatim");
    assert_eq!(r[1][3], "system");
    assert_eq!(r[1][4]["extension"], "postgres_changes");
    assert_eq!(r[1][4]["status"], "error");
    assert!(r[1][4]["message"].as_str().unwrap().starts_with("Error parsing `filter` params"));
    assert_eq!(m.channel.as_ref().map(|c| c.bindings.len()), Some(2), "the channel is joined with both");
}

#[test]
fn the_users_per_channel_limit_refuses_new_users_but_not_more_devices_of_a_present_one() {
    let limits = Limits { max_users_per_channel: 2, ..Limits::default() };
    let full = FakeRoster { users: vec!["user:u1".into(), "user:u2".into()], presence: vec![] };
    let mut newcomer = Member::new("s3", "c3", identity("u3", 10_000), Vsn::V2);
    let admission = Ok(Admission::new(identity("u3", 10_000), true));
    let effects = with_ctx(&full, &limits, 0, |ctx| {
        join(&mut newcomer, TOPIC, frame("phx_join", json!({}), "1"), admission, ctx)
    });
    assert_eq!(replies(&effects)[0][4]["response"]["reason"], "ConnectionRateLimitReached: Too many connected users");
    let mut second_device = member();
    with_ctx(&full, &limits, 0, |ctx| {
        join(&mut second_device, TOPIC, frame("phx_join", json!({}), "1"), admitted(), ctx)
    });
    assert!(second_device.is_joined());
}

#[test]
fn a_broadcast_fans_out_excluding_the_sender_by_default() {
    let mut m = joined(json!({}));
    let effects = push(&mut m, "broadcast", json!({"type":"broadcast","event":"e","payload":{}}), 0);
    assert_eq!(effects.len(), 1, "no ack unless asked");
    assert!(matches!(&effects[0], Effect::Fanout { include_sender: false, .. }));
}

#[test]
fn self_and_ack_are_honoured() {
    let mut m = joined(json!({"broadcast": {"self": true, "ack": true}}));
    let effects = push(&mut m, "broadcast", json!({"type":"broadcast","event":"e","payload":{}}), 0);
    assert!(matches!(&effects[0], Effect::Fanout { include_sender: true, .. }));
    assert_eq!(replies(&effects), vec![json!(["1", "9", TOPIC, "phx_reply", {"status":"ok","response":{}}])]);
}

#[test]
fn an_oversized_broadcast_is_refused_with_payload_size_exceeded_when_acked_and_dropped_otherwise() {
    let big = json!({"type":"broadcast","event":"e","payload":{"blob": "x".repeat(3_000_001)}});
    let mut acked = joined(json!({"broadcast": {"ack": true}}));
    let effects = push(&mut acked, "broadcast", big.clone(), 0);
    assert_eq!(
        replies(&effects),
        vec![json!(["1", "9", TOPIC, "phx_reply", {"status":"error","response":"payload_size_exceeded"}])]
    );
    assert!(!effects.iter().any(|e| matches!(e, Effect::Fanout { .. })));
    let mut silent = joined(json!({}));
    assert!(push(&mut silent, "broadcast", big, 0).is_empty());
}

#[test]
fn a_channel_without_write_access_cannot_broadcast_or_track() {
    let mut m = joined(json!({"broadcast": {"ack": true}}));
    m.channel.as_mut().unwrap().can_write = false;
    let effects = push(&mut m, "broadcast", json!({"type":"broadcast","event":"e","payload":{}}), 0);
    assert_eq!(
        replies(&effects)[0][4]["response"]["reason"],
        "Unauthorized: You do not have permissions to write to this Channel topic: garden"
    );
    assert!(!effects.iter().any(|e| matches!(e, Effect::Fanout { .. })));
    let effects = track(&mut m, json!({"online": true}), 0);
    assert_eq!(replies(&effects)[0][4]["status"], "error");
    assert!(diffs(&effects).is_empty());
}

#[test]
fn a_client_cannot_send_the_server_s_events_on_a_private_channel() {
    let mut private = joined(json!({"broadcast": {"ack": true}}));
    private.channel.as_mut().unwrap().config.private = true;
    let forged = json!({"type":"broadcast","event":"poll_tally","payload":{"total_votes": 1000}});
    let effects = push(&mut private, "broadcast", forged.clone(), 0);
    assert_eq!(
        replies(&effects)[0][4]["response"]["reason"],
        "Unauthorized: the server sends poll_tally on private channels; clients may not"
    );
    assert!(!effects.iter().any(|e| matches!(e, Effect::Fanout { .. })));
    let typing = json!({"type":"broadcast","event":"typing","payload":{}});
    assert!(push(&mut private, "broadcast", typing, 0).iter().any(|e| matches!(e, Effect::Fanout { .. })));
    let mut public = joined(json!({}));
    assert!(push(&mut public, "broadcast", forged, 0).iter().any(|e| matches!(e, Effect::Fanout { .. })));
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
    let roster = FakeRoster::default();
    let effects = with_ctx(&roster, &Limits::default(), 0, |ctx| handle(&mut m, TOPIC, Inbound::Binary(b), ctx));
    let Effect::Fanout { message, .. } = &effects[0] else { panic!("fan-out first") };
    assert!(matches!(message.encode().for_vsn(Vsn::V2), Some(Wire::Binary(_))));
    assert_eq!(replies(&effects), vec![json!(["1", "9", TOPIC, "phx_reply", {"status":"ok","response":{}}])]);
}

#[test]
fn track_stamps_the_verified_user_and_a_unique_ref() {
    let mut m = joined(json!({"presence": {"key": "ada"}}));
    let effects = track(&mut m, json!({"status": "online", "user_id": "forged"}), 0);
    assert_eq!(replies(&effects)[0][4]["status"], "ok");
    let (joins, leaves) = diffs(&effects).remove(0);
    assert!(leaves.is_empty());
    assert_eq!(joins[0].key, "ada");
    assert_eq!(Value::Object(joins[0].meta.clone()), json!({"status": "online", "user_id": "u1", "phx_ref": "s1.1"}));
    assert_eq!(m.tracked(), Some(&joins[0]));
}

#[test]
fn a_retrack_is_a_leave_of_the_old_meta_and_a_join_pointing_back_at_it() {
    let mut m = joined(json!({"presence": {"key": "ada"}}));
    track(&mut m, json!({"status": "online"}), 0);
    let effects = track(&mut m, json!({"status": "away"}), 10);
    let (joins, leaves) = diffs(&effects).remove(0);
    assert_eq!(leaves[0].meta["phx_ref"], "s1.1");
    assert_eq!(joins[0].meta["phx_ref"], "s1.2");
    assert_eq!(joins[0].meta["phx_ref_prev"], "s1.1");
    assert_eq!(joins[0].meta["status"], "away");
}

#[test]
fn untrack_is_a_leave() {
    let mut m = joined(json!({}));
    track(&mut m, json!({}), 0);
    let effects = push(&mut m, "presence", json!({"type": "presence", "event": "untrack"}), 10);
    assert_eq!(diffs(&effects)[0].1.len(), 1);
    assert_eq!(m.tracked(), None);
}

#[test]
fn an_empty_presence_key_falls_back_to_the_socket() {
    let mut m = joined(json!({}));
    let effects = track(&mut m, json!({}), 0);
    assert_eq!(diffs(&effects)[0].0[0].key, "s1");
}

#[test]
fn a_track_payload_must_be_a_map() {
    let mut m = joined(json!({}));
    let effects = track(&mut m, json!("online"), 0);
    assert_eq!(replies(&effects)[0][4]["response"]["reason"], "Presence track payload must be a map");
}

#[test]
fn presence_calls_are_rate_limited_per_socket() {
    let mut m = joined(json!({}));
    for i in 0..5 {
        assert_eq!(replies(&track(&mut m, json!({"i": i}), 0))[0][4]["status"], "ok");
    }
    let effects = track(&mut m, json!({}), 0);
    let r = replies(&effects);
    assert_eq!(r[0][4]["response"]["reason"], "Client presence rate limit exceeded");
    assert_eq!(r[1][3], "system");
    assert_eq!(r[1][4]["message"], "Client presence rate limit exceeded");
    assert!(diffs(&effects).is_empty());
    assert_eq!(replies(&track(&mut m, json!({}), 6_000))[0][4]["status"], "ok", "a token back after 6 s");
}

#[test]
fn frames_before_a_join_get_unmatched_topic() {
    let mut m = member();
    let effects = push(&mut m, "broadcast", json!({}), 0);
    assert_eq!(replies(&effects)[0][4], json!({"status":"error","response":{"reason":"unmatched topic"}}));
}

#[test]
fn a_leave_drops_presence_then_answers_closes_and_releases_the_socket() {
    let mut m = joined(json!({}));
    track(&mut m, json!({}), 0);
    let effects = push(&mut m, "phx_leave", json!({}), 0);
    assert_eq!(diffs(&effects)[0].1.len(), 1);
    assert_eq!(
        replies(&effects),
        vec![
            json!(["1", "9", TOPIC, "phx_reply", {"status":"ok","response":{}}]),
            json!(["1", "1", TOPIC, "phx_close", {}])
        ]
    );
    assert_eq!(effects.last(), Some(&Effect::CloseSender));
    assert!(!m.is_joined());
}

#[test]
fn a_leave_before_any_join_still_releases_a_relayed_member_but_not_a_direct_socket() {
    let mut relayed = member();
    let effects = push(&mut relayed, "phx_leave", json!({}), 0);
    assert_eq!(replies(&effects)[0][4], json!({"status":"error","response":{"reason":"unmatched topic"}}));
    assert_eq!(effects.last(), Some(&Effect::CloseSender), "the Worker waits for the release");
    let mut direct = member();
    direct.direct = true;
    let effects = push(&mut direct, "phx_leave", json!({}), 0);
    assert!(!effects.contains(&Effect::CloseSender), "a direct socket stays open for a new join");
}

#[test]
fn a_second_join_closes_the_first_channel_and_its_presence() {
    let mut m = joined(json!({}));
    track(&mut m, json!({}), 0);
    let roster = FakeRoster::default();
    let effects = with_ctx(&roster, &Limits::default(), 0, |ctx| {
        join(
            &mut m,
            TOPIC,
            frame("phx_join", json!({"config": {}}), "5").with_refs(Some("5".into()), Some("5".into())),
            admitted(),
            ctx,
        )
    });
    assert_eq!(diffs(&effects)[0].1.len(), 1);
    let r = replies(&effects);
    assert_eq!(r[0], json!(["1", "1", TOPIC, "phx_close", {}]));
    assert_eq!(r[1][4]["status"], "ok");
    assert_eq!(m.channel.unwrap().join_ref.as_deref(), Some("5"));
}

#[test]
fn a_refresh_for_the_same_user_extends_the_channel_silently() {
    let mut m = joined(json!({}));
    let verdict = Refresh::Verified(Admission::new(identity("u1", 20_000), true));
    assert!(refresh(&mut m, TOPIC, verdict).is_empty());
    assert_eq!(m.channel.unwrap().identity.exp, 20_000);
}

#[test]
fn a_refresh_takes_the_new_write_decision_or_keeps_the_last_one_when_the_database_is_down() {
    let mut m = joined(json!({}));
    let verdict = Refresh::Verified(Admission::new(identity("u1", 20_000), false));
    assert!(refresh(&mut m, TOPIC, verdict).is_empty());
    assert!(!m.channel.as_ref().unwrap().can_write, "the policy now refuses writes");
    assert!(refresh(&mut m, TOPIC, Refresh::Unchecked(identity("u1", 30_000))).is_empty());
    let channel = m.channel.unwrap();
    assert_eq!((channel.identity.exp, channel.can_write), (30_000, false), "the last decision is kept");
}

#[test]
fn a_client_at_the_event_limit_is_never_cut_off_even_when_its_frames_arrive_in_clumps() {
    let mut m = direct_member();
    // 100 per second for twelve seconds, delivered as one clump every 1.5 s (a busy
    // server): 150 at once, more than a one-second bucket would hold.
    let mut sent = 0;
    for clump in 1..=8 {
        let at = clump * 1500;
        while sent * 10 < at {
            assert_eq!(preamble(&mut m, frame("broadcast", json!({}), "9"), at), None, "message {sent} at {at} ms");
            sent += 1;
        }
    }
    // Sustained above the limit, it is cut off within the averaging window.
    let mut over = direct_member();
    let cut = (0..400).position(|i| preamble(&mut over, frame("broadcast", json!({}), "9"), i * 5).is_some());
    assert!(cut.is_some_and(|i| i < 400), "200 per second for two seconds is cut off: {cut:?}");
}

#[test]
fn token_refreshes_over_their_budget_end_the_channel() {
    let mut m = joined(json!({}));
    let roster = FakeRoster::default();
    let limits = Limits { token_refreshes_per_minute: 3, ..Limits::default() };
    with_ctx(&roster, &limits, 0, |ctx| {
        for _ in 0..3 {
            assert_eq!(refresh_budget(&mut m, TOPIC, ctx), None);
        }
        let effects = refresh_budget(&mut m, TOPIC, ctx).unwrap();
        assert_eq!(replies(&effects)[0][4]["message"], "Too many token refreshes");
        assert_eq!(effects.last(), Some(&Effect::CloseSender));
    });
    assert!(!m.is_joined());
    with_ctx(&roster, &limits, 60_000, |ctx| {
        assert_eq!(refresh_budget(&mut m, TOPIC, ctx), None, "no channel, nothing to end")
    });
}

#[test]
fn a_refresh_that_fails_or_changes_user_closes_the_channel_with_a_system_error() {
    let intruder = Admission::new(identity("intruder", 20_000), true);
    for verdict in [
        Refresh::Refused("Token has expired 3 seconds ago".to_string()),
        Refresh::Verified(intruder),
        Refresh::Unchecked(identity("intruder", 1)),
    ] {
        let mut m = joined(json!({}));
        let effects = refresh(&mut m, TOPIC, verdict);
        let r = replies(&effects);
        assert_eq!(r[0][3], "system");
        assert_eq!(r[0][4]["status"], "error");
        assert_eq!(r[1], json!(["1", "1", TOPIC, "phx_close", {}]));
        assert_eq!(effects.last(), Some(&Effect::CloseSender));
        assert!(!m.is_joined());
    }
}

#[test]
fn a_channel_closes_when_its_token_expires_and_not_before() {
    let mut m = joined(json!({}));
    assert!(expire(&mut m, TOPIC, 9_999).is_empty());
    let effects = expire(&mut m, TOPIC, 10_004);
    assert_eq!(
        replies(&effects)[0],
        json!(["1", null, TOPIC, "system", {"extension":"system","status":"error","message":"Token has expired 4 seconds ago","channel":"garden"}])
    );
    assert!(!m.is_joined());
}

#[test]
fn a_disconnect_reports_the_presence_leave_only_when_tracked() {
    let mut quiet = joined(json!({}));
    assert!(disconnect(&mut quiet).is_empty());
    let mut tracked = joined(json!({}));
    track(&mut tracked, json!({}), 0);
    assert_eq!(diffs(&disconnect(&mut tracked))[0].1.len(), 1);
}

#[test]
fn unknown_events_get_an_error_reply_and_change_nothing() {
    let mut m = joined(json!({}));
    let before = m.clone();
    let effects = push(&mut m, "dance", json!({}), 0);
    assert_eq!(replies(&effects)[0][4]["response"]["reason"], "UnknownEvent: dance");
    assert_eq!(m, before);
}

fn direct_member() -> Member {
    let mut m = joined(json!({}));
    m.direct = true;
    m
}

fn preamble(m: &mut Member, f: Frame, now_ms: u64) -> Option<Vec<Effect>> {
    preamble_inbound(m, Inbound::Text(f), now_ms)
}

fn preamble_inbound(m: &mut Member, inbound: Inbound, now_ms: u64) -> Option<Vec<Effect>> {
    let roster = FakeRoster::default();
    with_ctx(&roster, &Limits::default(), now_ms, |ctx| direct_preamble(m, TOPIC, &inbound, ctx))
}

#[test]
fn a_direct_socket_sending_binary_broadcasts_too_fast_loses_its_channel_too() {
    let mut m = direct_member();
    let b = BinaryBroadcast {
        join_ref: Some("1".into()),
        msg_ref: None,
        topic: TOPIC.into(),
        event: "e".into(),
        meta: String::new(),
        encoding: PayloadEncoding::Binary,
        payload: vec![1, 2, 3],
    };
    for _ in 0..100 {
        assert_eq!(preamble(&mut m, frame("broadcast", json!({}), "9"), 0), None);
        assert_eq!(preamble_inbound(&mut m, Inbound::Binary(b.clone()), 0), None);
    }
    let effects = preamble_inbound(&mut m, Inbound::Binary(b.clone()), 0).unwrap();
    assert_eq!(replies(&effects)[0][4]["message"], "Too many messages per second");
    let elsewhere = BinaryBroadcast { topic: "realtime:other".into(), ..b };
    let mut fresh = direct_member();
    let r = replies(&preamble_inbound(&mut fresh, Inbound::Binary(elsewhere), 0).unwrap());
    assert_eq!(r[0][4]["response"]["reason"], "unmatched topic");
}

#[test]
fn a_direct_socket_answers_heartbeats_and_stats_and_rate_limits_its_joins_as_the_relayed_one_does() {
    let mut m = direct_member();
    let before = m.clone();
    let beat = Frame::new("phoenix", "heartbeat", Map::new()).with_refs(None, Some("5".into()));
    assert_eq!(replies(&preamble(&mut m, beat, 0).unwrap())[0][4]["status"], "ok");
    assert_eq!(m, before, "only in-memory state moved: the socket's attachment is not rewritten");
    let join = Frame::new(TOPIC, "phx_join", Map::new()).with_refs(Some("2".into()), Some("2".into()));
    let per_second = Limits::default().joins_per_second;
    for _ in 0..per_second {
        assert_eq!(preamble(&mut m, join.clone(), 0), None, "within the join rate: on to the join itself");
    }
    let refused = replies(&preamble(&mut m, join.clone(), 0).unwrap());
    assert_eq!(refused[0][4]["response"]["reason"], "ClientJoinRateLimitReached: Too many joins per second");
    assert_eq!(preamble(&mut m, join, 1_000), None, "the rate refills");
    let stats = Frame::new("phoenix", "stats", Map::new()).with_refs(None, Some("6".into()));
    let answer = replies(&preamble(&mut m, stats, 1_000).unwrap());
    assert_eq!(answer[0][4]["response"]["rate_limited_joins"], 1);
    assert_eq!(answer[0][4]["response"]["channels"], 1);
}

#[test]
fn joins_are_checked_for_topic_privacy_and_sizes_before_any_access_check() {
    let join = |topic: &str, config: Value, join_ref: &str| {
        Frame::new(topic, "phx_join", json!({"config": config}).as_object().unwrap().clone())
            .with_refs(Some(join_ref.into()), Some(join_ref.into()))
    };
    let reason = |r: Result<(Topic, JoinConfig), JoinError>| r.map(|_| ()).unwrap_err().to_string();
    assert_eq!(
        reason(check_join(&join("realtime:user:abc", json!({}), "1"))),
        "Unauthorized: Channel user:abc is private: join it with config.private = true"
    );
    assert_eq!(
        reason(check_join(&join("realtime:User:abc", json!({"private": "false"}), "1"))).split(':').next(),
        Some("Unauthorized")
    );
    assert!(check_join(&join("realtime:user:abc", json!({"private": "true"}), "1")).is_ok());
    assert!(reason(check_join(&join("realtime:a\u{0}b", json!({}), "1"))).starts_with("InvalidTopic"));
    assert!(reason(check_join(&join("realtime:a", json!({}), &"9".repeat(65)))).starts_with("InvalidJoin: join_ref"));
    let big_key = json!({"presence": {"key": "k".repeat(257)}});
    assert!(reason(check_join(&join("realtime:a", big_key, "1"))).starts_with("InvalidJoin: presence key"));

    let mut m = member();
    m.room_private = true;
    assert!(reason(check_join_in_room(&m, &join("realtime:garden", json!({}), "1")))
        .contains("opened for the private channel"));
    assert!(check_join_in_room(&m, &join("realtime:garden", json!({"private": true}), "1")).is_ok());
}

#[test]
fn a_track_payload_over_the_presence_limit_is_refused_and_not_stored() {
    let mut m = joined(json!({"presence": {"key": "k"}}));
    let roster = FakeRoster::default();
    let limits = Limits { max_presence_bytes: 100, ..Limits::default() };
    let big = json!({"type": "presence", "event": "track", "payload": {"blob": "x".repeat(200)}});
    let effects =
        with_ctx(&roster, &limits, 0, |ctx| handle(&mut m, TOPIC, Inbound::Text(frame("presence", big, "3")), ctx));
    assert_eq!(
        replies(&effects)[0][4]["response"]["reason"],
        "PresencePayloadTooLarge: Presence payload exceeds 100 bytes"
    );
    assert!(diffs(&effects).is_empty());
    assert!(m.tracked().is_none());
}

#[test]
fn a_direct_socket_gets_heartbeats_answered_and_other_topics_refused() {
    let mut m = direct_member();
    let hb = Frame::new("phoenix", "heartbeat", Map::new()).with_refs(None, Some("7".into()));
    assert_eq!(
        replies(&preamble(&mut m, hb, 0).unwrap()),
        vec![json!([null, "7", "phoenix", "phx_reply", {"status":"ok","response":{}}])]
    );
    let elsewhere = Frame::new("realtime:other", "broadcast", Map::new()).with_refs(None, Some("8".into()));
    assert_eq!(replies(&preamble(&mut m, elsewhere, 0).unwrap())[0][4]["response"]["reason"], "unmatched topic");
    assert_eq!(preamble(&mut m, frame("broadcast", json!({}), "9"), 0), None, "its own topic goes on to handle()");
}

#[test]
fn a_direct_socket_sending_too_fast_loses_its_channel() {
    let mut m = direct_member();
    // 100 per second, averaged over two seconds: a burst of 200 passes, the 201st does not.
    for _ in 0..200 {
        assert_eq!(preamble(&mut m, frame("broadcast", json!({}), "9"), 0), None);
    }
    let effects = preamble(&mut m, frame("broadcast", json!({}), "9"), 0).unwrap();
    assert_eq!(replies(&effects)[0][4]["message"], "Too many messages per second");
    assert!(!m.is_joined());
}

#[test]
fn relayed_sockets_are_left_to_the_worker() {
    let mut m = joined(json!({}));
    let hb = Frame::new("phoenix", "heartbeat", Map::new());
    assert_eq!(preamble(&mut m, hb, 0), None);
}

#[test]
fn a_backlog_taken_in_at_once_is_charged_when_the_gateway_heard_it() {
    // 10 events a second, averaged over 2 s: a bucket of 20. The publisher sent 40 events
    // at an even 10 a second (one every 100 ms, from t = 0); the room got round to them
    // all at t = 4 s, as a room does after falling behind.
    let limits = Limits { events_per_second: 10, ..Default::default() };
    let roster = FakeRoster::default();
    let event = || Inbound::Text(frame("broadcast", json!({"type": "broadcast", "event": "e", "payload": {}}), "5"));
    let mut stamped = crate::user_budget::UserBudgets::default();
    let mut publisher = joined(json!({}));
    with_ctx(&roster, &limits, 4_000, |ctx| {
        for i in 0..40u64 {
            let over = user_budget(&mut publisher, TOPIC, &event(), Some(i * 100), &mut stamped, ctx);
            assert!(over.is_none(), "event {i}, sent within the rate, is not refused for the room's delay");
        }
    });
    // Counted on arrival instead, the same backlog goes over the budget at its 21st event.
    let mut unstamped = crate::user_budget::UserBudgets::default();
    let mut other = joined(json!({}));
    with_ctx(&roster, &limits, 4_000, |ctx| {
        let passed =
            (0..40).take_while(|_| user_budget(&mut other, TOPIC, &event(), None, &mut unstamped, ctx).is_none());
        assert_eq!(passed.count(), 20);
    });
    // A stamp from the future (a gateway's clock ahead of the room's) counts as now: it
    // earns no tokens, and does not hold back the refill of frames counted later.
    let mut ahead = crate::user_budget::UserBudgets::default();
    let mut early = joined(json!({}));
    with_ctx(&roster, &limits, 0, |ctx| {
        let spent = (0..20).take_while(|_| user_budget(&mut early, TOPIC, &event(), None, &mut ahead, ctx).is_none());
        assert_eq!(spent.count(), 20);
        assert!(
            user_budget(&mut early, TOPIC, &event(), Some(60_000), &mut ahead, ctx).is_some(),
            "a stamp a minute ahead is charged now, when the budget is spent"
        );
    });
    let mut later = joined(json!({}));
    with_ctx(&roster, &limits, 1_000, |ctx| {
        // Counted up to the first refusal (which closes the channel).
        let refilled =
            (0..20).take_while(|_| user_budget(&mut later, TOPIC, &event(), None, &mut ahead, ctx).is_none());
        assert_eq!(refilled.count(), 10, "a second later, a second's worth is back");
    });
}

#[test]
fn a_user_s_two_sockets_share_the_room_s_events_budget_and_the_one_over_it_loses_its_channel() {
    let limits = Limits { events_per_second: 10, ..Default::default() };
    let roster = FakeRoster::default();
    let mut budgets = crate::user_budget::UserBudgets::default();
    let (mut phone, mut laptop) = (joined(json!({})), joined(json!({})));
    let mut other = joined(json!({}));
    other.channel.as_mut().unwrap().identity = identity("u2", 10_000);
    let event = || Inbound::Text(frame("broadcast", json!({"type": "broadcast", "event": "e", "payload": {}}), "5"));
    with_ctx(&roster, &limits, 0, |ctx| {
        for _ in 0..10 {
            assert!(user_budget(&mut phone, TOPIC, &event(), None, &mut budgets, ctx).is_none());
            assert!(user_budget(&mut laptop, TOPIC, &event(), None, &mut budgets, ctx).is_none());
        }
        let over =
            user_budget(&mut laptop, TOPIC, &event(), None, &mut budgets, ctx).expect("the 21st event of the user");
        let sent = replies(&over);
        assert_eq!(sent[0][3], "system");
        assert_eq!(sent[0][4]["message"], reason::TOO_MANY_MESSAGES);
        assert_eq!(sent[1][3], "phx_close");
        assert!(!laptop.is_joined(), "the channel that went over is closed");
        assert!(
            user_budget(&mut other, TOPIC, &event(), None, &mut budgets, ctx).is_none(),
            "another user is not affected"
        );
        let heartbeat = Inbound::Text(Frame::new("phoenix", "heartbeat", Map::new()).with_refs(None, Some("7".into())));
        assert!(user_budget(&mut phone, TOPIC, &heartbeat, None, &mut budgets, ctx).is_none(), "only events count");
    });
}
