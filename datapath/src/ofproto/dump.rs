//! `dump-flows` output in `ovs-ofctl dump-flows` format.

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use super::rule::Rule;
use crate::clock;
use crate::flow::format::{format_actions, format_match};

/// One line, e.g.
/// ` cookie=0x0, duration=3.201s, table=0, n_packets=4, n_bytes=392, idle_age=1, priority=1,in_port=1 actions=output:2`
pub fn format_rule_stats(r: &Rule) -> String {
    let now = clock::now_ns();
    let (packets, bytes) = r.stats.get();
    let mut s = String::with_capacity(160);
    let _ = write!(
        s,
        " cookie={:#x}, duration={:.3}s, table={}, n_packets={}, n_bytes={}, ",
        r.cookie,
        now.saturating_sub(r.created_ns) as f64 / 1e9,
        r.table,
        packets,
        bytes
    );
    if r.idle_timeout > 0 {
        let _ = write!(s, "idle_timeout={}, ", r.idle_timeout);
    }
    if r.hard_timeout > 0 {
        let _ = write!(s, "hard_timeout={}, ", r.hard_timeout);
    }
    if r.send_flow_rem {
        s.push_str("send_flow_rem ");
    }
    if r.importance > 0 {
        let _ = write!(s, "importance={}, ", r.importance);
    }
    let used = r.stats.used_ns.load(Relaxed);
    let modified = r.modified_ns.load(Relaxed);
    let idle_since = if used > 0 { used } else { modified.max(r.created_ns) };
    let _ = write!(s, "idle_age={}, ", now.saturating_sub(idle_since) / 1_000_000_000);
    if modified > r.created_ns + 1_000_000_000 {
        let _ = write!(s, "hard_age={}, ", now.saturating_sub(modified) / 1_000_000_000);
    }
    let m = format_match(&r.m, r.priority);
    if !m.is_empty() {
        s.push_str(&m);
        s.push(' ');
    }
    s.push_str("actions=");
    s.push_str(&format_actions(&r.actions));
    s
}
