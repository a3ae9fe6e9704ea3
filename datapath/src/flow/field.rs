//! The table of matchable/settable fields: their names (ovs-ofctl, NXM and OXM
//! spellings), where they live in a [`FlowKey`], their width, how they print, and
//! which other matches they require (prerequisites).
//!
//! Several names share one location, exactly as in Open vSwitch: `nw_src` and
//! `arp_spa` are the same 32 bits; `tp_src` holds `icmp_type`; `nw_proto` holds the
//! low byte of `arp_op`; `arp_sha` holds `nd_sll`. `dl_vlan`, `vlan_vid` and
//! `dl_vlan_pcp` are views of `vlan_tci`.

use super::key::{word, FlowKey};

/// How a field's value is written in flow text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fmt {
    Dec,
    Hex,
    Mac,
    Ipv4,
    Ipv6,
    /// `in_port`-like: decimal, or a reserved port name (LOCAL, IN_PORT, ...).
    Port,
    /// `ip_frag`: no/yes/first/later/not_later.
    Frag,
    /// `tcp_flags`: +syn-ack... or hex.
    TcpFlags,
    /// `ct_state`: +trk+new... or hex.
    CtState,
    /// `tun_flags`: +oam... (flags with names).
    TunFlags,
}

/// Matches a field needs before it means anything (OpenFlow prerequisites).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prereq {
    None,
    /// VLAN header present (dl_vlan_pcp/vlan_pcp).
    Vlan,
    /// dl_type is ARP or RARP.
    Arp,
    /// dl_type is IPv4.
    Ipv4,
    /// dl_type is IPv6.
    Ipv6,
    /// dl_type is IPv4 or IPv6.
    Ip,
    /// IPv4/IPv6 with nw_proto TCP.
    Tcp,
    /// IPv4/IPv6 with nw_proto UDP.
    Udp,
    /// IPv4/IPv6 with nw_proto SCTP.
    Sctp,
    /// IPv4 ICMP.
    Icmp,
    /// IPv6 ICMPv6.
    Icmpv6,
    /// ICMPv6 neighbour solicitation or advertisement.
    Nd,
    /// ICMPv6 neighbour solicitation.
    NdSolicit,
    /// ICMPv6 neighbour advertisement.
    NdAdvert,
}

#[derive(Debug)]
pub struct FieldInfo {
    /// Preferred name (what dump-flows prints).
    pub name: &'static str,
    /// Other accepted names in match/set_field text.
    pub aliases: &'static [&'static str],
    /// NXM name (used by load:/move:/learn), if any.
    pub nxm: Option<&'static str>,
    /// OXM name, if any.
    pub oxm: Option<&'static str>,
    /// Field width in bits (as seen by OpenFlow; may be narrower than its slot).
    pub bits: u32,
    /// Word index in the key (the high word for 128-bit fields).
    pub word: usize,
    /// Bit offset of the field's least significant bit within its word (0 for 128-bit).
    pub shift: u32,
    pub fmt: Fmt,
    pub maskable: bool,
    pub writable: bool,
    pub prereq: Prereq,
}

macro_rules! fields {
    ($( $var:ident => { $($body:tt)* } ),* $(,)?) => {
        /// A field. `Field as usize` indexes [`FIELDS`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Field { $($var),* }

        pub static FIELDS: &[FieldInfo] = &[ $( FieldInfo { $($body)* } ),* ];

        impl Field {
            pub const ALL: &'static [Field] = &[ $(Field::$var),* ];
        }
    };
}

fields! {
    InPort => { name: "in_port", aliases: &[], nxm: Some("NXM_OF_IN_PORT"), oxm: Some("OXM_OF_IN_PORT"),
        bits: 16, word: word::META, shift: 0, fmt: Fmt::Port, maskable: false, writable: true, prereq: Prereq::None },
    RecircId => { name: "recirc_id", aliases: &[], nxm: None, oxm: None,
        bits: 32, word: word::META, shift: 32, fmt: Fmt::Hex, maskable: false, writable: false, prereq: Prereq::None },
    EthDst => { name: "dl_dst", aliases: &["eth_dst"], nxm: Some("NXM_OF_ETH_DST"), oxm: Some("OXM_OF_ETH_DST"),
        bits: 48, word: word::DL_DST_TCI, shift: 16, fmt: Fmt::Mac, maskable: true, writable: true, prereq: Prereq::None },
    VlanTci => { name: "vlan_tci", aliases: &[], nxm: Some("NXM_OF_VLAN_TCI"), oxm: None,
        bits: 16, word: word::DL_DST_TCI, shift: 0, fmt: Fmt::Hex, maskable: true, writable: true, prereq: Prereq::None },
    // OpenFlow 1.3 VLAN id: 12-bit VID plus the 0x1000 "present" bit.
    VlanVid => { name: "vlan_vid", aliases: &[], nxm: None, oxm: Some("OXM_OF_VLAN_VID"),
        bits: 13, word: word::DL_DST_TCI, shift: 0, fmt: Fmt::Dec, maskable: true, writable: true, prereq: Prereq::None },
    // OpenFlow 1.0 VLAN id: 12 bits; matching it implies "VLAN present".
    DlVlan => { name: "dl_vlan", aliases: &[], nxm: None, oxm: None,
        bits: 12, word: word::DL_DST_TCI, shift: 0, fmt: Fmt::Dec, maskable: false, writable: true, prereq: Prereq::None },
    DlVlanPcp => { name: "dl_vlan_pcp", aliases: &["vlan_pcp"], nxm: None, oxm: Some("OXM_OF_VLAN_PCP"),
        bits: 3, word: word::DL_DST_TCI, shift: 13, fmt: Fmt::Dec, maskable: false, writable: true, prereq: Prereq::None },
    EthSrc => { name: "dl_src", aliases: &["eth_src"], nxm: Some("NXM_OF_ETH_SRC"), oxm: Some("OXM_OF_ETH_SRC"),
        bits: 48, word: word::DL_SRC_TYPE, shift: 16, fmt: Fmt::Mac, maskable: true, writable: true, prereq: Prereq::None },
    EthType => { name: "dl_type", aliases: &["eth_type"], nxm: Some("NXM_OF_ETH_TYPE"), oxm: Some("OXM_OF_ETH_TYPE"),
        bits: 16, word: word::DL_SRC_TYPE, shift: 0, fmt: Fmt::Hex, maskable: false, writable: false, prereq: Prereq::None },
    Ipv4Src => { name: "nw_src", aliases: &["ip_src", "ipv4_src"], nxm: Some("NXM_OF_IP_SRC"), oxm: Some("OXM_OF_IPV4_SRC"),
        bits: 32, word: word::NW_ADDRS, shift: 32, fmt: Fmt::Ipv4, maskable: true, writable: true, prereq: Prereq::Ipv4 },
    Ipv4Dst => { name: "nw_dst", aliases: &["ip_dst", "ipv4_dst"], nxm: Some("NXM_OF_IP_DST"), oxm: Some("OXM_OF_IPV4_DST"),
        bits: 32, word: word::NW_ADDRS, shift: 0, fmt: Fmt::Ipv4, maskable: true, writable: true, prereq: Prereq::Ipv4 },
    ArpSpa => { name: "arp_spa", aliases: &[], nxm: Some("NXM_OF_ARP_SPA"), oxm: Some("OXM_OF_ARP_SPA"),
        bits: 32, word: word::NW_ADDRS, shift: 32, fmt: Fmt::Ipv4, maskable: true, writable: true, prereq: Prereq::Arp },
    ArpTpa => { name: "arp_tpa", aliases: &[], nxm: Some("NXM_OF_ARP_TPA"), oxm: Some("OXM_OF_ARP_TPA"),
        bits: 32, word: word::NW_ADDRS, shift: 0, fmt: Fmt::Ipv4, maskable: true, writable: true, prereq: Prereq::Arp },
    IpProto => { name: "nw_proto", aliases: &["ip_proto"], nxm: Some("NXM_OF_IP_PROTO"), oxm: Some("OXM_OF_IP_PROTO"),
        bits: 8, word: word::NW_L4, shift: 56, fmt: Fmt::Dec, maskable: false, writable: false, prereq: Prereq::Ip },
    // arp_op lives in the nw_proto byte, as in Open vSwitch (ARP opcodes fit in 8 bits).
    ArpOp => { name: "arp_op", aliases: &[], nxm: Some("NXM_OF_ARP_OP"), oxm: Some("OXM_OF_ARP_OP"),
        bits: 8, word: word::NW_L4, shift: 56, fmt: Fmt::Dec, maskable: false, writable: true, prereq: Prereq::Arp },
    // nw_tos is the whole TOS byte; only its DSCP bits (0xfc) may be matched/set.
    NwTos => { name: "nw_tos", aliases: &["ip_tos"], nxm: Some("NXM_OF_IP_TOS"), oxm: None,
        bits: 8, word: word::NW_L4, shift: 48, fmt: Fmt::Dec, maskable: false, writable: true, prereq: Prereq::Ip },
    IpDscp => { name: "ip_dscp", aliases: &[], nxm: None, oxm: Some("OXM_OF_IP_DSCP"),
        bits: 6, word: word::NW_L4, shift: 50, fmt: Fmt::Dec, maskable: false, writable: true, prereq: Prereq::Ip },
    NwEcn => { name: "nw_ecn", aliases: &["ip_ecn"], nxm: Some("NXM_NX_IP_ECN"), oxm: Some("OXM_OF_IP_ECN"),
        bits: 2, word: word::NW_L4, shift: 48, fmt: Fmt::Dec, maskable: false, writable: true, prereq: Prereq::Ip },
    NwTtl => { name: "nw_ttl", aliases: &[], nxm: Some("NXM_NX_IP_TTL"), oxm: None,
        bits: 8, word: word::NW_L4, shift: 40, fmt: Fmt::Dec, maskable: false, writable: true, prereq: Prereq::Ip },
    IpFrag => { name: "ip_frag", aliases: &["nw_frag"], nxm: Some("NXM_NX_IP_FRAG"), oxm: None,
        bits: 2, word: word::NW_L4, shift: 32, fmt: Fmt::Frag, maskable: true, writable: false, prereq: Prereq::Ip },
    TpSrc => { name: "tp_src", aliases: &[], nxm: None, oxm: None,
        bits: 16, word: word::NW_L4, shift: 16, fmt: Fmt::Dec, maskable: true, writable: true, prereq: Prereq::None },
    TpDst => { name: "tp_dst", aliases: &[], nxm: None, oxm: None,
        bits: 16, word: word::NW_L4, shift: 0, fmt: Fmt::Dec, maskable: true, writable: true, prereq: Prereq::None },
    TcpSrc => { name: "tcp_src", aliases: &[], nxm: Some("NXM_OF_TCP_SRC"), oxm: Some("OXM_OF_TCP_SRC"),
        bits: 16, word: word::NW_L4, shift: 16, fmt: Fmt::Dec, maskable: true, writable: true, prereq: Prereq::Tcp },
    TcpDst => { name: "tcp_dst", aliases: &[], nxm: Some("NXM_OF_TCP_DST"), oxm: Some("OXM_OF_TCP_DST"),
        bits: 16, word: word::NW_L4, shift: 0, fmt: Fmt::Dec, maskable: true, writable: true, prereq: Prereq::Tcp },
    UdpSrc => { name: "udp_src", aliases: &[], nxm: Some("NXM_OF_UDP_SRC"), oxm: Some("OXM_OF_UDP_SRC"),
        bits: 16, word: word::NW_L4, shift: 16, fmt: Fmt::Dec, maskable: true, writable: true, prereq: Prereq::Udp },
    UdpDst => { name: "udp_dst", aliases: &[], nxm: Some("NXM_OF_UDP_DST"), oxm: Some("OXM_OF_UDP_DST"),
        bits: 16, word: word::NW_L4, shift: 0, fmt: Fmt::Dec, maskable: true, writable: true, prereq: Prereq::Udp },
    SctpSrc => { name: "sctp_src", aliases: &[], nxm: None, oxm: Some("OXM_OF_SCTP_SRC"),
        bits: 16, word: word::NW_L4, shift: 16, fmt: Fmt::Dec, maskable: true, writable: true, prereq: Prereq::Sctp },
    SctpDst => { name: "sctp_dst", aliases: &[], nxm: None, oxm: Some("OXM_OF_SCTP_DST"),
        bits: 16, word: word::NW_L4, shift: 0, fmt: Fmt::Dec, maskable: true, writable: true, prereq: Prereq::Sctp },
    IcmpType => { name: "icmp_type", aliases: &["icmpv4_type"], nxm: Some("NXM_OF_ICMP_TYPE"), oxm: Some("OXM_OF_ICMPV4_TYPE"),
        bits: 8, word: word::NW_L4, shift: 16, fmt: Fmt::Dec, maskable: false, writable: true, prereq: Prereq::Icmp },
    IcmpCode => { name: "icmp_code", aliases: &["icmpv4_code"], nxm: Some("NXM_OF_ICMP_CODE"), oxm: Some("OXM_OF_ICMPV4_CODE"),
        bits: 8, word: word::NW_L4, shift: 0, fmt: Fmt::Dec, maskable: false, writable: true, prereq: Prereq::Icmp },
    Icmpv6Type => { name: "icmpv6_type", aliases: &[], nxm: Some("NXM_NX_ICMPV6_TYPE"), oxm: Some("OXM_OF_ICMPV6_TYPE"),
        bits: 8, word: word::NW_L4, shift: 16, fmt: Fmt::Dec, maskable: false, writable: true, prereq: Prereq::Icmpv6 },
    Icmpv6Code => { name: "icmpv6_code", aliases: &[], nxm: Some("NXM_NX_ICMPV6_CODE"), oxm: Some("OXM_OF_ICMPV6_CODE"),
        bits: 8, word: word::NW_L4, shift: 0, fmt: Fmt::Dec, maskable: false, writable: true, prereq: Prereq::Icmpv6 },
    TcpFlags => { name: "tcp_flags", aliases: &[], nxm: Some("NXM_NX_TCP_FLAGS"), oxm: Some("ONF_OXM_TCP_FLAGS"),
        bits: 12, word: word::ARP_SHA, shift: 0, fmt: Fmt::TcpFlags, maskable: true, writable: false, prereq: Prereq::Tcp },
    ArpSha => { name: "arp_sha", aliases: &[], nxm: Some("NXM_NX_ARP_SHA"), oxm: Some("OXM_OF_ARP_SHA"),
        bits: 48, word: word::ARP_SHA, shift: 16, fmt: Fmt::Mac, maskable: true, writable: true, prereq: Prereq::Arp },
    ArpTha => { name: "arp_tha", aliases: &[], nxm: Some("NXM_NX_ARP_THA"), oxm: Some("OXM_OF_ARP_THA"),
        bits: 48, word: word::ARP_THA, shift: 16, fmt: Fmt::Mac, maskable: true, writable: true, prereq: Prereq::Arp },
    NdSll => { name: "nd_sll", aliases: &[], nxm: Some("NXM_NX_ND_SLL"), oxm: Some("OXM_OF_IPV6_ND_SLL"),
        bits: 48, word: word::ARP_SHA, shift: 16, fmt: Fmt::Mac, maskable: true, writable: true, prereq: Prereq::NdSolicit },
    NdTll => { name: "nd_tll", aliases: &[], nxm: Some("NXM_NX_ND_TLL"), oxm: Some("OXM_OF_IPV6_ND_TLL"),
        bits: 48, word: word::ARP_THA, shift: 16, fmt: Fmt::Mac, maskable: true, writable: true, prereq: Prereq::NdAdvert },
    Ipv6Src => { name: "ipv6_src", aliases: &[], nxm: Some("NXM_NX_IPV6_SRC"), oxm: Some("OXM_OF_IPV6_SRC"),
        bits: 128, word: word::IPV6_SRC, shift: 0, fmt: Fmt::Ipv6, maskable: true, writable: true, prereq: Prereq::Ipv6 },
    Ipv6Dst => { name: "ipv6_dst", aliases: &[], nxm: Some("NXM_NX_IPV6_DST"), oxm: Some("OXM_OF_IPV6_DST"),
        bits: 128, word: word::IPV6_DST, shift: 0, fmt: Fmt::Ipv6, maskable: true, writable: true, prereq: Prereq::Ipv6 },
    NdTarget => { name: "nd_target", aliases: &["ipv6_nd_target"], nxm: Some("NXM_NX_ND_TARGET"), oxm: Some("OXM_OF_IPV6_ND_TARGET"),
        bits: 128, word: word::ND_TARGET, shift: 0, fmt: Fmt::Ipv6, maskable: true, writable: true, prereq: Prereq::Nd },
    CtState => { name: "ct_state", aliases: &[], nxm: Some("NXM_NX_CT_STATE"), oxm: None,
        bits: 8, word: word::CT, shift: 56, fmt: Fmt::CtState, maskable: true, writable: false, prereq: Prereq::None },
    CtZone => { name: "ct_zone", aliases: &[], nxm: Some("NXM_NX_CT_ZONE"), oxm: None,
        bits: 16, word: word::CT, shift: 40, fmt: Fmt::Hex, maskable: false, writable: false, prereq: Prereq::None },
    CtMark => { name: "ct_mark", aliases: &[], nxm: Some("NXM_NX_CT_MARK"), oxm: None,
        bits: 32, word: word::CT, shift: 0, fmt: Fmt::Hex, maskable: true, writable: true, prereq: Prereq::None },
    TunId => { name: "tun_id", aliases: &["tunnel_id"], nxm: Some("NXM_NX_TUN_ID"), oxm: Some("OXM_OF_TUNNEL_ID"),
        bits: 64, word: word::TUN_ID, shift: 0, fmt: Fmt::Hex, maskable: true, writable: true, prereq: Prereq::None },
    TunSrc => { name: "tun_src", aliases: &[], nxm: Some("NXM_NX_TUN_IPV4_SRC"), oxm: None,
        bits: 32, word: word::TUN_ADDRS, shift: 32, fmt: Fmt::Ipv4, maskable: true, writable: true, prereq: Prereq::None },
    TunDst => { name: "tun_dst", aliases: &[], nxm: Some("NXM_NX_TUN_IPV4_DST"), oxm: None,
        bits: 32, word: word::TUN_ADDRS, shift: 0, fmt: Fmt::Ipv4, maskable: true, writable: true, prereq: Prereq::None },
    // Tunnel flags of a decapsulated packet (packet::tunnel::tnl_flags); OpenFlow sees
    // only `oam`, as in Open vSwitch (the others show in datapath flows).
    TunFlags => { name: "tun_flags", aliases: &[], nxm: Some("NXM_NX_TUN_FLAGS"), oxm: None,
        bits: 1, word: word::CT, shift: 32, fmt: Fmt::TunFlags, maskable: true, writable: false, prereq: Prereq::None },
    Metadata => { name: "metadata", aliases: &[], nxm: None, oxm: Some("OXM_OF_METADATA"),
        bits: 64, word: word::METADATA, shift: 0, fmt: Fmt::Hex, maskable: true, writable: true, prereq: Prereq::None },
    Reg0 => { name: "reg0", aliases: &[], nxm: Some("NXM_NX_REG0"), oxm: None,
        bits: 32, word: word::REGS, shift: 32, fmt: Fmt::Hex, maskable: true, writable: true, prereq: Prereq::None },
    Reg1 => { name: "reg1", aliases: &[], nxm: Some("NXM_NX_REG1"), oxm: None,
        bits: 32, word: word::REGS, shift: 0, fmt: Fmt::Hex, maskable: true, writable: true, prereq: Prereq::None },
    Reg2 => { name: "reg2", aliases: &[], nxm: Some("NXM_NX_REG2"), oxm: None,
        bits: 32, word: word::REGS + 1, shift: 32, fmt: Fmt::Hex, maskable: true, writable: true, prereq: Prereq::None },
    Reg3 => { name: "reg3", aliases: &[], nxm: Some("NXM_NX_REG3"), oxm: None,
        bits: 32, word: word::REGS + 1, shift: 0, fmt: Fmt::Hex, maskable: true, writable: true, prereq: Prereq::None },
    Reg4 => { name: "reg4", aliases: &[], nxm: Some("NXM_NX_REG4"), oxm: None,
        bits: 32, word: word::REGS + 2, shift: 32, fmt: Fmt::Hex, maskable: true, writable: true, prereq: Prereq::None },
    Reg5 => { name: "reg5", aliases: &[], nxm: Some("NXM_NX_REG5"), oxm: None,
        bits: 32, word: word::REGS + 2, shift: 0, fmt: Fmt::Hex, maskable: true, writable: true, prereq: Prereq::None },
    Reg6 => { name: "reg6", aliases: &[], nxm: Some("NXM_NX_REG6"), oxm: None,
        bits: 32, word: word::REGS + 3, shift: 32, fmt: Fmt::Hex, maskable: true, writable: true, prereq: Prereq::None },
    Reg7 => { name: "reg7", aliases: &[], nxm: Some("NXM_NX_REG7"), oxm: None,
        bits: 32, word: word::REGS + 3, shift: 0, fmt: Fmt::Hex, maskable: true, writable: true, prereq: Prereq::None },
    Xreg0 => { name: "xreg0", aliases: &[], nxm: None, oxm: Some("OXM_OF_PKT_REG0"),
        bits: 64, word: word::REGS, shift: 0, fmt: Fmt::Hex, maskable: true, writable: true, prereq: Prereq::None },
    Xreg1 => { name: "xreg1", aliases: &[], nxm: None, oxm: Some("OXM_OF_PKT_REG1"),
        bits: 64, word: word::REGS + 1, shift: 0, fmt: Fmt::Hex, maskable: true, writable: true, prereq: Prereq::None },
    Xreg2 => { name: "xreg2", aliases: &[], nxm: None, oxm: Some("OXM_OF_PKT_REG2"),
        bits: 64, word: word::REGS + 2, shift: 0, fmt: Fmt::Hex, maskable: true, writable: true, prereq: Prereq::None },
    Xreg3 => { name: "xreg3", aliases: &[], nxm: None, oxm: Some("OXM_OF_PKT_REG3"),
        bits: 64, word: word::REGS + 3, shift: 0, fmt: Fmt::Hex, maskable: true, writable: true, prereq: Prereq::None },
    ConjId => { name: "conj_id", aliases: &[], nxm: None, oxm: None,
        bits: 32, word: word::CONJ, shift: 32, fmt: Fmt::Dec, maskable: false, writable: false, prereq: Prereq::None },
    PktMark => { name: "pkt_mark", aliases: &[], nxm: Some("NXM_NX_PKT_MARK"), oxm: None,
        bits: 32, word: word::CONJ, shift: 0, fmt: Fmt::Hex, maskable: true, writable: true, prereq: Prereq::None },
}

impl Field {
    #[inline]
    pub fn info(self) -> &'static FieldInfo {
        &FIELDS[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// All-ones value of this field's width.
    #[inline]
    pub fn all_ones(self) -> u128 {
        let b = self.info().bits;
        if b >= 128 {
            u128::MAX
        } else {
            (1u128 << b) - 1
        }
    }

    /// True if the field lives in the datapath part of the key.
    pub fn is_dp(self) -> bool {
        self.info().word < super::key::DP_WORDS
    }

    /// Read the field from a key (or a mask).
    #[inline]
    pub fn get(self, k: &FlowKey) -> u128 {
        let i = self.info();
        if i.bits > 64 {
            ((k.w[i.word] as u128) << 64) | k.w[i.word + 1] as u128
        } else {
            let m = if i.bits == 64 { u64::MAX } else { (1u64 << i.bits) - 1 };
            ((k.w[i.word] >> i.shift) & m) as u128
        }
    }

    /// Write the field into a key (or a mask); other bits are untouched. Bits of `v`
    /// beyond the field's width are ignored.
    #[inline]
    pub fn set(self, k: &mut FlowKey, v: u128) {
        let i = self.info();
        if i.bits > 64 {
            k.w[i.word] = (v >> 64) as u64;
            k.w[i.word + 1] = v as u64;
        } else {
            let m = if i.bits == 64 { u64::MAX } else { (1u64 << i.bits) - 1 };
            let w = &mut k.w[i.word];
            *w = (*w & !(m << i.shift)) | (((v as u64) & m) << i.shift);
        }
    }

    /// Write only the bits of `v` selected by `mask` (within the field).
    #[inline]
    pub fn set_masked(self, k: &mut FlowKey, v: u128, mask: u128) {
        let old = self.get(k);
        self.set(k, (old & !mask) | (v & mask));
    }

    /// Look a field up by any of its names (ofctl name, alias, NXM or OXM name).
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.iter().copied().find(|f| {
            let i = f.info();
            i.name == name
                || i.aliases.contains(&name)
                || i.nxm == Some(name)
                || i.oxm == Some(name)
        })
    }
}

/// A bit range of a field, as in `NXM_NX_REG0[0..15]` or `NXM_OF_VLAN_TCI[]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SubField {
    pub field: Field,
    /// Offset of the least significant bit.
    pub ofs: u32,
    pub n_bits: u32,
}

impl SubField {
    pub fn whole(field: Field) -> SubField {
        SubField { field, ofs: 0, n_bits: field.info().bits }
    }

    #[inline]
    fn bits_mask(&self) -> u128 {
        if self.n_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << self.n_bits) - 1
        }
    }

    /// Read the sub-field's bits, right-aligned.
    #[inline]
    pub fn get(&self, k: &FlowKey) -> u128 {
        (self.field.get(k) >> self.ofs) & self.bits_mask()
    }

    /// Write right-aligned `v` into the sub-field's bits.
    #[inline]
    pub fn set(&self, k: &mut FlowKey, v: u128) {
        let m = self.bits_mask() << self.ofs;
        self.field.set_masked(k, (v & self.bits_mask()) << self.ofs, m);
    }

    /// The field-relative mask this sub-field covers.
    pub fn field_mask(&self) -> u128 {
        self.bits_mask() << self.ofs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_fits_its_word() {
        for f in Field::ALL {
            let i = f.info();
            if i.bits <= 64 {
                assert!(i.shift + i.bits <= 64, "{:?}", f);
            } else {
                assert_eq!(i.bits, 128);
            }
            assert_eq!(Field::from_name(i.name), Some(*f), "{}", i.name);
        }
    }

    #[test]
    fn aliases_share_storage() {
        let mut k = FlowKey::ZERO;
        Field::Ipv4Src.set(&mut k, 0x0a000001);
        assert_eq!(Field::ArpSpa.get(&k), 0x0a000001);
        Field::VlanVid.set(&mut k, 0x1064);
        assert_eq!(Field::DlVlan.get(&k), 0x64);
        assert_eq!(Field::VlanTci.get(&k), 0x1064);
        Field::Reg0.set(&mut k, 0xdead_beef);
        Field::Reg1.set(&mut k, 0x1234_5678);
        assert_eq!(Field::Xreg0.get(&k), 0xdead_beef_1234_5678);
        Field::Ipv6Src.set(&mut k, 0x2001_0db8_0000_0000_0000_0000_0000_0001);
        assert_eq!(Field::Ipv6Src.get(&k), 0x2001_0db8_0000_0000_0000_0000_0000_0001);
        Field::IpDscp.set(&mut k, 0x2e);
        assert_eq!(Field::NwTos.get(&k), 0xb8);
    }

    #[test]
    fn subfields() {
        let mut k = FlowKey::ZERO;
        let sf = SubField { field: Field::Reg6, ofs: 0, n_bits: 16 };
        sf.set(&mut k, 0x1_2345);
        assert_eq!(Field::Reg6.get(&k), 0x2345);
        let tci = SubField { field: Field::VlanTci, ofs: 0, n_bits: 12 };
        Field::VlanTci.set(&mut k, 0xf064);
        assert_eq!(tci.get(&k), 0x064);
        tci.set(&mut k, 0x5);
        assert_eq!(Field::VlanTci.get(&k), 0xf005);
        assert_eq!(Field::from_name("NXM_OF_ETH_SRC"), Some(Field::EthSrc));
        assert_eq!(Field::from_name("eth_dst"), Some(Field::EthDst));
    }
}
