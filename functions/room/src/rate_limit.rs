//! A token bucket with an injected clock, for every per-user and per-socket limit.

/// Holds up to `capacity` tokens and gains `capacity` tokens every `period_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    capacity: f64,
    per_ms: f64,
    tokens: f64,
    last_ms: u64,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens refilled over `period_ms`.
    pub fn new(capacity: u32, period_ms: u64, now_ms: u64) -> TokenBucket {
        let capacity = f64::from(capacity.max(1));
        TokenBucket { capacity, per_ms: capacity / period_ms.max(1) as f64, tokens: capacity, last_ms: now_ms }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now_ms: u64) -> bool {
        self.take(1, now_ms).is_ok()
    }

    /// Takes `n` tokens at once (a request that costs several, such as a batch of
    /// messages), or none; when there are not enough, how many milliseconds until there
    /// will be. More than the capacity is never granted.
    pub fn take(&mut self, n: u32, now_ms: u64) -> Result<(), u64> {
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64;
        self.tokens = (self.tokens + elapsed * self.per_ms).min(self.capacity);
        self.last_ms = self.last_ms.max(now_ms);
        let n = f64::from(n);
        if n > self.capacity {
            return Err(u64::MAX);
        }
        if self.tokens >= n {
            self.tokens -= n;
            Ok(())
        } else {
            Err(((n - self.tokens) / self.per_ms).ceil() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_allows_a_burst_of_its_capacity_then_refuses() {
        let mut b = TokenBucket::new(100, 1000, 0);
        assert_eq!((0..150).filter(|_| b.try_take(0)).count(), 100);
    }

    #[test]
    fn tokens_come_back_with_time_up_to_the_capacity() {
        let mut b = TokenBucket::new(10, 1000, 0);
        while b.try_take(0) {}
        assert!(!b.try_take(50), "half a token after 50 ms");
        assert!(b.try_take(100), "one token after 100 ms");
        assert_eq!((0..50).filter(|_| b.try_take(60_000)).count(), 10, "never more than the capacity");
    }

    #[test]
    fn several_tokens_are_taken_together_or_not_at_all_and_the_wait_is_told() {
        let mut b = TokenBucket::new(100, 1000, 0);
        assert_eq!(b.take(95, 0), Ok(()));
        assert_eq!(b.take(10, 0), Err(50), "5 left, 5 more come in 50 ms");
        assert!(b.try_take(0), "a refused batch took nothing");
        assert_eq!(b.take(10, 60), Ok(()));
        assert_eq!(b.take(101, 60_000), Err(u64::MAX), "more than the capacity, never");
    }

    #[test]
    fn a_clock_going_backwards_grants_nothing() {
        let mut b = TokenBucket::new(1, 1000, 5_000);
        assert!(b.try_take(5_000));
        assert!(!b.try_take(1_000));
        assert!(!b.try_take(5_500));
        assert!(b.try_take(6_000));
    }
}
