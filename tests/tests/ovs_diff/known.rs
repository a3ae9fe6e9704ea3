//! KNOWN MISMATCHES between Open vSwitch 3.1 and xvs.
//!
//! The list is empty: every class found so far (reserved multicast in NORMAL, errors
//! in a peer bridge, OVS's depth accounting, push_vlan on tagged frames, IPv6
//! tclass/hlimit commits, resubmit with a port, tun_id across patch ports, priority
//! tags in NORMAL, double tags on access ports) was fixed in xvs; the minimal case of
//! each is kept as a regression case (`fixed_mismatch_regressions`). The mechanism
//! stays for the next difference someone diagnoses but cannot fix at once.
//!
//! Every entry is one class of disagreement, diagnosed as a bug or gap in xvs (the
//! explanation names the xvs source), with a predicate that recognizes a case of that
//! class from what both sides reported: the OVS trace text, the xvs trace text, the
//! datapath actions and the packet. A case that disagrees and matches no entry fails
//! its test. A case that matches an entry is counted under it and one example per
//! class is printed.
//!
//! The predicates are signatures, not proofs: each requires the specific OVS trace
//! message or the specific ingredient (a resubmit with a port, a tunnel id crossing a
//! patch, ...) that the diagnosis says causes the difference. A case that has such an
//! ingredient AND a second, unrelated problem would be hidden by the first; the
//! `known_mismatch_reproducers` test keeps one minimal case per class so that each
//! entry stays real (when xvs is fixed, that test fails and the entry must go).
//!
//! Locations are as of the xvs tree this suite was written against (datapath/src).

use super::harness::CaseReport;

pub struct KnownMismatch {
    pub id: &'static str,
    /// OVS's behaviour, xvs's behaviour, and where xvs goes wrong.
    pub why: &'static str,
    pub matches: fn(&CaseReport) -> bool,
}

pub const KNOWN_MISMATCHES: &[KnownMismatch] = &[];

/// The known class of a disagreement, if any. Broken frames (bad checksums, actions
/// that fail to execute) are never "known".
pub fn classify(r: &CaseReport) -> Option<&'static KnownMismatch> {
    if !r.problem.starts_with("OVS drops")
        && !r.problem.starts_with("OVS forwards")
        && !r.problem.starts_with("outputs differ")
    {
        return None;
    }
    KNOWN_MISMATCHES.iter().find(|k| (k.matches)(r))
}
