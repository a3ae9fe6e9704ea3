//! Flow-level vocabulary: the key, fields, matches, OpenFlow actions, and the
//! ovs-ofctl text syntax (parse and print).

pub mod action;
pub mod field;
pub mod format;
pub mod key;
pub mod parse;

pub use action::Action;
pub use field::{Field, SubField};
pub use key::{FlowKey, FlowMask};

/// A match: the bits of `mask` must equal the bits of `key`. `key` is kept normalized
/// (`key & mask == key`), so two equal matches compare equal.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Match {
    pub key: FlowKey,
    pub mask: FlowMask,
}

impl Match {
    /// Matches every packet.
    pub fn catchall() -> Match {
        Match::default()
    }

    /// Exact match on a whole field.
    pub fn set(&mut self, f: Field, v: u128) {
        self.set_masked(f, v, f.all_ones());
    }

    /// Masked match on a field; bits outside `mask` become wildcards.
    pub fn set_masked(&mut self, f: Field, v: u128, mask: u128) {
        f.set(&mut self.mask, mask);
        f.set(&mut self.key, v & mask);
    }

    /// (value, mask) of a field in this match.
    pub fn get(&self, f: Field) -> (u128, u128) {
        (f.get(&self.key), f.get(&self.mask))
    }

    /// True if the match says nothing about the field.
    pub fn is_wild(&self, f: Field) -> bool {
        f.get(&self.mask) == 0
    }

    #[inline]
    pub fn matches(&self, k: &FlowKey) -> bool {
        k.eq_masked(&self.key, &self.mask)
    }
}

/// A flow as written in ovs-ofctl text: `table=0,priority=1,in_port=10 actions=...`.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowSpec {
    /// `table=N`; None when not given (add: table 0; del/dump: every table).
    pub table: Option<u8>,
    /// `priority=N`; None when not given (add: 32768).
    pub priority: Option<u16>,
    pub cookie: u64,
    /// `cookie=V/M` in del-flows/dump-flows; 0 when no cookie was given.
    pub cookie_mask: u64,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub importance: u16,
    pub send_flow_rem: bool,
    pub check_overlap: bool,
    /// `out_port=N` filter (del-flows/dump-flows).
    pub out_port: Option<u32>,
    pub m: Match,
    /// None when the text has no `actions=` (del-flows / dump-flows forms).
    pub actions: Option<Vec<Action>>,
}

impl Default for FlowSpec {
    fn default() -> Self {
        FlowSpec {
            table: None,
            priority: None,
            cookie: 0,
            cookie_mask: 0,
            idle_timeout: 0,
            hard_timeout: 0,
            importance: 0,
            send_flow_rem: false,
            check_overlap: false,
            out_port: None,
            m: Match::catchall(),
            actions: None,
        }
    }
}

pub const DEFAULT_PRIORITY: u16 = 32768;
