#![allow(dead_code)] // each test binary uses a different part
//! Shared by the lab tests (`mod common;`).

/// Lab namespaces present now (`xl<5 hex>-...` / `xl<5 hex>_...`).
pub fn lab_namespaces() -> Vec<String> {
    let list = xvs_tools::netlab::sh(&["ip", "netns", "list"]).unwrap_or_default();
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| xvs_tools::lab::rundir::ns_prefix(n).is_some())
        .map(|s| s.to_string())
        .collect()
}

/// xvsd processes whose parent is this test process.
pub fn xvsd_children() -> Vec<u32> {
    let me = std::process::id();
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let comm = stat.split('(').nth(1).and_then(|s| s.split(')').next()).unwrap_or("");
        let ppid = stat.rsplit(')').next().and_then(|r| r.split_whitespace().nth(1)).and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(me) && (comm == "xvsd" || comm == "ip") {
            v.push(pid);
        }
    }
    v
}

/// Nothing of lab `prefix` is left: namespaces, links in the root namespace, xvsd
/// children, the run directory.
pub fn assert_nothing_left(prefix: &str) {
    assert!(!prefix.is_empty());
    let left: Vec<String> = lab_namespaces().into_iter().filter(|n| n.starts_with(prefix)).collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    let links = xvs_tools::netlab::sh(&["ip", "-o", "link", "show"]).unwrap_or_default();
    assert!(!links.contains(prefix), "links left behind: {links}");
    let dir = std::path::Path::new(xvs_tools::lab::rundir::RUN_ROOT).join(prefix);
    assert!(!dir.exists(), "{} left behind", dir.display());
    let kids = xvsd_children();
    assert!(kids.is_empty(), "xvsd processes left running: {kids:?}");
}
