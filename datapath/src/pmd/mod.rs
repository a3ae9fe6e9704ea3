//! Poll-mode workers: pinned threads that move packets from rx rings through the
//! caches to tx rings.

pub mod stats;
pub mod tsc;
pub mod worker;
