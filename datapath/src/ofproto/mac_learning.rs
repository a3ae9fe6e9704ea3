//! The MAC learning table behind the NORMAL action: (VLAN, MAC) -> OpenFlow port.
//!
//! Only the slow path (translation) and the periodic refresh touch it, so a mutex is
//! fine. Every change that can alter a forwarding decision (a new MAC, a MAC that
//! moved, an entry that aged out, was evicted or was flushed) is pushed to the
//! datapath's change log as the entry's `Tag::mac(bridge, vlan, mac)`, after the table
//! changed: workers then revalidate only the megaflows whose translation looked that
//! MAC up (see `cache::tags`). Flushing the whole table revalidates everything.

use ahash::AHashMap as HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::cache::tags::{ChangeLog, Tag};
use crate::clock;

pub const DEFAULT_MAX_ENTRIES: usize = 8192;
pub const DEFAULT_AGING_SECS: u64 = 300;

#[derive(Clone, Copy, Debug)]
pub struct MacEntry {
    pub port: u32,
    pub used_ns: u64,
}

#[derive(Debug)]
pub struct MacTable {
    entries: Mutex<HashMap<(u16, [u8; 6]), MacEntry>>,
    max_entries: usize,
    aging_ns: AtomicU64,
    /// Index of the bridge (part of the tags).
    bridge: usize,
    /// Where changes are published.
    log: Arc<ChangeLog>,
}

impl MacTable {
    pub fn new(bridge: usize, log: Arc<ChangeLog>) -> MacTable {
        MacTable {
            entries: Mutex::new(HashMap::new()),
            max_entries: DEFAULT_MAX_ENTRIES,
            aging_ns: AtomicU64::new(DEFAULT_AGING_SECS * 1_000_000_000),
            bridge,
            log,
        }
    }

    /// The tag of entry (`vlan`, `mac`) of this table.
    pub fn tag(&self, vlan: u16, mac: [u8; 6]) -> Tag {
        Tag::mac(self.bridge, vlan, mac)
    }

    /// Learn that `mac` on `vlan` is reachable through `port`. Returns true if this
    /// changed the table (new entry, a move, or an entry that had aged out and that
    /// `lookup` no longer returned).
    pub fn learn(&self, vlan: u16, mac: [u8; 6], port: u32) -> bool {
        let now = clock::now_ns();
        let mut t = self.entries.lock();
        let mut evicted = None;
        match t.get_mut(&(vlan, mac)) {
            Some(e) if e.port == port && now.saturating_sub(e.used_ns) < self.aging_ns() => {
                e.used_ns = now;
                return false;
            }
            Some(e) => {
                e.port = port;
                e.used_ns = now;
            }
            None => {
                if t.len() >= self.max_entries {
                    // Evict the least recently used entry, as a bounded table must.
                    if let Some(old) = t.iter().min_by_key(|(_, e)| e.used_ns).map(|(k, _)| *k) {
                        t.remove(&old);
                        evicted = Some(self.tag(old.0, old.1));
                    }
                }
                t.insert((vlan, mac), MacEntry { port, used_ns: now });
            }
        }
        drop(t);
        match evicted {
            Some(old) => self.log.push(&[self.tag(vlan, mac), old]),
            None => self.log.push(&[self.tag(vlan, mac)]),
        }
        true
    }

    /// Keep an entry alive without changing it (traffic seen through a cached megaflow).
    pub fn refresh(&self, vlan: u16, mac: [u8; 6], port: u32) {
        let mut t = self.entries.lock();
        if let Some(e) = t.get_mut(&(vlan, mac)) {
            if e.port == port {
                e.used_ns = clock::now_ns();
            }
        }
    }

    pub fn lookup(&self, vlan: u16, mac: [u8; 6]) -> Option<u32> {
        let now = clock::now_ns();
        let t = self.entries.lock();
        t.get(&(vlan, mac)).filter(|e| now.saturating_sub(e.used_ns) < self.aging_ns()).map(|e| e.port)
    }

    /// Drop entries older than the aging time; returns how many.
    pub fn expire(&self) -> usize {
        let now = clock::now_ns();
        let mut gone = Vec::new();
        self.entries.lock().retain(|k, e| {
            let keep = now.saturating_sub(e.used_ns) < self.aging_ns();
            if !keep {
                gone.push(self.tag(k.0, k.1));
            }
            keep
        });
        self.log.push(&gone);
        gone.len()
    }

    /// Forget everything learned on `port` (port removed), or everything.
    pub fn flush(&self, port: Option<u32>) {
        match port {
            Some(p) => {
                let mut gone = Vec::new();
                self.entries.lock().retain(|k, e| {
                    if e.port == p {
                        gone.push(self.tag(k.0, k.1));
                    }
                    e.port != p
                });
                self.log.push(&gone);
            }
            None => {
                self.entries.lock().clear();
                self.log.push_all();
            }
        }
    }

    /// How long an entry lives without traffic.
    pub fn aging_ns(&self) -> u64 {
        self.aging_ns.load(Relaxed)
    }

    /// Change the aging time (Open vSwitch's `mac-aging-time`).
    pub fn set_aging_ns(&self, ns: u64) {
        self.aging_ns.store(ns.max(1), Relaxed);
    }

    /// (port, vlan, mac, age seconds) for `fdb/show`-style dumps.
    pub fn dump(&self) -> Vec<(u32, u16, [u8; 6], u64)> {
        let now = clock::now_ns();
        let t = self.entries.lock();
        let mut v: Vec<_> = t
            .iter()
            .map(|((vlan, mac), e)| (e.port, *vlan, *mac, now.saturating_sub(e.used_ns) / 1_000_000_000))
            .collect();
        v.sort();
        v
    }
}
