use std::time::Duration;

/// When a failed delivery is tried again: exponential backoff from `base`, doubled per attempt
/// and capped at `cap`; after `max_attempts` attempts the notification is `failed` and waits for
/// staff (`POST /admin/notifications/{id}/retry`). No jitter: the delay is a pure function of the
/// attempt, and concurrent failures are spread anyway by when each notification was created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
    /// Attempts in all, the first one included (at least 1).
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 30 s, 1 min, 2 min … capped at one hour, eight attempts (about three hours).
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(30),
            cap: Duration::from_secs(3600),
            max_attempts: 8,
        }
    }
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    RetryIn(Duration),
    GiveUp,
}

impl RetryPolicy {
    /// The decision after attempt number `attempts` (1 for the first) failed.
    pub fn after_failure(&self, attempts: u32) -> AfterFailure {
        if attempts >= self.max_attempts.max(1) {
            return AfterFailure::GiveUp;
        }
        let doublings = attempts.saturating_sub(1).min(32);
        let delay = self
            .base
            .checked_mul(1u32 << doublings.min(31))
            .unwrap_or(self.cap)
            .min(self.cap);
        AfterFailure::RetryIn(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(policy: RetryPolicy, attempts: u32, expected: AfterFailure) {
        assert_eq!(
            policy.after_failure(attempts),
            expected,
            "after attempt {attempts}"
        );
    }

    #[test]
    fn the_delay_doubles_up_to_the_cap_then_the_notification_fails() {
        let p = RetryPolicy {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(60),
            max_attempts: 6,
        };
        check(p, 1, AfterFailure::RetryIn(Duration::from_secs(10)));
        check(p, 2, AfterFailure::RetryIn(Duration::from_secs(20)));
        check(p, 3, AfterFailure::RetryIn(Duration::from_secs(40)));
        check(p, 4, AfterFailure::RetryIn(Duration::from_secs(60)));
        check(p, 5, AfterFailure::RetryIn(Duration::from_secs(60)));
        check(p, 6, AfterFailure::GiveUp);
        check(p, 60, AfterFailure::GiveUp);
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let p = RetryPolicy {
            base: Duration::from_secs(u64::MAX / 2),
            cap: Duration::from_secs(7),
            max_attempts: u32::MAX,
        };
        check(p, 40, AfterFailure::RetryIn(Duration::from_secs(7)));
    }

    #[test]
    fn one_attempt_means_no_retry() {
        let p = RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        };
        check(p, 1, AfterFailure::GiveUp);
    }
}
