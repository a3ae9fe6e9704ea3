//! The MAC learning table behind the NORMAL action: (VLAN, MAC) -> OpenFlow port.
//!
//! Only the slow path (translation) and the periodic refresh touch it, so a mutex is
//! fine. Every change that can alter a forwarding decision (a new MAC, a MAC that
//! moved, an entry that aged out or was flushed) bumps the datapath epoch so cached
//! megaflows that used NORMAL are revalidated.

use ahash::AHashMap as HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;

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
    aging_ns: u64,
    /// The datapath-wide epoch to bump on changes.
    epoch: Arc<AtomicU64>,
}

impl MacTable {
    pub fn new(epoch: Arc<AtomicU64>) -> MacTable {
        MacTable {
            entries: Mutex::new(HashMap::new()),
            max_entries: DEFAULT_MAX_ENTRIES,
            aging_ns: DEFAULT_AGING_SECS * 1_000_000_000,
            epoch,
        }
    }

    /// Learn that `mac` on `vlan` is reachable through `port`. Returns true if this
    /// changed the table (new entry or a move).
    pub fn learn(&self, vlan: u16, mac: [u8; 6], port: u32) -> bool {
        let now = clock::now_ns();
        let mut t = self.entries.lock();
        match t.get_mut(&(vlan, mac)) {
            Some(e) if e.port == port => {
                e.used_ns = now;
                false
            }
            Some(e) => {
                e.port = port;
                e.used_ns = now;
                self.epoch.fetch_add(1, Relaxed);
                true
            }
            None => {
                if t.len() >= self.max_entries {
                    // Evict the least recently used entry, as a bounded table must.
                    if let Some(old) = t.iter().min_by_key(|(_, e)| e.used_ns).map(|(k, _)| *k) {
                        t.remove(&old);
                    }
                }
                t.insert((vlan, mac), MacEntry { port, used_ns: now });
                self.epoch.fetch_add(1, Relaxed);
                true
            }
        }
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
        t.get(&(vlan, mac)).filter(|e| now.saturating_sub(e.used_ns) < self.aging_ns).map(|e| e.port)
    }

    /// Drop entries older than the aging time; returns how many.
    pub fn expire(&self) -> usize {
        let now = clock::now_ns();
        let mut t = self.entries.lock();
        let before = t.len();
        t.retain(|_, e| now.saturating_sub(e.used_ns) < self.aging_ns);
        let n = before - t.len();
        if n > 0 {
            self.epoch.fetch_add(1, Relaxed);
        }
        n
    }

    /// Forget everything learned on `port` (port removed), or everything.
    pub fn flush(&self, port: Option<u32>) {
        let mut t = self.entries.lock();
        match port {
            Some(p) => t.retain(|_, e| e.port != p),
            None => t.clear(),
        }
        self.epoch.fetch_add(1, Relaxed);
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
