//! Counting what the sink receives (signature, checksums, per-flow sequence tracking)
//! and the summaries both subcommands print (text, or JSON with --json).

use std::time::{Duration, Instant};

use serde::Serialize;

use super::frame::{inspect, Verdict, MAX_FLOWS};

#[derive(Clone, Copy, Debug, Default)]
struct FlowState {
    /// A frame of this flow has been seen (in the current stream).
    seen: bool,
    /// Run id of the stream being tracked.
    run: u16,
    /// Next expected sequence number.
    next: u64,
    received: u64,
}

/// The AF_XDP sink's counters.
#[derive(Debug, Default)]
pub struct RxCounters {
    pub received: u64,
    pub bytes: u64,
    pub valid: u64,
    pub other: u64,
    pub bad_ip_csum: u64,
    pub bad_udp_csum: u64,
    /// Sequence numbers skipped (minus late arrivals that filled a gap).
    pub lost: u64,
    /// Frames older than one already seen in their flow.
    pub reordered: u64,
    /// Flows whose run id changed (a new generator run started).
    pub restarts: u64,
    flows: Vec<FlowState>,
    /// Arrival of the first and last frame with our signature.
    pub first: Option<Instant>,
    pub last: Option<Instant>,
}

impl RxCounters {
    pub fn new() -> RxCounters {
        RxCounters::default()
    }

    /// Frames with our signature (valid or with a bad checksum).
    pub fn signed(&self) -> u64 {
        self.valid + self.bad_ip_csum + self.bad_udp_csum
    }

    /// Count one frame; returns whether it carried our signature.
    #[inline]
    pub fn record(&mut self, frame: &[u8]) -> bool {
        self.received += 1;
        self.bytes += frame.len() as u64;
        match inspect(frame) {
            Verdict::Valid(sig) => {
                if sig.flow >= MAX_FLOWS {
                    self.other += 1;
                    return false;
                }
                self.valid += 1;
                self.track(sig.flow as usize, sig.run, sig.seq);
                true
            }
            Verdict::BadIpCsum => {
                self.bad_ip_csum += 1;
                true
            }
            Verdict::BadUdpCsum => {
                self.bad_udp_csum += 1;
                true
            }
            Verdict::Other => {
                self.other += 1;
                false
            }
        }
    }

    #[inline]
    fn track(&mut self, flow: usize, run: u16, seq: u64) {
        if flow >= self.flows.len() {
            self.flows.resize(flow + 1, FlowState::default());
        }
        let st = &mut self.flows[flow];
        st.received += 1;
        if !st.seen || st.run != run {
            // First frame of the flow, or a new generator run: frames before it are
            // not counted as lost.
            if st.seen {
                self.restarts += 1;
            }
            st.seen = true;
            st.run = run;
            st.next = seq.wrapping_add(1);
        } else if seq == st.next {
            st.next += 1;
        } else if seq > st.next {
            self.lost += seq - st.next;
            st.next = seq + 1;
        } else {
            self.reordered += 1;
            self.lost = self.lost.saturating_sub(1);
        }
    }

    /// Note that signed frames arrived at `now` (called once per received batch).
    #[inline]
    pub fn seen_at(&mut self, now: Instant) {
        if self.first.is_none() {
            self.first = Some(now);
        }
        self.last = Some(now);
    }

    pub fn flows_seen(&self) -> u64 {
        self.flows.iter().filter(|f| f.received > 0).count() as u64
    }

    /// Frames received per flow, for flows 0..n.
    pub fn per_flow(&self, n: u32) -> Vec<u64> {
        (0..n as usize)
            .map(|i| self.flows.get(i).map_or(0, |f| f.received))
            .collect()
    }
}

/// Seconds and Mpps over the window in which our frames arrived (falls back to the
/// whole run when there is no window).
pub fn rate(frames: u64, window: Option<Duration>, wall: Duration) -> (f64, f64) {
    let secs = match window {
        Some(w) if w.as_secs_f64() > 0.0 => w.as_secs_f64(),
        _ => wall.as_secs_f64(),
    };
    let mpps = if secs > 0.0 {
        frames as f64 / secs / 1e6
    } else {
        0.0
    };
    (secs, mpps)
}

#[derive(Clone, Debug, Serialize)]
pub struct TxReport {
    pub mode: &'static str,
    pub dev: String,
    pub queue: Option<u32>,
    /// Frames the kernel took (AF_XDP completions, or program runs for xdp mode).
    pub packets: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub mpps: f64,
    pub flows: u32,
    pub size: usize,
    pub rate: u64,
    pub cpu: Option<usize>,
    /// AF_XDP descriptors the kernel rejected.
    pub tx_invalid: Option<u64>,
    pub zero_copy: Option<bool>,
}

impl TxReport {
    pub fn text(&self) -> String {
        let mut s = format!(
            "sent {} packets in {:.3} s: {:.3} Mpps ({:.1} Mbit/s on the wire; {} mode, {}",
            self.packets,
            self.seconds,
            self.mpps,
            self.mpps * (self.size.max(60) as f64 + 24.0) * 8.0,
            self.mode,
            self.dev
        );
        if let Some(q) = self.queue {
            s += &format!(" queue {q}");
        }
        s += &format!(", {} flow(s), {}-byte frames", self.flows, self.size);
        if let Some(c) = self.cpu {
            s += &format!(", cpu {c}");
        }
        if let Some(zc) = self.zero_copy {
            s += if zc { ", zero-copy" } else { ", copy mode" };
        }
        s += ")";
        if let Some(n) = self.tx_invalid.filter(|&n| n > 0) {
            s += &format!("\n  {n} tx descriptors rejected by the kernel");
        }
        s
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RxReport {
    pub mode: &'static str,
    pub dev: String,
    /// XDP attach mode used (native or generic).
    pub xdp: &'static str,
    pub queues: u32,
    /// Every frame, ours or not.
    pub received: u64,
    pub bytes: u64,
    /// Frames with our signature and correct checksums (xdp mode: signature only).
    pub valid: u64,
    pub other: u64,
    /// None in xdp mode (the BPF sink does not track sequence numbers).
    pub lost: Option<u64>,
    pub reordered: Option<u64>,
    pub bad_ip_csum: Option<u64>,
    pub bad_udp_csum: Option<u64>,
    pub restarts: Option<u64>,
    pub flows_seen: Option<u64>,
    /// Frames per flow 0..N with --flows N.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_flow: Option<Vec<u64>>,
    /// Time between the first and the last frame of ours.
    pub seconds: f64,
    pub wall_seconds: f64,
    /// Our frames per second over `seconds`, in millions.
    pub mpps: f64,
}

impl RxReport {
    pub fn text(&self) -> String {
        let mut s = format!(
            "received {} frames ({} valid, {} other) on {} ({} mode, {} XDP, {} queue(s)); {:.3} Mpps over {:.3} s",
            self.received,
            self.valid,
            self.other,
            self.dev,
            self.mode,
            self.xdp,
            self.queues,
            self.mpps,
            self.seconds
        );
        if let (Some(lost), Some(re)) = (self.lost, self.reordered) {
            s += &format!("\n  lost {lost}, reordered {re}");
            if let Some(r) = self.restarts.filter(|&r| r > 0) {
                s += &format!(", generator restarts {r}");
            }
        }
        if let (Some(ip), Some(udp)) = (self.bad_ip_csum, self.bad_udp_csum) {
            if ip + udp > 0 {
                s += &format!("\n  bad checksums: {ip} IPv4, {udp} UDP");
            }
        }
        if let Some(pf) = &self.per_flow {
            let seen = pf.iter().filter(|&&c| c > 0).count();
            let min = pf.iter().copied().min().unwrap_or(0);
            let max = pf.iter().copied().max().unwrap_or(0);
            s += &format!(
                "\n  flows: {seen} of {} seen, frames per flow min {min} max {max}",
                pf.len()
            );
            if pf.len() <= 16 {
                s += &format!(" {pf:?}");
            }
        } else if let Some(n) = self.flows_seen {
            s += &format!("\n  flows seen: {n}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::super::frame::{FrameSpec, Template, OFF_SEQ};
    use super::*;
    use std::net::Ipv4Addr;

    fn template(flows: u32, run_id: u16) -> Template {
        Template::new(&FrameSpec {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_ip: Ipv4Addr::new(10, 0, 0, 1),
            dst_ip: Ipv4Addr::new(10, 0, 0, 2),
            src_port: 1,
            dst_port: 2000,
            flows,
            size: 60,
            run_id,
            vxlan: None,
        })
        .unwrap()
    }

    #[test]
    fn in_order_no_loss() {
        let t = template(3, 7);
        let mut c = RxCounters::new();
        for seq in 0..10 {
            for flow in 0..3 {
                assert!(c.record(&t.frame(flow, seq)));
            }
        }
        assert!(!c.record(&[0u8; 60]));
        assert_eq!(
            (c.received, c.valid, c.other, c.lost, c.reordered),
            (31, 30, 1, 0, 0)
        );
        assert_eq!(c.per_flow(4), vec![10, 10, 10, 0]);
        assert_eq!(c.flows_seen(), 3);
        assert_eq!(c.bytes, 31 * 60);
    }

    #[test]
    fn gaps_reorders_and_restarts() {
        let t = template(2, 1);
        let mut c = RxCounters::new();
        for seq in [0, 1, 4, 2, 5, 6] {
            c.record(&t.frame(0, seq));
        }
        // 2 and 3 skipped at 4, then 2 arrives late: lost 1, reordered 1.
        assert_eq!((c.lost, c.reordered), (1, 1));
        // Flow 1 first seen at seq 100: earlier frames are not counted as lost.
        c.record(&t.frame(1, 100));
        c.record(&t.frame(1, 101));
        assert_eq!(c.lost, 1);
        // A new run (different run id) starting at 0 is not a reorder.
        let t2 = template(2, 2);
        c.record(&t2.frame(0, 0));
        c.record(&t2.frame(0, 1));
        assert_eq!((c.lost, c.reordered, c.restarts), (1, 1, 1));
        // Bad checksum: counted, not valid, not tracked.
        let mut f = t2.frame(0, 2);
        f[OFF_SEQ] ^= 0x80;
        assert!(c.record(&f));
        assert_eq!((c.bad_udp_csum, c.valid, c.signed()), (1, 10, 11));
    }

    #[test]
    fn rates() {
        let (s, m) = rate(
            3_000_000,
            Some(Duration::from_secs(2)),
            Duration::from_secs(6),
        );
        assert_eq!((s, m), (2.0, 1.5));
        let (s, m) = rate(600, None, Duration::from_secs(6));
        assert_eq!(s, 6.0);
        assert!((m - 0.0001).abs() < 1e-12);
    }

    #[test]
    fn reports_render() {
        let r = RxReport {
            mode: "afxdp",
            dev: "pg1".into(),
            xdp: "native",
            queues: 2,
            received: 10,
            bytes: 600,
            valid: 9,
            other: 1,
            lost: Some(0),
            reordered: Some(0),
            bad_ip_csum: Some(0),
            bad_udp_csum: Some(0),
            restarts: Some(0),
            flows_seen: Some(2),
            per_flow: Some(vec![5, 4]),
            seconds: 1.0,
            wall_seconds: 2.0,
            mpps: 0.000009,
        };
        assert!(r.text().contains("9 valid"));
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["per_flow"], serde_json::json!([5, 4]));
        assert_eq!(j["lost"], 0);
    }
}
