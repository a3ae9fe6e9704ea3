//! The generator's frames: an Ethernet/IPv4/UDP template, the xvs-pktgen signature at
//! the start of the UDP payload, cheap per-frame stamping (flow, sequence number, UDP
//! checksum from a precomputed base sum) and the sink's parser.
//!
//! Layout (untagged, IPv4 without options; offsets from the start of the frame):
//!
//! | offset | field |
//! |-------:|-------|
//! | 0 | Ethernet: dst MAC, src MAC, type 0x0800 |
//! | 14 | IPv4: 0x45, ToS 0, total length, id = run id, DF, TTL 64, UDP, checksum, src, dst |
//! | 34 | UDP: src port, dst port = base + flow, length, checksum |
//! | 42 | signature: "XVS1", flow index (be32), sequence number within the flow (be64) |
//! | 58 | zero padding up to the frame size |
//!
//! With `FrameSpec::vxlan` the frame above becomes the inner frame of a VXLAN packet:
//! Ethernet (outer dst MAC, the spec's src MAC) / IPv4 (valid header checksum, DF) /
//! UDP (source port `VXLAN_SRC_PORT`, destination 4789, checksum 0) / VXLAN (flags
//! 0x08, VNI) come first, `VXLAN_LEN` (50) bytes, and every offset above moves by that
//! much (`Template::inner_off`; bpf/xvs_gen.bpf.c is told it in its configuration).
//! The frame size (`--size`) is the inner frame's; the packet is 50 bytes longer.
//!
//! The IPv4 identification field carries a run id (random per generator run): the sink
//! uses it to tell a restarted generator from reordered frames. bpf/xvs_gen.bpf.c
//! writes the same offsets.

use std::net::Ipv4Addr;

use anyhow::{bail, Result};

pub const MAGIC: [u8; 4] = *b"XVS1";
pub const ETH_LEN: usize = 14;
pub const IPV4_LEN: usize = 20;
pub const UDP_LEN: usize = 8;
pub const SIG_LEN: usize = 16;
pub const OFF_IP: usize = ETH_LEN;
pub const OFF_UDP: usize = ETH_LEN + IPV4_LEN;
pub const OFF_DPORT: usize = OFF_UDP + 2;
pub const OFF_UDP_CSUM: usize = OFF_UDP + 6;
pub const OFF_SIG: usize = OFF_UDP + UDP_LEN;
pub const OFF_FLOW: usize = OFF_SIG + 4;
pub const OFF_SEQ: usize = OFF_SIG + 8;
/// Smallest frame that holds the signature.
pub const MIN_SIZE: usize = OFF_SIG + SIG_LEN;
/// Largest frame (no FCS) for a 1500-byte MTU; frames are never multi-buffer.
pub const MAX_SIZE: usize = 1514;
/// Outer Ethernet + IPv4 + UDP + VXLAN headers in front of the inner frame.
pub const VXLAN_LEN: usize = ETH_LEN + IPV4_LEN + UDP_LEN + 8;
/// The outer UDP source port of generated VXLAN packets (one outer flow; the inner
/// UDP destination port is what varies).
pub const VXLAN_SRC_PORT: u16 = 49152;
pub const VXLAN_DST_PORT: u16 = 4789;
/// Highest flow index the sink tracks (the flow is also the UDP port offset).
pub const MAX_FLOWS: u32 = 65536;

/// What the generator sends.
#[derive(Clone, Debug)]
pub struct FrameSpec {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub src_port: u16,
    /// UDP destination port of flow 0; flow i uses `dst_port + i`.
    pub dst_port: u16,
    pub flows: u32,
    /// Frame length without FCS (60 = a 64-byte frame on the wire).
    pub size: usize,
    /// Written to the IPv4 identification field.
    pub run_id: u16,
    /// Send the frame VXLAN-encapsulated.
    pub vxlan: Option<VxlanOuter>,
}

/// The outer headers of a VXLAN-encapsulated frame (what a tunnel peer sends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VxlanOuter {
    pub vni: u32,
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub dst_mac: [u8; 6],
}

impl VxlanOuter {
    /// "VNI,OUTER_SRC_IP,OUTER_DST_IP,OUTER_DST_MAC"
    pub fn parse(s: &str) -> Result<VxlanOuter> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let [vni, src, dst, mac] = parts[..] else {
            bail!("--vxlan wants VNI,OUTER_SRC_IP,OUTER_DST_IP,OUTER_DST_MAC, not '{s}'");
        };
        let vni = match vni.strip_prefix("0x") {
            Some(h) => u32::from_str_radix(h, 16),
            None => vni.parse(),
        }
        .map_err(|_| anyhow::anyhow!("bad VNI '{vni}'"))?;
        if vni >= 1 << 24 {
            bail!("VNI {vni} does not fit in 24 bits");
        }
        Ok(VxlanOuter {
            vni,
            src_ip: src.parse().map_err(|_| anyhow::anyhow!("bad outer source IP '{src}'"))?,
            dst_ip: dst.parse().map_err(|_| anyhow::anyhow!("bad outer destination IP '{dst}'"))?,
            dst_mac: super::parse_mac(mac)?,
        })
    }
}

impl FrameSpec {
    pub fn validate(&self) -> Result<()> {
        if !(MIN_SIZE..=MAX_SIZE).contains(&self.size) {
            bail!(
                "frame size {} out of range {MIN_SIZE}..={MAX_SIZE}",
                self.size
            );
        }
        if self.vxlan.is_some() && self.size + VXLAN_LEN > MAX_SIZE {
            bail!(
                "frame size {} + {VXLAN_LEN} bytes of VXLAN headers exceeds {MAX_SIZE}",
                self.size
            );
        }
        if self.flows == 0 {
            bail!("need at least one flow");
        }
        if self.dst_port as u32 + self.flows - 1 > 65535 {
            bail!(
                "dst-port {} + {} flows runs past port 65535",
                self.dst_port,
                self.flows
            );
        }
        Ok(())
    }
}

#[inline]
fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

#[inline]
fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_be_bytes());
}

/// Ones'-complement sum of big-endian 16-bit words (a trailing odd byte is padded
/// with zero), not folded.
#[inline]
pub fn sum_words(bytes: &[u8]) -> u64 {
    let mut s = 0u64;
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        s += u16::from_be_bytes([c[0], c[1]]) as u64;
    }
    if let [last] = chunks.remainder() {
        s += (*last as u64) << 8;
    }
    s
}

/// Fold a sum to 16 bits (no complement).
#[inline]
pub fn fold(mut s: u64) -> u16 {
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Sum of the IPv4 pseudo header of a UDP datagram of `udp_len` bytes.
#[inline]
fn pseudo_sum(src: &[u8], dst: &[u8], udp_len: u16) -> u64 {
    sum_words(src) + sum_words(dst) + 17 + udp_len as u64
}

/// Sum of the per-frame variable fields (destination port, flow, sequence number).
#[inline]
fn variable_sum(dport: u16, flow: u32, seq: u64) -> u64 {
    dport as u64
        + (flow >> 16) as u64
        + (flow & 0xffff) as u64
        + (seq >> 48)
        + ((seq >> 32) & 0xffff)
        + ((seq >> 16) & 0xffff)
        + (seq & 0xffff)
}

/// A frame ready to be copied into buffers, and what `stamp` needs to make frame
/// (flow, seq) of it.
#[derive(Clone, Debug)]
pub struct Template {
    /// The frame of flow 0, sequence number 0.
    pub bytes: Vec<u8>,
    /// Folded ones'-complement sum of everything the UDP checksum covers, with the
    /// destination port, flow, sequence number and checksum fields taken as 0.
    pub csum_base: u16,
    pub dst_port: u16,
    /// Where the (inner) Ethernet/IPv4/UDP frame starts: 0, or `VXLAN_LEN` with
    /// outer VXLAN headers. Every `OFF_*` offset is relative to it.
    pub inner_off: usize,
}

impl Template {
    pub fn new(spec: &FrameSpec) -> Result<Template> {
        spec.validate()?;
        let size = spec.size;
        let mut b = vec![0u8; size];
        b[0..6].copy_from_slice(&spec.dst_mac);
        b[6..12].copy_from_slice(&spec.src_mac);
        put16(&mut b, 12, 0x0800);
        let ip = OFF_IP;
        b[ip] = 0x45;
        put16(&mut b, ip + 2, (size - ETH_LEN) as u16);
        put16(&mut b, ip + 4, spec.run_id);
        put16(&mut b, ip + 6, 0x4000); // DF
        b[ip + 8] = 64;
        b[ip + 9] = 17;
        b[ip + 12..ip + 16].copy_from_slice(&spec.src_ip.octets());
        b[ip + 16..ip + 20].copy_from_slice(&spec.dst_ip.octets());
        let ip_csum = !fold(sum_words(&b[ip..ip + IPV4_LEN]));
        put16(&mut b, ip + 10, ip_csum);
        let udp_len = (size - OFF_UDP) as u16;
        put16(&mut b, OFF_UDP, spec.src_port);
        put16(&mut b, OFF_UDP + 4, udp_len);
        b[OFF_SIG..OFF_SIG + 4].copy_from_slice(&MAGIC);
        // Variable fields are still zero here.
        let base = pseudo_sum(&b[ip + 12..ip + 16], &b[ip + 16..ip + 20], udp_len)
            + sum_words(&b[OFF_UDP..]);
        let (b, inner_off) = match &spec.vxlan {
            None => (b, 0),
            Some(o) => (vxlan_outer(spec, o, &b), VXLAN_LEN),
        };
        let mut t = Template {
            bytes: b,
            csum_base: fold(base),
            dst_port: spec.dst_port,
            inner_off,
        };
        let mut bytes = std::mem::take(&mut t.bytes);
        t.stamp(&mut bytes, 0, 0);
        t.bytes = bytes;
        Ok(t)
    }

    /// UDP checksum of frame (flow, seq).
    #[inline]
    pub fn udp_csum(&self, flow: u32, seq: u64) -> u16 {
        let dport = self.dst_port.wrapping_add(flow as u16);
        let c = !fold(self.csum_base as u64 + variable_sum(dport, flow, seq));
        if c == 0 {
            0xffff
        } else {
            c
        }
    }

    /// Turn `buf`, a copy of `bytes`, into frame (flow, seq): destination port,
    /// signature and UDP checksum. Everything else of the template is left as is.
    #[inline]
    pub fn stamp(&self, buf: &mut [u8], flow: u32, seq: u64) {
        let buf = &mut buf[self.inner_off..];
        let dport = self.dst_port.wrapping_add(flow as u16);
        put16(buf, OFF_DPORT, dport);
        buf[OFF_FLOW..OFF_FLOW + 4].copy_from_slice(&flow.to_be_bytes());
        buf[OFF_SEQ..OFF_SEQ + 8].copy_from_slice(&seq.to_be_bytes());
        put16(buf, OFF_UDP_CSUM, self.udp_csum(flow, seq));
    }

    /// A fresh copy of frame (flow, seq).
    pub fn frame(&self, flow: u32, seq: u64) -> Vec<u8> {
        let mut v = self.bytes.clone();
        self.stamp(&mut v, flow, seq);
        v
    }
}

/// `inner` behind outer Ethernet/IPv4/UDP/VXLAN headers.
fn vxlan_outer(spec: &FrameSpec, o: &VxlanOuter, inner: &[u8]) -> Vec<u8> {
    let len = VXLAN_LEN + inner.len();
    let mut b = vec![0u8; len];
    b[0..6].copy_from_slice(&o.dst_mac);
    b[6..12].copy_from_slice(&spec.src_mac);
    put16(&mut b, 12, 0x0800);
    let ip = ETH_LEN;
    b[ip] = 0x45;
    put16(&mut b, ip + 2, (len - ETH_LEN) as u16);
    put16(&mut b, ip + 4, spec.run_id);
    put16(&mut b, ip + 6, 0x4000); // DF
    b[ip + 8] = 64;
    b[ip + 9] = 17;
    b[ip + 12..ip + 16].copy_from_slice(&o.src_ip.octets());
    b[ip + 16..ip + 20].copy_from_slice(&o.dst_ip.octets());
    let c = !fold(sum_words(&b[ip..ip + IPV4_LEN]));
    put16(&mut b, ip + 10, c);
    let udp = ip + IPV4_LEN;
    put16(&mut b, udp, VXLAN_SRC_PORT);
    put16(&mut b, udp + 2, VXLAN_DST_PORT);
    put16(&mut b, udp + 4, (len - udp) as u16);
    // UDP checksum 0 (RFC 7348 allows it over IPv4).
    let vx = udp + UDP_LEN;
    b[vx] = 0x08; // I flag: the VNI is valid
    b[vx + 4..vx + 7].copy_from_slice(&o.vni.to_be_bytes()[1..]);
    b[VXLAN_LEN..].copy_from_slice(inner);
    b
}

/// What the sink found in a frame's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature {
    pub flow: u32,
    pub seq: u64,
    /// The IPv4 identification field: the generator's run id.
    pub run: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Signature present, IPv4 and UDP checksums correct (or UDP checksum 0).
    Valid(Signature),
    /// Signature present, wrong IPv4 header checksum.
    BadIpCsum,
    /// Signature present, wrong UDP checksum.
    BadUdpCsum,
    /// Not one of our frames.
    Other,
}

/// Classify a received frame: untagged or with up to two VLAN tags, IPv4 (options
/// allowed, not fragmented), UDP, signature at the start of the payload.
#[inline]
pub fn inspect(f: &[u8]) -> Verdict {
    if f.len() < ETH_LEN {
        return Verdict::Other;
    }
    let mut ethertype = be16(f, 12);
    let mut ip = ETH_LEN;
    for _ in 0..2 {
        if ethertype != 0x8100 && ethertype != 0x88a8 {
            break;
        }
        if f.len() < ip + 4 {
            return Verdict::Other;
        }
        ethertype = be16(f, ip + 2);
        ip += 4;
    }
    if ethertype != 0x0800 || f.len() < ip + IPV4_LEN || f[ip] >> 4 != 4 {
        return Verdict::Other;
    }
    let ihl = (f[ip] & 0xf) as usize * 4;
    let tot_len = be16(f, ip + 2) as usize;
    if ihl < IPV4_LEN || tot_len < ihl + UDP_LEN || ip + tot_len > f.len() {
        return Verdict::Other;
    }
    if f[ip + 9] != 17 || be16(f, ip + 6) & 0x3fff != 0 {
        return Verdict::Other;
    }
    let udp = ip + ihl;
    let udp_len = be16(f, udp + 4) as usize;
    let pl = udp + UDP_LEN;
    if udp_len < UDP_LEN + SIG_LEN || udp_len > tot_len - ihl || f[pl..pl + 4] != MAGIC {
        return Verdict::Other;
    }
    let sig = Signature {
        flow: u32::from_be_bytes(f[pl + 4..pl + 8].try_into().unwrap()),
        seq: u64::from_be_bytes(f[pl + 8..pl + 16].try_into().unwrap()),
        run: be16(f, ip + 4),
    };
    if fold(sum_words(&f[ip..ip + ihl])) != 0xffff {
        return Verdict::BadIpCsum;
    }
    if be16(f, udp + 6) != 0 {
        let s = pseudo_sum(&f[ip + 12..ip + 16], &f[ip + 16..ip + 20], udp_len as u16)
            + sum_words(&f[udp..udp + udp_len]);
        if fold(s) != 0xffff {
            return Verdict::BadUdpCsum;
        }
    }
    Verdict::Valid(sig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetHeaders, PacketBuilder, PacketHeaders, TransportHeader};

    fn spec(flows: u32, size: usize) -> FrameSpec {
        FrameSpec {
            src_mac: [0x02, 0, 0, 0, 0, 0x01],
            dst_mac: [0x02, 0, 0, 0, 0, 0x02],
            src_ip: Ipv4Addr::new(10, 77, 0, 1),
            dst_ip: Ipv4Addr::new(10, 77, 0, 2),
            src_port: 4321,
            dst_port: 10000,
            flows,
            size,
            run_id: 0x1234,
            vxlan: None,
        }
    }

    #[test]
    fn vxlan_frames() {
        let mut s = spec(100, 60);
        s.vxlan = Some(VxlanOuter::parse("100,10.89.0.2,10.89.0.1,02:00:00:00:00:aa").unwrap());
        let t = Template::new(&s).unwrap();
        assert_eq!(t.inner_off, VXLAN_LEN);
        let f = t.frame(7, 3);
        assert_eq!(f.len(), 110);
        let h = PacketHeaders::from_ethernet_slice(&f).unwrap();
        let Some(NetHeaders::Ipv4(ip, _)) = &h.net else { panic!("not IPv4") };
        assert_eq!(ip.header_checksum, ip.calc_header_checksum());
        assert_eq!(ip.total_len, 96);
        assert_eq!(ip.source, [10, 89, 0, 2]);
        assert_eq!(ip.destination, [10, 89, 0, 1]);
        let Some(TransportHeader::Udp(udp)) = &h.transport else { panic!("not UDP") };
        assert_eq!((udp.source_port, udp.destination_port, udp.length, udp.checksum), (49152, 4789, 76, 0));
        assert_eq!(&f[..6], &[2, 0, 0, 0, 0, 0xaa]);
        assert_eq!(&f[42..50], &[0x08, 0, 0, 0, 0, 0, 100, 0]);
        // The inner frame is exactly the unencapsulated one.
        let plain = Template::new(&spec(100, 60)).unwrap().frame(7, 3);
        assert_eq!(&f[50..], &plain[..]);
        check_with_etherparse(&f[50..], 7, 3);
        assert!(VxlanOuter::parse("1,2,3").is_err());
        assert!(VxlanOuter::parse("16777216,10.0.0.1,10.0.0.2,02:00:00:00:00:01").is_err());
        assert_eq!(VxlanOuter::parse("0x64,10.0.0.1,10.0.0.2,02:00:00:00:00:01").unwrap().vni, 100);
        s.size = MAX_SIZE - VXLAN_LEN + 1;
        assert!(s.validate().is_err());
    }

    /// Check a frame with etherparse: headers, lengths, both checksums, signature.
    fn check_with_etherparse(f: &[u8], flow: u32, seq: u64) {
        let h = PacketHeaders::from_ethernet_slice(f).expect("etherparse parses the frame");
        let Some(NetHeaders::Ipv4(ip, _)) = &h.net else {
            panic!("not IPv4")
        };
        let Some(TransportHeader::Udp(udp)) = &h.transport else {
            panic!("not UDP")
        };
        assert_eq!(ip.header_checksum, ip.calc_header_checksum());
        assert_eq!(ip.total_len as usize, f.len() - ETH_LEN);
        assert_eq!(ip.identification, 0x1234);
        assert!(ip.dont_fragment);
        let payload = h.payload.slice();
        assert_eq!(udp.length as usize, UDP_LEN + payload.len());
        assert_eq!(udp.checksum, udp.calc_checksum_ipv4(ip, payload).unwrap());
        assert_eq!(udp.destination_port as u32, 10000 + flow);
        assert_eq!(&payload[..4], b"XVS1");
        assert_eq!(u32::from_be_bytes(payload[4..8].try_into().unwrap()), flow);
        assert_eq!(u64::from_be_bytes(payload[8..16].try_into().unwrap()), seq);
    }

    #[test]
    fn template_bytes() {
        let t = Template::new(&spec(1, 60)).unwrap();
        #[rustfmt::skip]
        let want: [u8; 60] = [
            // Ethernet
            0x02, 0, 0, 0, 0, 0x02,  0x02, 0, 0, 0, 0, 0x01,  0x08, 0x00,
            // IPv4: total length 46, id 0x1234, DF, TTL 64, UDP, checksum 0x13ef
            0x45, 0x00, 0x00, 0x2e,  0x12, 0x34, 0x40, 0x00,  0x40, 0x11, 0x13, 0xef,
            10, 77, 0, 1,  10, 77, 0, 2,
            // UDP 4321 -> 10000, length 26, checksum 0x07a5
            0x10, 0xe1, 0x27, 0x10,  0x00, 0x1a, 0x07, 0xa5,
            // signature: XVS1, flow 0, seq 0
            b'X', b'V', b'S', b'1',  0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0,
            // padding
            0, 0,
        ];
        assert_eq!(t.bytes, want);
        check_with_etherparse(&t.bytes, 0, 0);
    }

    #[test]
    fn stamped_frames_have_valid_checksums() {
        let t = Template::new(&spec(1000, 60)).unwrap();
        for &(flow, seq) in &[
            (0, 0),
            (1, 0),
            (999, 1),
            (7, 0xffff),
            (12, 0x0123_4567_89ab_cdef),
            (999, u64::MAX),
        ] {
            let f = t.frame(flow, seq);
            check_with_etherparse(&f, flow, seq);
            assert_eq!(
                inspect(&f),
                Verdict::Valid(Signature {
                    flow,
                    seq,
                    run: 0x1234
                })
            );
        }
        // Odd sizes and big frames too.
        for size in [MIN_SIZE, 61, 127, 1514] {
            let t = Template::new(&spec(3, size)).unwrap();
            let f = t.frame(2, 77);
            assert_eq!(f.len(), size);
            check_with_etherparse(&f, 2, 77);
            assert_eq!(
                inspect(&f),
                Verdict::Valid(Signature {
                    flow: 2,
                    seq: 77,
                    run: 0x1234
                })
            );
        }
    }

    #[test]
    fn stamp_in_place_matches_fresh_frame() {
        // A buffer reused from an earlier frame ends up identical to a fresh one.
        let t = Template::new(&spec(50, 64)).unwrap();
        let mut buf = t.frame(49, 1_000_000);
        t.stamp(&mut buf, 3, 17);
        assert_eq!(buf, t.frame(3, 17));
    }

    #[test]
    fn checksum_zero_becomes_ffff() {
        // Find a (flow, seq) whose checksum would be 0 and check it is sent as 0xffff.
        let t = Template::new(&spec(1, 60)).unwrap();
        // seq words sum to whatever makes the folded sum 0xffff.
        let need = 0xffff - (t.csum_base as i64 + t.dst_port as i64);
        let seq = if need >= 0 {
            need as u64
        } else {
            (need + 0xffff) as u64
        };
        assert_eq!(t.udp_csum(0, seq), 0xffff);
        let f = t.frame(0, seq);
        check_with_etherparse(&f, 0, seq);
    }

    #[test]
    fn inspect_rejects_and_flags() {
        let t = Template::new(&spec(4, 60)).unwrap();
        let good = t.frame(1, 5);
        let mut bad_ip = good.clone();
        bad_ip[OFF_IP + 8] = 63; // TTL changed, checksum not updated
        assert_eq!(inspect(&bad_ip), Verdict::BadIpCsum);
        let mut bad_udp = good.clone();
        bad_udp[OFF_SEQ + 7] ^= 1;
        assert_eq!(inspect(&bad_udp), Verdict::BadUdpCsum);
        let mut no_csum = good.clone();
        put16(&mut no_csum, OFF_UDP_CSUM, 0);
        assert!(matches!(inspect(&no_csum), Verdict::Valid(_)));
        let mut no_magic = good.clone();
        no_magic[OFF_SIG] = b'Y';
        assert_eq!(inspect(&no_magic), Verdict::Other);
        assert_eq!(inspect(&good[..40]), Verdict::Other);
        assert_eq!(inspect(&[]), Verdict::Other);
        let mut arp = good.clone();
        put16(&mut arp, 12, 0x0806);
        assert_eq!(inspect(&arp), Verdict::Other);
        let mut frag = good.clone();
        put16(&mut frag, OFF_IP + 6, 0x2000); // MF
        assert_eq!(inspect(&frag), Verdict::Other);
    }

    #[test]
    fn inspect_vlan_and_foreign_builder() {
        // A frame built by etherparse with a VLAN tag and our signature as payload.
        let mut payload = Vec::new();
        payload.extend_from_slice(b"XVS1");
        payload.extend_from_slice(&9u32.to_be_bytes());
        payload.extend_from_slice(&42u64.to_be_bytes());
        payload.extend_from_slice(&[0xaa; 5]);
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .single_vlan(100.try_into().unwrap())
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(1, 2);
        let mut f = Vec::new();
        b.write(&mut f, &payload).unwrap();
        match inspect(&f) {
            Verdict::Valid(s) => assert_eq!((s.flow, s.seq), (9, 42)),
            v => panic!("{v:?}"),
        }
        // Ethernet padding after the IP datagram is ignored.
        f.extend_from_slice(&[0; 8]);
        assert!(matches!(inspect(&f), Verdict::Valid(_)));
    }

    #[test]
    fn spec_validation() {
        assert!(Template::new(&spec(1, MIN_SIZE - 1)).is_err());
        assert!(Template::new(&spec(1, MAX_SIZE + 1)).is_err());
        assert!(Template::new(&spec(0, 60)).is_err());
        let mut s = spec(55536, 60);
        assert!(s.validate().is_ok());
        s.flows = 55537;
        assert!(s.validate().is_err());
    }
}
