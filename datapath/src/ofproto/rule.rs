//! An OpenFlow rule (a "flow" in ovs-ofctl terms) and its counters.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use crate::clock;
use crate::flow::{Action, Match};

/// Counters of a rule. Shared between the rule's versions: `mod-flows` creates a new
/// `Rule` with new actions but keeps the same `RuleStats`, so counters survive it.
/// Workers add to them when they credit megaflow hits (at stats sync, revalidation or
/// eviction) and when a packet is translated by the slow path.
#[derive(Debug, Default)]
pub struct RuleStats {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    /// `clock::now_ns()` of the last packet, 0 if never used.
    pub used_ns: AtomicU64,
}

impl RuleStats {
    #[inline]
    pub fn credit(&self, packets: u64, bytes: u64, used_ns: u64) {
        if packets == 0 {
            return;
        }
        self.packets.fetch_add(packets, Relaxed);
        self.bytes.fetch_add(bytes, Relaxed);
        self.used_ns.fetch_max(used_ns, Relaxed);
    }
    pub fn get(&self) -> (u64, u64) {
        (self.packets.load(Relaxed), self.bytes.load(Relaxed))
    }
}

#[derive(Debug)]
pub struct Rule {
    /// Unique for the life of the daemon; orders rules of equal priority.
    pub id: u64,
    pub table: u8,
    pub priority: u16,
    pub m: Match,
    pub cookie: u64,
    pub actions: Arc<[Action]>,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub importance: u16,
    pub send_flow_rem: bool,
    /// When the rule was added (for `duration=`).
    pub created_ns: u64,
    /// When the rule was last added/modified/re-learned (the hard timeout counts from
    /// here, as in Open vSwitch where re-learning a flow restarts its hard timeout).
    pub modified_ns: AtomicU64,
    pub stats: Arc<RuleStats>,
}

impl Rule {
    /// A rule outside any bridge (classifier tests and benchmarks): no cookie, no
    /// timeouts, fresh counters.
    pub fn detached(id: u64, table: u8, priority: u16, m: Match, actions: Arc<[Action]>) -> Rule {
        Rule {
            id,
            table,
            priority,
            m,
            cookie: 0,
            actions,
            idle_timeout: 0,
            hard_timeout: 0,
            importance: 0,
            send_flow_rem: false,
            created_ns: 0,
            modified_ns: AtomicU64::new(0),
            stats: Default::default(),
        }
    }

    /// True if this rule has expired at `now` by its idle or hard timeout.
    pub fn expired(&self, now: u64) -> bool {
        let s = 1_000_000_000u64;
        if self.hard_timeout > 0
            && now.saturating_sub(self.modified_ns.load(Relaxed)) >= self.hard_timeout as u64 * s
        {
            return true;
        }
        if self.idle_timeout > 0 {
            let used = self.stats.used_ns.load(Relaxed).max(self.modified_ns.load(Relaxed));
            if now.saturating_sub(used) >= self.idle_timeout as u64 * s {
                return true;
            }
        }
        false
    }

    pub fn touch_modified(&self) {
        self.modified_ns.store(clock::now_ns(), Relaxed);
    }
}
