//! What every switch did, after the checks: flows that saw packets (with counters),
//! megaflows, worker statistics.

use std::fmt::Write as _;

use super::deploy::Lab;

/// Megaflows shown per host; the rest are counted, not printed.
pub const MAX_MEGAFLOWS: usize = 12;

pub fn summary(lab: &Lab) -> String {
    let mut out = String::new();
    for (h, host) in lab.topo.hosts.iter().enumerate() {
        let x = lab.hosts[h].xvsd();
        let _ = writeln!(out, "\n== {} ({:?}, underlay {}) ==", host.name, host.role, host.underlay_ip);
        let lv: Vec<String> = lab.plans[h].lvids.iter().map(|(n, l)| format!("{}={l}", lab.topo.networks[*n].name)).collect();
        if !lv.is_empty() {
            let _ = writeln!(out, "local VLANs: {}", lv.join(" "));
        }
        for br in lab.bridges(h) {
            match x.ctl(&["dump-flows", br]) {
                Ok(dump) => {
                    let all: Vec<&str> = dump.lines().filter(|l| l.contains("n_packets=")).collect();
                    let busy: Vec<&str> = all.iter().copied().filter(|l| !l.contains("n_packets=0,")).collect();
                    let _ = writeln!(out, "-- dump-flows {br}: {} of {} flows saw packets --", busy.len(), all.len());
                    for l in busy {
                        let _ = writeln!(out, "{}", l.trim());
                    }
                }
                Err(e) => {
                    let _ = writeln!(out, "-- dump-flows {br}: {e:#} --");
                }
            }
        }
        match x.ctl(&["dump-megaflows"]) {
            Ok(mf) => {
                let lines: Vec<&str> = mf.lines().filter(|l| !l.trim().is_empty()).collect();
                let _ = writeln!(out, "-- megaflows ({}) --", lines.len());
                for l in lines.iter().take(MAX_MEGAFLOWS) {
                    let _ = writeln!(out, "{l}");
                }
                if lines.len() > MAX_MEGAFLOWS {
                    let _ = writeln!(out, "({} more not shown)", lines.len() - MAX_MEGAFLOWS);
                }
            }
            Err(e) => {
                let _ = writeln!(out, "-- megaflows: {e:#} --");
            }
        }
        match x.ctl(&["pmd-stats"]) {
            Ok(p) => {
                let _ = writeln!(out, "-- pmd-stats --\n{}", p.trim_end());
            }
            Err(e) => {
                let _ = writeln!(out, "-- pmd-stats: {e:#} --");
            }
        }
    }
    out
}
