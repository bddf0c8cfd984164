//! Global presence: whether a user has a socket connected anywhere, kept by the user's
//! Durable Object from what the gateways report about each socket.
//!
//! A user is online while at least one of their sockets holds a lease, and goes offline
//! only after [`crate::Limits::presence_grace_ms`] with none, so a quick reconnect (a
//! phone switching networks) does not flap. A socket's lease is renewed while it lives
//! ([`RENEW_EVERY_MS`]) and lapses after [`LEASE_MS`] without news, so a gateway that
//! vanishes without reporting its sockets' closes (a restart) cannot keep a user online
//! for ever. Only transitions are published (the database's `user_presence` row, which
//! broadcasts on `presence:<user_id>`), never one write per socket event.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A socket not heard from for this long counts as gone.
pub const LEASE_MS: u64 = 90_000;
/// How often a live socket renews its lease: three renewals fit in one lease.
pub const RENEW_EVERY_MS: u64 = LEASE_MS / 3;

/// What a gateway reports about one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SocketEvent {
    Opened,
    Renewed,
    Closed,
}

/// What the database should be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish {
    Online,
    /// Offline, last seen when the user's last socket went.
    Offline {
        last_seen_ms: u64,
    },
}

/// One user's sockets and what was last published about them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connectivity {
    /// Socket id → when its lease lapses.
    leases: BTreeMap<String, u64>,
    /// Sockets reported closed, → when that is forgotten. Reports travel separately and
    /// may overtake each other: an open or a renewal arriving after its socket's close
    /// must not bring the socket back.
    #[serde(default)]
    closed: BTreeMap<String, u64>,
    /// When the last socket went, while none is left (the grace period runs from here).
    gone_since: Option<u64>,
    /// What the database was last told: online or not (None: nothing yet).
    published: Option<bool>,
}

impl Connectivity {
    /// Applies a gateway's report about socket `socket`.
    pub fn apply(&mut self, socket: &str, event: SocketEvent, now_ms: u64) {
        self.closed.retain(|_, forget_at| *forget_at > now_ms);
        match event {
            SocketEvent::Opened | SocketEvent::Renewed => {
                if self.closed.contains_key(socket) {
                    return;
                }
                self.leases.insert(socket.to_string(), now_ms.saturating_add(LEASE_MS));
                self.gone_since = None;
            }
            SocketEvent::Closed => {
                // Kept as long as a late renewal could still arrive.
                self.closed.insert(socket.to_string(), now_ms.saturating_add(LEASE_MS));
                if self.leases.remove(socket).is_some() && self.leases.is_empty() {
                    self.gone_since = Some(now_ms);
                }
            }
        }
    }

    /// What must be published now, if anything (after lapsed leases are dropped).
    pub fn due(&mut self, now_ms: u64, grace_ms: u64) -> Option<Publish> {
        self.drop_lapsed(now_ms);
        let in_grace = self.gone_since.is_some_and(|gone| now_ms < gone.saturating_add(grace_ms));
        let online = !self.leases.is_empty() || in_grace;
        match (online, self.published) {
            (true, Some(true)) | (false, Some(false)) => None,
            (true, _) => Some(Publish::Online),
            (false, _) => Some(Publish::Offline { last_seen_ms: self.gone_since.unwrap_or(now_ms) }),
        }
    }

    /// Records that `publish` reached the database.
    pub fn published(&mut self, publish: Publish) {
        self.published = Some(publish == Publish::Online);
    }

    /// When [`Connectivity::due`] may next have something to say without a new report:
    /// the end of the grace period, or the next lease to lapse. None when all is settled.
    pub fn next_check(&self, grace_ms: u64) -> Option<u64> {
        // Once offline is published, the end of the grace period has nothing more to say.
        let grace_ends =
            self.gone_since.filter(|_| self.published != Some(false)).map(|gone| gone.saturating_add(grace_ms));
        let lapse = self.leases.values().min().copied();
        [grace_ends, lapse].into_iter().flatten().min()
    }

    /// Whether any socket holds a lease.
    pub fn connected(&self) -> bool {
        !self.leases.is_empty()
    }

    fn drop_lapsed(&mut self, now_ms: u64) {
        let before = self.leases.len();
        let last_lapse = self.leases.values().filter(|at| **at <= now_ms).max().copied();
        self.leases.retain(|_, at| *at > now_ms);
        if before > 0 && self.leases.is_empty() && self.gone_since.is_none() {
            // Nobody reported the close: the socket went some time before its lease lapsed.
            self.gone_since = last_lapse;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: u64 = 30_000;

    /// Settles `c` at `now` as the user's object does: publishes what is due.
    fn settle(c: &mut Connectivity, now: u64) -> Option<Publish> {
        let due = c.due(now, GRACE);
        if let Some(p) = due {
            c.published(p);
        }
        due
    }

    #[test]
    fn the_first_socket_publishes_online_and_more_sockets_publish_nothing() {
        let mut c = Connectivity::default();
        c.apply("a", SocketEvent::Opened, 1_000);
        assert_eq!(settle(&mut c, 1_000), Some(Publish::Online));
        c.apply("b", SocketEvent::Opened, 2_000);
        assert_eq!(settle(&mut c, 2_000), None);
        c.apply("a", SocketEvent::Closed, 3_000);
        assert_eq!(settle(&mut c, 3_000), None, "another socket is still open");
        assert_eq!(c.next_check(GRACE), Some(2_000 + LEASE_MS), "only b's lease is left to watch");
    }

    #[test]
    fn the_last_close_publishes_offline_only_after_the_grace_period() {
        let mut c = Connectivity::default();
        c.apply("a", SocketEvent::Opened, 0);
        settle(&mut c, 0);
        c.apply("a", SocketEvent::Closed, 10_000);
        assert_eq!(settle(&mut c, 10_000), None);
        assert_eq!(c.next_check(GRACE), Some(10_000 + GRACE));
        assert_eq!(settle(&mut c, 10_000 + GRACE - 1), None);
        assert_eq!(settle(&mut c, 10_000 + GRACE), Some(Publish::Offline { last_seen_ms: 10_000 }));
        assert_eq!(settle(&mut c, 10_000 + GRACE + 1), None, "published once");
    }

    #[test]
    fn a_quick_reconnect_publishes_nothing() {
        let mut c = Connectivity::default();
        c.apply("a", SocketEvent::Opened, 0);
        settle(&mut c, 0);
        c.apply("a", SocketEvent::Closed, 5_000);
        c.apply("a2", SocketEvent::Opened, 7_000);
        for now in [5_000, 7_000, 5_000 + GRACE, 60_000] {
            assert_eq!(settle(&mut c, now), None, "at {now}");
        }
    }

    #[test]
    fn a_lease_nobody_renews_lapses_and_the_user_goes_offline_after_the_grace() {
        let mut c = Connectivity::default();
        c.apply("a", SocketEvent::Opened, 0);
        settle(&mut c, 0);
        c.apply("a", SocketEvent::Renewed, RENEW_EVERY_MS);
        let lapse = RENEW_EVERY_MS + LEASE_MS;
        assert_eq!(settle(&mut c, lapse - 1), None, "renewed in time");
        assert_eq!(c.next_check(GRACE), Some(lapse));
        assert_eq!(settle(&mut c, lapse), None, "the grace period starts when the lease lapses");
        assert_eq!(settle(&mut c, lapse + GRACE), Some(Publish::Offline { last_seen_ms: lapse }));
        assert_eq!(c.next_check(GRACE), None, "settled: nothing left to watch");
    }

    #[test]
    fn a_report_that_arrives_after_its_socket_closed_is_ignored() {
        let mut c = Connectivity::default();
        c.apply("a", SocketEvent::Opened, 0);
        settle(&mut c, 0);
        c.apply("a", SocketEvent::Closed, 1_000);
        c.apply("a", SocketEvent::Renewed, 1_001);
        assert!(!c.connected(), "a late renewal does not reopen a closed socket");
        assert_eq!(settle(&mut c, 1_000 + GRACE), Some(Publish::Offline { last_seen_ms: 1_000 }));
        let mut reordered = Connectivity::default();
        reordered.apply("b", SocketEvent::Closed, 0);
        reordered.apply("b", SocketEvent::Opened, 1);
        assert!(!reordered.connected(), "an open overtaken by its close leaves no lease behind");
    }

    #[test]
    fn a_failed_publication_is_due_again_and_a_close_of_an_unknown_socket_changes_nothing() {
        let mut c = Connectivity::default();
        c.apply("a", SocketEvent::Opened, 0);
        assert_eq!(c.due(0, GRACE), Some(Publish::Online));
        assert_eq!(c.due(100, GRACE), Some(Publish::Online), "not published yet: still due");
        c.published(Publish::Online);
        c.apply("ghost", SocketEvent::Closed, 200);
        assert!(c.connected());
        assert_eq!(c.due(200, GRACE), None);
    }
}
