//! One monotonic clock for the whole datapath, in nanoseconds since the process
//! started. Rule "used" times, MAC ages and timeouts all use it.

use std::sync::OnceLock;
use std::time::Instant;

fn start() -> &'static Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now)
}

/// Nanoseconds since the first call in this process (never 0, so 0 can mean "never").
#[inline]
pub fn now_ns() -> u64 {
    start().elapsed().as_nanos() as u64 + 1
}

/// Seconds (fractional) since `ns`, for printing ages and durations.
pub fn secs_since(ns: u64) -> f64 {
    now_ns().saturating_sub(ns) as f64 / 1e9
}
