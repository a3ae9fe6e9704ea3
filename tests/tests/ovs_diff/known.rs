//! KNOWN MISMATCHES between Open vSwitch 3.1 and xvs.
//!
//! Each entry is one class of disagreement that has been diagnosed as an xvs bug or
//! gap (see the explanation and the source location), with a predicate that
//! recognizes a case of exactly that class from the two traces. A case that disagrees
//! and matches no entry fails the suite. When xvs is fixed, its entry must go.

use super::harness::CaseReport;

pub struct KnownMismatch {
    pub id: &'static str,
    pub why: &'static str,
    pub matches: fn(&CaseReport) -> bool,
}

pub const KNOWN_MISMATCHES: &[KnownMismatch] = &[];

pub fn classify(r: &CaseReport) -> Option<&'static KnownMismatch> {
    KNOWN_MISMATCHES.iter().find(|k| (k.matches)(r))
}
