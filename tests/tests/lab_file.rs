//! `xvs-lab labs/vlan.toml` end to end: three hosts (a namespace and an xvsd each),
//! VLAN tenant networks on a Linux-bridge physnet; every ping within a network works
//! (across hosts too), none between networks, a 2 MB TCP transfer arrives intact, and
//! nothing is left behind afterwards.

use std::path::Path;

use xvs_tools::lab::{self, Options};

mod common;

#[test]
fn vlan_lab_file_passes_and_leaves_nothing() {
    if !xvs_tools::netlab::is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../labs/vlan.toml");
    let topo = lab::load(Some(&file)).unwrap();
    let o = lab::run(topo, &Options { burst: 0, keep: false }).unwrap();
    assert!(o.failed().is_empty(), "failed checks: {:#?}", o.failed());
    let count = |p: &str| o.checks.iter().filter(|c| c.name.starts_with(p)).count();
    // a: vm-a1, vm-a2, dhcp-a (3 pairs); b: vm-b1, vm-b2 (1 pair).
    assert_eq!(count("ping "), 4, "{:#?}", o.checks);
    assert_eq!(count("isolation "), 6, "{:#?}", o.checks);
    assert_eq!(count("tcp "), 1, "{:#?}", o.checks);
    let tcp = o.checks.iter().find(|c| c.name.starts_with("tcp ")).unwrap();
    assert!(tcp.name.contains("compute1 -> compute2") && tcp.detail.contains("sha256"), "{tcp:?}");
    assert!(o.report.contains("dump-flows br-phys"), "{}", o.report);
    common::assert_nothing_left(&o.prefix);
}
