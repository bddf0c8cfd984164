//! Paces a room's live state (a poll's tally, an event's counts): the database signals
//! every change, the room sends the state at most once per gap, and always once after
//! the last signal, so a thousand votes in a second cost a handful of frames and the
//! final frame shows the final state.
//!
//! The host keeps one [`Pacer`], calls [`Pacer::signal`] on each signal (scheduling a
//! wake-up at the time it returns, if any), and on each wake-up calls [`Pacer::take`]:
//! when it says so, it reads the state and sends it. A signal that arrives while the
//! state is being read schedules one more frame, a gap later, since the read may have
//! missed it.

/// At most one frame per this many milliseconds: 4 frames per second.
pub const MIN_GAP_MS: u64 = 250;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pacer {
    last_sent_ms: Option<u64>,
    due_ms: Option<u64>,
}

impl Pacer {
    /// A change happened at `now_ms`: the time to wake up and send, if no wake-up was
    /// pending (one that is pending covers this change too).
    pub fn signal(&mut self, now_ms: u64) -> Option<u64> {
        if self.due_ms.is_some() {
            return None;
        }
        let due = self.last_sent_ms.map_or(now_ms, |last| now_ms.max(last + MIN_GAP_MS));
        self.due_ms = Some(due);
        Some(due)
    }

    /// The pending wake-up, if any.
    pub fn due(&self) -> Option<u64> {
        self.due_ms
    }

    /// Whether to read and send the state now; if so, the send counts from `now_ms`.
    pub fn take(&mut self, now_ms: u64) -> bool {
        match self.due_ms {
            Some(due) if due <= now_ms => {
                self.due_ms = None;
                self.last_sent_ms = Some(now_ms);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a pacer through `signals` (times in ms), waking up exactly when asked;
    /// returns the send times.
    fn run(signals: &[u64]) -> Vec<u64> {
        let mut pacer = Pacer::default();
        let mut sent = Vec::new();
        let mut wakeups: Vec<u64> = Vec::new();
        let mut i = 0;
        loop {
            let next_signal = signals.get(i).copied();
            let next_wake = wakeups.iter().copied().min();
            match (next_signal, next_wake) {
                (Some(s), Some(w)) if w < s => {
                    wakeups.retain(|x| *x != w);
                    if pacer.take(w) {
                        sent.push(w);
                    }
                }
                (Some(s), _) => {
                    wakeups.extend(pacer.signal(s));
                    i += 1;
                }
                (None, Some(w)) => {
                    wakeups.retain(|x| *x != w);
                    if pacer.take(w) {
                        sent.push(w);
                    }
                }
                (None, None) => return sent,
            }
        }
    }

    #[test]
    fn a_thousand_signals_in_a_second_cost_at_most_five_frames_the_last_after_the_last_signal() {
        let signals: Vec<u64> = (0..1000).map(|i| 10_000 + i).collect();
        let sent = run(&signals);
        assert!(sent.len() <= 5, "{sent:?}");
        assert!(sent.windows(2).all(|w| w[1] - w[0] >= MIN_GAP_MS), "{sent:?}");
        assert!(*sent.last().unwrap() >= 10_999, "the final state is sent after the last change: {sent:?}");
    }

    #[test]
    fn a_lone_signal_is_sent_at_once_and_a_quiet_pacer_sends_nothing() {
        assert_eq!(run(&[500]), vec![500]);
        assert_eq!(run(&[]), Vec::<u64>::new());
        let mut pacer = Pacer::default();
        assert!(!pacer.take(1_000), "nothing due");
    }

    #[test]
    fn a_signal_during_a_send_gets_its_own_frame_a_gap_later() {
        let mut pacer = Pacer::default();
        assert_eq!(pacer.signal(0), Some(0));
        assert!(pacer.take(0));
        // The state is being read; a vote commits and its signal arrives.
        assert_eq!(pacer.signal(20), Some(MIN_GAP_MS));
        assert!(!pacer.take(100), "not before the gap");
        assert!(pacer.take(MIN_GAP_MS));
        assert_eq!(pacer.due(), None);
    }
}
