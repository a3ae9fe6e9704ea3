//! Where a running lab leaves its traces, and how a killed lab's traces are removed.
//!
//! Every lab takes a short prefix `xl` + 5 hex digits (derived from its pid, made
//! unique by creating `/run/xvs-lab/<prefix>/` exclusively). Its namespaces are named
//! `<prefix>-<host or vm>` and `<prefix>_underlay`; every interface lives inside one
//! of them, so deleting the namespaces removes all veths. The run directory holds the
//! owner's pid and one directory per host (xvsd's control socket and log).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::netlab::{sh, sh_quiet, unique};

pub const RUN_ROOT: &str = "/run/xvs-lab";

/// The run directory of one lab; removed on drop.
pub struct RunDir {
    pub prefix: String,
    pub path: PathBuf,
}

impl RunDir {
    pub fn create() -> Result<RunDir> {
        fs::create_dir_all(RUN_ROOT).with_context(|| format!("creating {RUN_ROOT}"))?;
        for _ in 0..64 {
            let prefix = unique("xl");
            let path = Path::new(RUN_ROOT).join(&prefix);
            if fs::create_dir(&path).is_ok() {
                fs::write(path.join("owner"), format!("{}\n", std::process::id()))?;
                return Ok(RunDir { prefix, path });
            }
        }
        anyhow::bail!("no free lab prefix under {RUN_ROOT} (run `xvs-lab --cleanup`)")
    }

    pub fn host_dir(&self, host: &str) -> PathBuf {
        self.path.join(host)
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Is `s` a lab prefix (`xl` + 5 lowercase hex digits)?
pub fn is_prefix(s: &str) -> bool {
    s.len() == 7 && s.starts_with("xl") && s[2..].chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// The prefix of a lab namespace name, if it is one.
pub fn ns_prefix(ns: &str) -> Option<&str> {
    let p = ns.get(..7)?;
    (is_prefix(p) && matches!(ns.as_bytes().get(7), Some(b'-' | b'_'))).then_some(p)
}

fn alive(pid: u32) -> bool {
    // A zombie has exited: it counts as dead.
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.rsplit(')').next().is_some_and(|r| !r.trim_start().starts_with('Z')))
}

/// Namespaces (names) of lab `prefix` present now.
pub fn namespaces_of(prefix: &str) -> Vec<String> {
    let list = sh(&["ip", "netns", "list"]).unwrap_or_default();
    list.lines().filter_map(|l| l.split_whitespace().next()).filter(|n| ns_prefix(n) == Some(prefix)).map(|s| s.to_string()).collect()
}

/// Kill every process inside `ns` and delete it (its veths go with it).
pub fn remove_namespace(ns: &str) {
    if let Ok(pids) = sh(&["ip", "netns", "pids", ns]) {
        for p in pids.split_whitespace() {
            sh_quiet(&["kill", "-9", p]);
        }
    }
    sh_quiet(&["ip", "netns", "del", ns]);
}

/// Remove what killed labs left: namespaces (and the xvsd and VM processes in them)
/// and run directories of every lab whose owner process is gone. Labs still running
/// are left alone. Returns a line per lab removed.
pub fn cleanup_stale() -> Result<Vec<String>> {
    let mut done = Vec::new();
    let mut live = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    if let Ok(rd) = fs::read_dir(RUN_ROOT) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if !is_prefix(&name) {
                continue;
            }
            let owner = fs::read_to_string(e.path().join("owner")).ok().and_then(|s| s.trim().parse::<u32>().ok());
            if owner.is_some_and(alive) {
                live.push(name);
            } else {
                prefixes.push(name);
            }
        }
    }
    let list = sh(&["ip", "netns", "list"]).unwrap_or_default();
    for n in list.lines().filter_map(|l| l.split_whitespace().next()) {
        if let Some(p) = ns_prefix(n) {
            if !live.iter().any(|l| l == p) && !prefixes.iter().any(|x| x == p) {
                prefixes.push(p.to_string());
            }
        }
    }
    for p in prefixes {
        let nss = namespaces_of(&p);
        for ns in &nss {
            remove_namespace(ns);
        }
        let _ = fs::remove_dir_all(Path::new(RUN_ROOT).join(&p));
        done.push(format!("lab {p}: removed {} namespace(s){}", nss.len(), if nss.is_empty() { "" } else { " and the processes in them" }));
    }
    for l in live {
        done.push(format!("lab {l}: still running (its owner process is alive), left alone"));
    }
    Ok(done)
}
