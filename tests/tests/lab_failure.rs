//! A lab that fails half-way removes every namespace, veth, daemon and run directory
//! it made. The failure is real: the third host's xvsd exits at start (a wrapper in
//! place of xvsd, through XVS_BIN_DIR, fails on its third launch), after the underlay,
//! two hosts with their daemons and bridges, and VMs already exist.
//! (Its own test binary: XVS_BIN_DIR is process-wide.)

use std::os::unix::fs::PermissionsExt;

use xvs_tools::lab::{self, Options};
use xvs_tools::netlab::{bin_dir, unique};

mod common;

#[test]
fn a_lab_failing_half_way_leaves_nothing_behind() {
    assert!(xvs_tools::netlab::is_root(), "the lab needs root");
    let real = bin_dir();
    let dir = std::env::temp_dir().join(unique("xvs-failbin-"));
    std::fs::create_dir_all(&dir).unwrap();
    for tool in ["xvsctl", "xvs-pktgen", "xvs-lab"] {
        let _ = std::os::unix::fs::symlink(real.join(tool), dir.join(tool));
    }
    let count = dir.join("launches");
    let wrapper = format!(
        "#!/bin/bash\nn=$(( $(cat {c} 2>/dev/null || echo 0) + 1 ))\necho $n > {c}\n\
         if [ $n -ge 3 ]; then echo 'xvsd: refusing to start (test)' >&2; exit 1; fi\nexec {real} \"$@\"\n",
        c = count.display(),
        real = real.join("xvsd").display()
    );
    std::fs::write(dir.join("xvsd"), wrapper).unwrap();
    std::fs::set_permissions(dir.join("xvsd"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::env::set_var("XVS_BIN_DIR", &dir);

    let before = common::lab_namespaces();
    let runs = |d: &str| -> Vec<String> {
        std::fs::read_dir(d).map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default()
    };
    let runs_before = runs(xvs_tools::lab::rundir::RUN_ROOT);
    let topo = lab::load(None).unwrap();
    let err = match lab::run(topo, &Options { burst: 0, keep: false }) {
        Ok(_) => panic!("the lab should have failed at the third host"),
        Err(e) => format!("{e:#}"),
    };
    assert!(std::fs::read_to_string(&count).unwrap().trim().parse::<u32>().unwrap() >= 3, "the third xvsd was launched");
    assert!(err.contains("xvsd") || err.contains("network"), "the error says what failed: {err}");
    // Everything it made is gone: the namespaces of this lab, links, daemons.
    let after: Vec<String> = common::lab_namespaces().into_iter().filter(|n| !before.contains(n)).collect();
    assert!(after.is_empty(), "namespaces left behind: {after:?}");
    let new_runs: Vec<String> = runs(xvs_tools::lab::rundir::RUN_ROOT).into_iter().filter(|r| !runs_before.contains(r)).collect();
    assert!(new_runs.is_empty(), "run directories left behind: {new_runs:?}");
    let kids = common::xvsd_children();
    assert!(kids.is_empty(), "xvsd processes left running: {kids:?}");
    std::env::remove_var("XVS_BIN_DIR");
    let _ = std::fs::remove_dir_all(&dir);
}
