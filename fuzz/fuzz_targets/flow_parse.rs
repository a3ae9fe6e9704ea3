//! The ovs-ofctl flow parser on arbitrary text: no panic, and whatever parses prints
//! back to text that parses to the same flow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xvs::flow::format::format_flow;
use xvs::flow::parse::{parse_flow, NoPortNames, ParseMode};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    for mode in [ParseMode::Add, ParseMode::Modify, ParseMode::Match] {
        if let Ok(spec) = parse_flow(s, mode, &NoPortNames) {
            let text = format_flow(&spec);
            let back = parse_flow(&text, mode, &NoPortNames).unwrap_or_else(|e| panic!("{text:?} does not parse back: {e}"));
            assert_eq!(back, spec, "round trip of {s:?} via {text:?}");
        }
    }
});
