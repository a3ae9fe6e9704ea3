//! The control protocol: arbitrary request lines executed against a live datapath
//! (one worker, a small UMEM, no ports that exist): no panic, and every request gets
//! a response. Needs root (a UMEM is an AF_XDP object).
#![no_main]

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use xvs::control::commands::execute;
use xvs::control::proto::Request;
use xvs::daemon::{DaemonConfig, Datapath};
use xvs::pmd::worker::PollMode;

fn datapath() -> &'static Mutex<Datapath> {
    static DP: OnceLock<Mutex<Datapath>> = OnceLock::new();
    DP.get_or_init(|| {
        let cfg = DaemonConfig { poll: PollMode::Adaptive, frames_per_worker: 1024, ..Default::default() };
        let (mut dp, _up) = Datapath::start(cfg).expect("datapath (run as root)");
        dp.ofproto.add_bridge("br0", false).unwrap();
        dp.publish();
        Mutex::new(dp)
    })
}

fuzz_target!(|data: &[u8]| {
    // Either a JSON request line, as the socket would carry it...
    let req: Request = match serde_json::from_slice(data) {
        Ok(r) => r,
        // ...or words and input built from raw text, to reach deeper into commands.
        Err(_) => {
            let Ok(s) = std::str::from_utf8(data) else { return };
            let mut parts = s.splitn(2, '\n');
            let args = parts.next().unwrap_or("").split(' ').map(|w| w.to_string()).collect();
            Request { args, input: parts.next().map(|s| s.to_string()) }
        }
    };
    // Commands that touch real netdevs or wait for traffic are not fuzzed here.
    if matches!(req.args.first().map(|s| s.as_str()), Some("add-port") | Some("capture")) {
        if req.args.iter().any(|a| a.contains("type=patch")) {
        } else {
            return;
        }
    }
    let mut dp = datapath().lock().unwrap_or_else(|p| p.into_inner());
    let _ = execute(&mut dp, &req);
    // Keep the state small so the fuzzer explores commands, not huge tables.
    if dp.ofproto.bridges.len() > 8 || dp.ofproto.bridges.values().map(|b| b.n_rules()).sum::<usize>() > 2000 {
        let names: Vec<String> = dp.ofproto.bridges.keys().filter(|n| *n != "br0").cloned().collect();
        for n in names {
            let _ = dp.del_bridge(&n);
        }
        let _ = dp.ofproto.del_flows("br0", &xvs::ofproto::Criteria::all());
    }
});
