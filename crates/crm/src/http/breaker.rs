//! A circuit breaker: after `threshold` failed attempts in a row the CRM is left alone for a
//! cool-down, and calls fail at once instead of each waiting out a timeout. After the
//! cool-down one trial call goes through: success closes the circuit, failure reopens it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// The cool-down is over and one trial call is in flight since then. A trial whose
    /// caller gave up (its future was dropped) never reports back, so after another
    /// cool-down the next call becomes the trial.
    Trial {
        since: Instant,
    },
}

impl Breaker {
    /// `threshold` 0 turns the breaker off.
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold,
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether an attempt may go out now.
    pub(crate) fn allow(&self) -> bool {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> bool {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => true,
            State::Open { until } if now >= until => {
                *state = State::Trial { since: now };
                true
            }
            State::Trial { since } if now >= since.checked_add(self.cooldown).unwrap_or(now) => {
                *state = State::Trial { since: now };
                true
            }
            State::Open { .. } | State::Trial { .. } => false,
        }
    }

    /// The CRM answered (any answer that isn't a server failure).
    pub(crate) fn success(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    /// A timeout, connection error, 429 or 5xx. Returns whether the circuit is now open.
    pub(crate) fn failure(&self) -> bool {
        self.failure_at(Instant::now())
    }

    fn failure_at(&self, now: Instant) -> bool {
        if self.threshold == 0 {
            return false;
        }
        let mut state = self.lock();
        let failures = match *state {
            State::Closed { failures } => failures + 1,
            State::Trial { .. } | State::Open { .. } => self.threshold,
        };
        *state = if failures >= self.threshold {
            State::Open {
                until: now.checked_add(self.cooldown).unwrap_or(now),
            }
        } else {
            State::Closed { failures }
        };
        matches!(*state, State::Open { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_recovers_after_a_good_trial() {
        let b = Breaker::new(3, Duration::from_secs(30));
        let t0 = Instant::now();
        assert!(!b.failure_at(t0) && !b.failure_at(t0));
        b.success();
        assert!(
            !b.failure_at(t0) && !b.failure_at(t0),
            "success resets the count"
        );
        assert!(b.failure_at(t0), "third in a row opens");
        assert!(!b.allow_at(t0 + Duration::from_secs(29)));
        assert!(
            b.allow_at(t0 + Duration::from_secs(30)),
            "one trial after the cool-down"
        );
        assert!(!b.allow_at(t0 + Duration::from_secs(30)), "only one");
        b.success();
        assert!(b.allow_at(t0 + Duration::from_secs(31)));
    }

    #[test]
    fn a_failed_trial_reopens_at_once() {
        let b = Breaker::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        b.failure_at(t0);
        b.failure_at(t0);
        let t1 = t0 + Duration::from_secs(10);
        assert!(b.allow_at(t1));
        assert!(b.failure_at(t1), "a failed trial opens again");
        assert!(!b.allow_at(t1 + Duration::from_secs(9)));
        assert!(b.allow_at(t1 + Duration::from_secs(10)));
    }

    #[test]
    fn an_abandoned_trial_does_not_keep_the_circuit_shut() {
        let b = Breaker::new(1, Duration::from_secs(10));
        let t0 = Instant::now();
        b.failure_at(t0);
        let t1 = t0 + Duration::from_secs(10);
        assert!(b.allow_at(t1), "the trial; its caller then drops it");
        assert!(!b.allow_at(t1 + Duration::from_secs(9)));
        assert!(b.allow_at(t1 + Duration::from_secs(10)), "a new trial");
    }

    #[test]
    fn threshold_zero_never_opens() {
        let b = Breaker::new(0, Duration::from_secs(10));
        for _ in 0..100 {
            assert!(!b.failure());
        }
        assert!(b.allow());
    }
}
