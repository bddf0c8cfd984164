//! The events budget of each user in one room. The product spec's 100 messages per second
//! is per user: a user's sockets on one topic (several devices, per-topic and multiplexed
//! alike) share one budget here, on top of each socket's own (the session's, across the
//! topics of one connection). What holds where is tabled in the README's limits.

use crate::{Limits, TokenBucket};
use std::collections::HashMap;

/// One bucket per user key ([`crate::Identity::user_key`]), in the room's memory: after a
/// hibernation every user starts with a full budget, which is at most one extra second's
/// worth.
#[derive(Debug, Default)]
pub struct UserBudgets {
    buckets: HashMap<String, TokenBucket>,
}

impl UserBudgets {
    /// Takes one event from `user`'s budget; false when it is spent.
    pub fn take(&mut self, user: &str, limits: &Limits, now_ms: u64) -> bool {
        self.buckets.entry(user.to_string()).or_insert_with(|| limits.events_bucket(now_ms)).try_take(now_ms)
    }

    /// Forgets `user` (their last socket left the room).
    pub fn forget(&mut self, user: &str) {
        self.buckets.remove(user);
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_s_sockets_share_one_budget_and_users_do_not_share() {
        let limits = Limits { events_per_second: 10, ..Default::default() };
        let mut budgets = UserBudgets::default();
        // Two devices of one user: 20 events (10 per second, averaged over 2 s) in total.
        let taken = (0..30).filter(|_| budgets.take("user:ada", &limits, 0)).count();
        assert_eq!(taken, 20);
        assert!(budgets.take("user:basil", &limits, 0), "another user is not affected");
        budgets.forget("user:ada");
        assert!(budgets.take("user:ada", &limits, 0), "a user who left and came back starts afresh");
        assert_eq!(budgets.len(), 2);
    }
}
