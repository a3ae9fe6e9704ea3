//! Shared code of the xvs tools: network-namespace labs (used by `xvs-lab` and by the
//! functional tests) and the traffic generator.

pub mod lab;
pub mod netlab;
pub mod pktgen;
