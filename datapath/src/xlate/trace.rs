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
        let ind = "    ".repeat(depth as usize);
        for l in s.lines() {
            let _ = writeln!(self.text, "{ind}{l}");
        }
    }

    pub(crate) fn finish(&mut self, orig: &FlowKey, final_flow: &FlowKey, out: &XlateOut) {
        // As ofproto/trace: "unchanged" when the actions changed nothing; otherwise the
        // fields the packet has (those with a value) and the registers and metadata
        // that were set, not every zero-valued field of the key.
        let same = (1..crate::flow::key::NW).all(|i| orig.w[i] == final_flow.w[i]);
        if same {
            let mf = Match { key: orig.and(&out.mask), mask: out.mask };
            let _ = write!(
                self.text,
                "\nFinal flow: unchanged\nMegaflow: {}\nDatapath actions: {}\n",
                format_match(&mf, crate::flow::DEFAULT_PRIORITY),
                format_dp_actions(&out.actions)
            );
            if let Some(d) = &out.error_detail {
                let _ = writeln!(self.text, "Translation error: {d}");
            }
            return;
        }
        let mut mask = FlowKey::ZERO;
        for f in crate::flow::Field::ALL {
            if f.get(final_flow) != 0 {
                f.set(&mut mask, f.all_ones());
            }
        }
        crate::flow::Field::InPort.set(&mut mask, u16::MAX as u128);
        crate::flow::Field::EthType.set(&mut mask, u16::MAX as u128);
        let ff = Match { key: final_flow.and(&mask), mask };
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
