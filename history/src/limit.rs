//! How often each user may ask: a token bucket per user, [`PER_SECOND`] requests a second with bursts of as
//! many. The buckets of users who have not asked for a while are full, and a full bucket is the same as none:
//! those are forgotten, so the table holds only the users of about the last second.

use std::collections::HashMap;

use mqtt::Millis;

/// Requests a second per user, and the largest burst.
pub const PER_SECOND: u64 = 10;
/// Tokens are counted in thousandths, so that refilling by the millisecond loses nothing.
const SCALE: u64 = 1000;
const FULL: u64 = PER_SECOND * SCALE;
/// At most this many users are tracked at once; past it, the full buckets are forgotten, and if that is not
/// enough, anyone new is refused until some fill up again.
const MAX_USERS: usize = 100_000;

#[derive(Debug, Default)]
pub struct Limiter {
    buckets: HashMap<String, Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: u64,
    at: Millis,
}

impl Bucket {
    fn level(self, now: Millis) -> u64 {
        let refill = now.saturating_sub(self.at).saturating_mul(PER_SECOND);
        self.tokens.saturating_add(refill).min(FULL)
    }
}

impl Limiter {
    /// May `user` ask now? Takes one token if so.
    pub fn allow(&mut self, user: &str, now: Millis) -> bool {
        if !self.buckets.contains_key(user) && self.buckets.len() >= MAX_USERS {
            self.buckets.retain(|_, b| b.level(now) < FULL);
            if self.buckets.len() >= MAX_USERS {
                return false;
            }
        }
        let bucket = self.buckets.entry(user.to_owned()).or_insert(Bucket {
            tokens: FULL,
            at: now,
        });
        let level = bucket.level(now);
        let allowed = level >= SCALE;
        *bucket = Bucket {
            tokens: if allowed { level - SCALE } else { level },
            at: now,
        };
        allowed
    }

    /// Forgets the buckets that are full again (call now and then).
    pub fn forget_idle(&mut self, now: Millis) {
        self.buckets.retain(|_, b| b.level(now) < FULL);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_a_second_are_allowed_and_the_eleventh_is_not() {
        let mut limiter = Limiter::default();
        for _ in 0..10 {
            assert!(limiter.allow("bob", 0));
        }
        assert!(!limiter.allow("bob", 0));
        assert!(!limiter.allow("bob", 50));
        assert!(
            limiter.allow("ann", 50),
            "each user has a bucket of their own"
        );
        // One token back per 100 ms.
        assert!(limiter.allow("bob", 100));
        assert!(!limiter.allow("bob", 150));
        assert!(limiter.allow("bob", 200));
    }

    #[test]
    fn a_steady_ten_a_second_is_always_allowed() {
        let mut limiter = Limiter::default();
        for i in 0..1000 {
            assert!(limiter.allow("bob", i * 100), "request {i}");
        }
    }

    #[test]
    fn idle_users_are_forgotten() {
        let mut limiter = Limiter::default();
        limiter.allow("bob", 0);
        limiter.allow("ann", 950);
        limiter.forget_idle(1_000);
        assert_eq!(limiter.len(), 1);
        limiter.forget_idle(2_000);
        assert_eq!(limiter.len(), 0);
    }

    #[test]
    fn the_table_never_grows_past_its_bound() {
        let mut limiter = Limiter::default();
        for i in 0..MAX_USERS {
            assert!(limiter.allow(&format!("u{i}"), 0));
        }
        assert!(!limiter.allow("late", 0), "everyone is still refilling");
        assert!(limiter.allow("late", 100), "the full ones are forgotten");
        assert_eq!(limiter.len(), 1);
    }
}
