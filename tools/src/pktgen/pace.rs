//! Token-bucket pacing for `--rate`: the generator asks for a batch, gets what the
//! bucket holds, and sleeps (rather than spinning) while the bucket refills, unless the
//! wait is too short for the scheduler to honour.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Waits shorter than this spin (a sleep would overshoot them); longer ones sleep.
const SPIN_LIMIT: Duration = Duration::from_micros(100);
/// A sleep never lasts longer than this, so Ctrl-C is noticed quickly.
const MAX_SLEEP: Duration = Duration::from_millis(50);

pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// `rate` packets per second (> 0); at most `burst` packets at once.
    pub fn new(rate: u64, burst: u64) -> TokenBucket {
        TokenBucket {
            rate: rate as f64,
            burst: burst.max(1) as f64,
            tokens: 0.0,
            last: Instant::now(),
        }
    }

    /// Batch size that suits a rate: about 1 ms worth of packets, between 1 and `max`.
    pub fn batch_for(rate: u64, max: u64) -> u64 {
        (rate / 1000).clamp(1, max.max(1))
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
    }

    /// Take up to `want` packets' worth of tokens now; returns how many (may be 0).
    pub fn grant_at(&mut self, want: u64, now: Instant) -> u64 {
        self.refill(now);
        let n = (self.tokens.floor() as u64).min(want);
        self.tokens -= n as f64;
        n
    }

    pub fn grant(&mut self, want: u64) -> u64 {
        self.grant_at(want, Instant::now())
    }

    /// Give back tokens taken but not used (the ring took fewer frames).
    pub fn refund(&mut self, n: u64) {
        self.tokens = (self.tokens + n as f64).min(self.burst);
    }

    /// How long until `want` (capped at the burst) tokens are there.
    pub fn time_until(&self, want: u64, now: Instant) -> Duration {
        let since = now.saturating_duration_since(self.last).as_secs_f64();
        let have = (self.tokens + since * self.rate).min(self.burst);
        let need = (want as f64).min(self.burst) - have;
        if need <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(need / self.rate)
        }
    }

    /// Block until `want` tokens are there (or `stop` is set): sleep for long waits,
    /// spin for short ones.
    pub fn wait(&self, want: u64, stop: &AtomicBool) {
        loop {
            let d = self.time_until(want, Instant::now());
            if d.is_zero() || stop.load(Ordering::Relaxed) {
                return;
            }
            if d > SPIN_LIMIT {
                std::thread::sleep(d.min(MAX_SLEEP));
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_follow_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket {
            rate: 1000.0,
            burst: 64.0,
            tokens: 0.0,
            last: t0,
        };
        assert_eq!(b.grant_at(10, t0), 0);
        // 5 ms later: 5 tokens.
        assert_eq!(b.grant_at(10, t0 + Duration::from_millis(5)), 5);
        assert_eq!(b.grant_at(10, t0 + Duration::from_millis(5)), 0);
        // Long idle: capped at the burst.
        assert_eq!(b.grant_at(1000, t0 + Duration::from_secs(10)), 64);
        b.refund(3);
        assert_eq!(b.grant_at(1000, t0 + Duration::from_secs(10)), 3);
        let w = b.time_until(10, t0 + Duration::from_secs(10));
        assert!((w.as_secs_f64() - 0.010).abs() < 1e-6, "{w:?}");
    }

    #[test]
    fn batch_sizes() {
        assert_eq!(TokenBucket::batch_for(10, 64), 1);
        assert_eq!(TokenBucket::batch_for(20_000, 64), 20);
        assert_eq!(TokenBucket::batch_for(10_000_000, 64), 64);
    }

    #[test]
    fn wait_sleeps_until_tokens() {
        let b = TokenBucket::new(200, 4);
        let stop = AtomicBool::new(false);
        let t = Instant::now();
        b.wait(2, &stop); // 10 ms at 200 pps
        let e = t.elapsed();
        assert!(
            e >= Duration::from_millis(9) && e < Duration::from_millis(500),
            "{e:?}"
        );
    }
}
