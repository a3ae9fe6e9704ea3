//! Cheap cycle counting for per-iteration accounting in the worker loop.
//!
//! `clock_gettime` costs far more than it should in some VMs and showed up at ~6% of a
//! busy worker's profile; the time-stamp counter costs a few dozen cycles. Cycles are
//! converted to nanoseconds with a frequency calibrated once against the monotonic
//! clock.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[inline(always)]
pub fn now() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no preconditions.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        crate::clock::now_ns()
    }
}

/// Counter ticks per nanosecond.
pub fn ticks_per_ns() -> f64 {
    static F: OnceLock<f64> = OnceLock::new();
    *F.get_or_init(|| {
        let (t0, c0) = (Instant::now(), now());
        std::thread::sleep(Duration::from_millis(20));
        let (dt, dc) = (t0.elapsed().as_nanos() as f64, now().wrapping_sub(c0) as f64);
        if dt > 0.0 && dc > 0.0 {
            dc / dt
        } else {
            1.0
        }
    })
}

pub fn to_ns(ticks: u64) -> u64 {
    (ticks as f64 / ticks_per_ns()) as u64
}
