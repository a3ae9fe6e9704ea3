//! The default lab (`xvs-lab` without a file: two compute hosts and a network node,
//! VXLAN and GRE networks over a br-phy underlay, as the README's main command runs
//! it): every check passes (cross-host ping over VXLAN and GRE, isolation, a TCP
//! transfer with its checksum compared) and nothing is left behind.

use xvs_tools::lab::{self, Options};

mod common;

#[test]
fn default_lab_passes_its_checks_over_vxlan_and_gre() {
    assert!(xvs_tools::netlab::is_root(), "the lab needs root (namespaces, veths, AF_XDP)");
    let topo = lab::load(None).unwrap();
    let o = lab::run(topo, &Options { burst: 0, keep: false }).unwrap_or_else(|e| panic!("lab setup failed: {e:#}"));
    assert!(o.failed().is_empty(), "failed checks: {:#?}", o.failed());
    common::assert_nothing_left(&o.prefix);
}
