//! The default lab (`xvs-lab` without a file: VXLAN and GRE networks over a br-phy
//! underlay) either runs its checks, or, while this xvsd has no tunnel ports or
//! br-phy netdev, says so ([`MissingDatapath`]) and leaves nothing behind.

use xvs_tools::lab::{self, MissingDatapath, Options};

mod common;

#[test]
fn default_lab_runs_or_names_what_the_datapath_lacks() {
    if !xvs_tools::netlab::is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let topo = lab::load(None).unwrap();
    match lab::run(topo, &Options { burst: 0, keep: false }) {
        Ok(o) => {
            assert!(o.failed().is_empty(), "failed checks: {:#?}", o.failed());
            common::assert_nothing_left(&o.prefix);
        }
        Err(e) => {
            let missing = e.downcast_ref::<MissingDatapath>().unwrap_or_else(|| panic!("setup failed: {e:#}"));
            eprintln!("default lab waits on the datapath:\n{missing}");
            assert!(missing.to_string().contains("vxlan-0a0000"), "{missing}");
            common::assert_nothing_left(&missing.prefix);
        }
    }
}
