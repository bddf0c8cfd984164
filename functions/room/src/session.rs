//! One client socket's own rules, apart from any channel: the frame size cap, the idle
//! timeout, heartbeats and `stats` on the `phoenix` topic, the join rate and the events
//! rate (text and binary pushes alike), with the counters `stats` answers. Platform-free
//! and driven by the caller's clock, so the rules are tested natively. The multiplexed
//! socket's gateway hosts one per connection; the per-topic socket's room holds one per
//! member for its heartbeats, `stats`, join and events rates (in memory: after a
//! hibernation it starts afresh), and checks its frame cap (and counts its frames) before
//! decoding, through [`Session::frame_in`] as the gateway does. Its idle
//! timeout is kept by the room from the member's coarse last-heard time
//! ([`crate::Member::is_idle`]), which survives hibernation.

use crate::{Limits, TokenBucket};
use realtime_protocol::{event, reply, CloseCode, Frame, JoinError};
use serde_json::{json, Value};

/// Why a session ends: the close code and reason the client gets.
pub type Ending = (CloseCode, String);

/// This socket's own health, answered to `[null, ref, "phoenix", "stats", {}]`.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct Counters {
    pub frames_in: u64,
    pub dropped_frames: u64,
    pub rate_limited_events: u64,
    pub rate_limited_joins: u64,
    pub channels_closed_for_rate: u64,
}

/// One socket's session state.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    max_frame_bytes: usize,
    idle_timeout_ms: u64,
    last_seen_ms: u64,
    /// Events per second for this socket's user, shared by all its channels.
    events: TokenBucket,
    /// Joins per second on this socket.
    joins: TokenBucket,
    pub counters: Counters,
}

impl Session {
    pub fn new(limits: &Limits, now_ms: u64) -> Session {
        Session {
            max_frame_bytes: limits.max_frame_bytes,
            idle_timeout_ms: limits.idle_timeout_ms,
            last_seen_ms: now_ms,
            events: limits.events_bucket(now_ms),
            joins: TokenBucket::new(limits.joins_per_second, 1000, now_ms),
            counters: Counters::default(),
        }
    }

    /// A frame of `len` bytes arrived: the client is alive; a frame over the size limit
    /// ends the session (1009), saying which limit.
    pub fn frame_in(&mut self, len: usize, now_ms: u64) -> Result<(), Ending> {
        self.last_seen_ms = now_ms;
        self.counters.frames_in += 1;
        if len > self.max_frame_bytes {
            self.counters.dropped_frames += 1;
            return Err((
                CloseCode::TooBig,
                format!("frame of {len} bytes is over the {} byte limit", self.max_frame_bytes),
            ));
        }
        Ok(())
    }

    /// Any other sign of life from the client (a control frame).
    pub fn seen(&mut self, now_ms: u64) {
        self.last_seen_ms = now_ms;
    }

    /// A frame that could not be used (undecodable, or binary on a vsn 1 socket).
    pub fn dropped(&mut self) {
        self.counters.dropped_frames += 1;
    }

    /// Whether the client has been silent past the idle timeout (a client heartbeats
    /// every 25 s; a Supabase client reconnects and rejoins after the close).
    pub fn is_idle(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.last_seen_ms) > self.idle_timeout_ms
    }

    /// How often to look for idleness.
    pub fn idle_check_every_ms(&self) -> u64 {
        (self.idle_timeout_ms / 4).max(250)
    }

    /// The answer to a frame on the `phoenix` topic: a heartbeat reply, or this socket's
    /// counters with its `channels`; None for anything else there.
    pub fn phoenix(&self, frame: &Frame, channels: usize) -> Option<Frame> {
        match frame.event.as_str() {
            event::HEARTBEAT => Some(reply::ok(frame, json!({}))),
            "stats" => {
                let mut stats = serde_json::to_value(&self.counters).unwrap_or(Value::Null);
                stats["channels"] = channels.into();
                Some(reply::ok(frame, stats))
            }
            _ => None,
        }
    }

    /// A join within the join rate, or `ClientJoinRateLimitReached`.
    pub fn admit_join(&mut self, now_ms: u64) -> Result<(), JoinError> {
        if self.joins.try_take(now_ms) {
            return Ok(());
        }
        self.counters.rate_limited_joins += 1;
        Err(JoinError::TooManyJoins)
    }

    /// Whether a broadcast or presence push fits the events rate; if not, the caller
    /// closes that channel (and calls [`Session::closed_for_rate`]).
    pub fn take_event(&mut self, now_ms: u64) -> bool {
        let ok = self.events.try_take(now_ms);
        if !ok {
            self.counters.rate_limited_events += 1;
        }
        ok
    }

    pub fn closed_for_rate(&mut self) {
        self.counters.channels_closed_for_rate += 1;
    }
}

/// The pushes that count against the events-per-second limit.
pub fn counts_as_event(event: &str) -> bool {
    matches!(event, event::BROADCAST | event::PRESENCE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use realtime_protocol::Vsn;

    fn limits() -> Limits {
        Limits {
            max_frame_bytes: 100,
            idle_timeout_ms: 1_000,
            joins_per_second: 2,
            events_per_second: 3,
            ..Limits::default()
        }
    }

    fn frame(topic: &str, event: &str) -> Frame {
        Frame::new(topic, event, Default::default()).with_refs(None, Some("7".into()))
    }

    #[test]
    fn frames_keep_the_session_alive_until_the_idle_timeout_and_oversized_ones_end_it() {
        let mut s = Session::new(&limits(), 0);
        assert!(!s.is_idle(1_000) && s.is_idle(1_001));
        assert_eq!(s.frame_in(100, 900), Ok(()));
        assert!(!s.is_idle(1_900), "the last frame counts");
        s.seen(1_500);
        assert!(!s.is_idle(2_400));
        let (code, reason) = s.frame_in(101, 1_600).unwrap_err();
        assert_eq!(code, CloseCode::TooBig);
        assert_eq!(reason, "frame of 101 bytes is over the 100 byte limit");
        assert_eq!((s.counters.frames_in, s.counters.dropped_frames), (2, 1));
        assert_eq!(s.idle_check_every_ms(), 250);
    }

    #[test]
    fn heartbeats_and_stats_are_answered_on_the_phoenix_topic() {
        let mut s = Session::new(&limits(), 0);
        s.dropped();
        let beat = s.phoenix(&frame("phoenix", "heartbeat"), 0).expect("a heartbeat reply");
        assert_eq!(beat.encode(Vsn::V2), r#"[null,"7","phoenix","phx_reply",{"response":{},"status":"ok"}]"#);
        let stats = s.phoenix(&frame("phoenix", "stats"), 3).expect("a stats reply");
        assert_eq!(stats.payload["response"]["channels"], 3);
        assert_eq!(stats.payload["response"]["dropped_frames"], 1);
        assert!(s.phoenix(&frame("phoenix", "anything"), 0).is_none());
    }

    #[test]
    fn joins_and_events_are_rate_limited_and_counted() {
        let mut s = Session::new(&limits(), 0);
        assert!(s.admit_join(0).is_ok() && s.admit_join(0).is_ok());
        assert_eq!(s.admit_join(0), Err(JoinError::TooManyJoins));
        assert!(s.admit_join(1_000).is_ok(), "the bucket refills");
        // Three per second, averaged over EVENT_AVERAGING_SECONDS.
        let allowed = (0..10).filter(|_| s.take_event(0)).count();
        assert_eq!(allowed as u32, 3 * crate::limits::EVENT_AVERAGING_SECONDS);
        s.closed_for_rate();
        assert_eq!(s.counters.rate_limited_joins, 1);
        assert_eq!(s.counters.rate_limited_events, 10 - allowed as u64);
        assert_eq!(s.counters.channels_closed_for_rate, 1);
        assert!(counts_as_event("broadcast") && counts_as_event("presence") && !counts_as_event("phx_join"));
    }
}
