//! The report of `xvsctl trace`, shaped like `ovs-appctl ofproto/trace`.

use std::fmt::Write;

use super::XlateOut;
use crate::flow::format::format_match;
use crate::flow::{FlowKey, Match};
use crate::odp::format_dp_actions;

#[derive(Default, Debug)]
pub struct Trace {
    pub text: String,
}

impl Trace {
    pub fn new(flow_desc: &str) -> Trace {
        Trace { text: format!("Flow: {flow_desc}\n") }
    }

    pub(crate) fn bridge(&mut self, name: &str, depth: u32) {
        let ind = "    ".repeat(depth as usize);
        let title = format!("bridge(\"{name}\")");
        let _ = write!(self.text, "\n{ind}{title}\n{ind}{}\n", "-".repeat(title.len()));
    }

    pub(crate) fn line(&mut self, depth: u32, s: &str) {
        let ind = "    ".repeat(depth.saturating_sub(1) as usize);
        for l in s.lines() {
            let _ = writeln!(self.text, "{ind}{l}");
        }
    }

    pub(crate) fn finish(&mut self, orig: &FlowKey, final_flow: &FlowKey, out: &XlateOut) {
        let ff = Match { key: *final_flow, mask: FlowKey::dp_exact() };
        let mf = Match { key: orig.and(&out.mask), mask: out.mask };
        let _ = write!(
            self.text,
            "\nFinal flow: {}\nMegaflow: {}\nDatapath actions: {}\n",
            format_match(&ff, crate::flow::DEFAULT_PRIORITY),
            format_match(&mf, crate::flow::DEFAULT_PRIORITY),
            format_dp_actions(&out.actions)
        );
        if let Some(d) = &out.error_detail {
            let _ = writeln!(self.text, "Translation error: {d}");
        }
    }
}
