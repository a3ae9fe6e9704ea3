//! The flow key: every header field and metadata value the pipeline can match on,
//! packed into a fixed array of 64-bit words.
//!
//! Why words and not named struct fields: masked operations (apply a mask, hash the
//! masked key, compare under a mask, union two masks) are then plain loops over `u64`s,
//! which is what the megaflow cache and the classifier do millions of times per second.
//! Field access goes through [`crate::flow::field::Field`], which knows each field's
//! word, shift and width.
//!
//! The first [`DP_WORDS`] words are what the datapath sees (packet headers plus
//! datapath metadata such as the input port and tunnel header); the rest (registers,
//! OpenFlow metadata, conj_id) exist only while a packet is translated through the
//! OpenFlow tables and are always zero in a datapath key.

use std::fmt;

/// Total number of words in a key.
pub const NW: usize = 22;
/// Words that belong to the datapath key (megaflow/EMC). Words at and after this index
/// are translation-only state.
pub const DP_WORDS: usize = 16;

/// Word indices. Each word's bit layout is documented next to its index; the
/// authoritative per-field table lives in `field.rs`.
pub mod word {
    /// in_port (bits 0..32) | recirc_id (bits 32..64)
    pub const META: usize = 0;
    /// dl_dst (bits 16..64) | vlan_tci (bits 0..16, OpenFlow TCI with CFI=present)
    pub const DL_DST_TCI: usize = 1;
    /// dl_src (bits 16..64) | dl_type (bits 0..16)
    pub const DL_SRC_TYPE: usize = 2;
    /// nw_src / arp_spa (bits 32..64) | nw_dst / arp_tpa (bits 0..32)
    pub const NW_ADDRS: usize = 3;
    /// nw_proto/arp_op (56..64) | nw_tos (48..56) | nw_ttl (40..48) | nw_frag (32..40)
    /// | tp_src/icmp_type (16..32) | tp_dst/icmp_code (0..16)
    pub const NW_L4: usize = 4;
    /// arp_sha / nd_sll (16..64) | tcp_flags (0..16)
    pub const ARP_SHA: usize = 5;
    /// arp_tha / nd_tll (16..64) | inner VLAN TCI of a double-tagged frame (0..16,
    /// CFI = present; datapath only, OpenFlow matches the outer tag)
    pub const ARP_THA: usize = 6;
    /// ipv6_src (two words, high first)
    pub const IPV6_SRC: usize = 7;
    /// ipv6_dst (two words, high first)
    pub const IPV6_DST: usize = 9;
    /// nd_target (two words, high first)
    pub const ND_TARGET: usize = 11;
    /// ct_state (56..64) | ct_zone (40..56) | tun_flags (32..40) | ct_mark (0..32)
    pub const CT: usize = 13;
    /// tun_id (all 64 bits)
    pub const TUN_ID: usize = 14;
    /// tun_src (32..64) | tun_dst (0..32)
    pub const TUN_ADDRS: usize = 15;
    /// OpenFlow metadata (64 bits). Translation only.
    pub const METADATA: usize = 16;
    /// reg0 (32..64) | reg1 (0..32) = xreg0; then reg2/3, reg4/5, reg6/7. Translation only.
    pub const REGS: usize = 17;
    /// conj_id (32..64). Translation only.
    pub const CONJ: usize = 21;
}

/// `nw_frag` bits, as in Open vSwitch: "any fragment" and "later fragment".
pub const FRAG_ANY: u8 = 1;
pub const FRAG_LATER: u8 = 2;

/// VLAN TCI "present" bit (the CFI bit position, as OpenFlow/OVS use it).
pub const VLAN_CFI: u16 = 0x1000;
pub const VLAN_VID_MASK: u16 = 0x0fff;
pub const VLAN_PCP_MASK: u16 = 0xe000;

/// A flow key, or (with the same layout) a mask over one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C, align(64))]
pub struct FlowKey {
    pub w: [u64; NW],
}

/// A mask has the layout of a key: a 1 bit means "this bit is significant".
pub type FlowMask = FlowKey;

impl FlowKey {
    pub const ZERO: FlowKey = FlowKey { w: [0; NW] };
    pub const ALL_ONES: FlowKey = FlowKey { w: [u64::MAX; NW] };

    /// A mask that covers exactly the datapath words.
    pub fn dp_exact() -> FlowKey {
        let mut m = FlowKey::ZERO;
        for i in 0..DP_WORDS {
            m.w[i] = u64::MAX;
        }
        m
    }

    #[inline]
    pub fn and(&self, mask: &FlowKey) -> FlowKey {
        let mut out = FlowKey::ZERO;
        for i in 0..NW {
            out.w[i] = self.w[i] & mask.w[i];
        }
        out
    }

    #[inline]
    pub fn or_assign(&mut self, other: &FlowKey) {
        for i in 0..NW {
            self.w[i] |= other.w[i];
        }
    }

    /// True if `self` and `other` agree on every bit set in `mask`.
    #[inline]
    pub fn eq_masked(&self, other: &FlowKey, mask: &FlowKey) -> bool {
        let mut diff = 0u64;
        for i in 0..NW {
            diff |= (self.w[i] ^ other.w[i]) & mask.w[i];
        }
        diff == 0
    }

    /// True if every bit of `self` (as a mask) is also set in `other`.
    #[inline]
    pub fn is_subset_of(&self, other: &FlowKey) -> bool {
        (0..NW).all(|i| self.w[i] & !other.w[i] == 0)
    }

    pub fn is_zero(&self) -> bool {
        self.w.iter().all(|&w| w == 0)
    }

    /// Clear the translation-only words (registers, metadata, conj_id).
    #[inline]
    pub fn clear_xlate_words(&mut self) {
        for i in DP_WORDS..NW {
            self.w[i] = 0;
        }
    }

    // Convenience accessors for the hottest fields (the generic path is `Field::get`).
    #[inline]
    pub fn in_port(&self) -> u32 {
        self.w[word::META] as u32
    }
    #[inline]
    /// The key's in_port: a datapath port (`OdpPort`) in a datapath key, the bridge's
    /// OpenFlow port while translating.
    pub fn set_in_port(&mut self, p: impl Into<u32>) {
        self.w[word::META] = (self.w[word::META] & !0xffff_ffff) | p.into() as u64;
    }
    #[inline]
    pub fn recirc_id(&self) -> u32 {
        (self.w[word::META] >> 32) as u32
    }
    #[inline]
    pub fn dl_dst(&self) -> [u8; 6] {
        mac_from_u64(self.w[word::DL_DST_TCI] >> 16)
    }
    #[inline]
    pub fn dl_src(&self) -> [u8; 6] {
        mac_from_u64(self.w[word::DL_SRC_TYPE] >> 16)
    }
    #[inline]
    pub fn dl_type(&self) -> u16 {
        self.w[word::DL_SRC_TYPE] as u16
    }
    #[inline]
    pub fn vlan_tci(&self) -> u16 {
        self.w[word::DL_DST_TCI] as u16
    }
    #[inline]
    pub fn set_vlan_tci(&mut self, tci: u16) {
        self.w[word::DL_DST_TCI] = (self.w[word::DL_DST_TCI] & !0xffff) | tci as u64;
    }
    /// The inner tag of a double-tagged (QinQ) frame, CFI set when present.
    #[inline]
    pub fn vlan_tci2(&self) -> u16 {
        self.w[word::ARP_THA] as u16
    }
    #[inline]
    pub fn set_vlan_tci2(&mut self, tci: u16) {
        self.w[word::ARP_THA] = (self.w[word::ARP_THA] & !0xffff) | tci as u64;
    }
    #[inline]
    pub fn set_dl_dst(&mut self, mac: [u8; 6]) {
        self.w[word::DL_DST_TCI] = (mac_to_u64(mac) << 16) | (self.w[word::DL_DST_TCI] & 0xffff);
    }
    #[inline]
    pub fn set_dl_src(&mut self, mac: [u8; 6]) {
        self.w[word::DL_SRC_TYPE] = (mac_to_u64(mac) << 16) | (self.w[word::DL_SRC_TYPE] & 0xffff);
    }
    #[inline]
    pub fn nw_proto(&self) -> u8 {
        (self.w[word::NW_L4] >> 56) as u8
    }

    /// A fast 64-bit hash of the datapath words, for the exact-match cache.
    #[inline]
    pub fn hash_dp(&self) -> u64 {
        // Four independent lanes: one chain of 16 dependent multiplies would cost
        // more than the rest of an EMC hit.
        let mut l: [u64; 4] = [0x9e37_79b9_7f4a_7c15, 0x6a09_e667_f3bc_c908, 0xbb67_ae85_84ca_a73b, 0x3c6e_f372_fe94_f82b];
        for c in self.w[..DP_WORDS].chunks_exact(4) {
            for j in 0..4 {
                l[j] = mix(l[j], c[j]);
            }
        }
        finish(mix(mix(mix(l[0], l[1]), l[2]), l[3]))
    }

    /// Hash of `self & mask` over the listed words only (a megaflow subtable lists the
    /// words its mask touches, so untouched words cost nothing).
    #[inline]
    pub fn hash_masked_words(&self, mask: &FlowKey, words: &[u8]) -> u64 {
        let mut h: u64 = 0x9e37_79b9_7f4a_7c15;
        for &i in words {
            let i = i as usize;
            h = mix(h, self.w[i] & mask.w[i]);
        }
        finish(h)
    }

    /// Words in which `self` (as a mask) has any bit set.
    pub fn nonzero_words(&self) -> Vec<u8> {
        (0..NW).filter(|&i| self.w[i] != 0).map(|i| i as u8).collect()
    }
}

#[inline(always)]
fn mix(h: u64, w: u64) -> u64 {
    // One multiply-rotate round per word: fast, and good enough for open-addressed
    // tables whose keys are verified on hit.
    (h ^ w).wrapping_mul(0xff51_afd7_ed55_8ccd).rotate_left(29)
}

#[inline(always)]
fn finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[inline]
pub fn mac_to_u64(m: [u8; 6]) -> u64 {
    u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]])
}

#[inline]
pub fn mac_from_u64(v: u64) -> [u8; 6] {
    let b = v.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

pub fn fmt_mac(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

impl fmt::Debug for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FlowKey[")?;
        let mut first = true;
        for (i, w) in self.w.iter().enumerate() {
            if *w != 0 {
                if !first {
                    write!(f, " ")?;
                }
                first = false;
                write!(f, "{i}:{w:016x}")?;
            }
        }
        write!(f, "]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_roundtrip() {
        let m = [0xfa, 0x16, 0x3e, 0x01, 0x02, 0x03];
        assert_eq!(mac_from_u64(mac_to_u64(m)), m);
        let mut k = FlowKey::ZERO;
        k.set_vlan_tci(0x1064);
        k.set_dl_dst(m);
        assert_eq!(k.dl_dst(), m);
        assert_eq!(k.vlan_tci(), 0x1064);
    }

    #[test]
    fn masked_ops() {
        let mut a = FlowKey::ZERO;
        let mut b = FlowKey::ZERO;
        a.w[3] = 0x0a00_0001_0a00_0002;
        b.w[3] = 0x0a00_0001_0a00_0003;
        let mut m = FlowKey::ZERO;
        m.w[3] = 0xffff_ffff_0000_0000;
        assert!(a.eq_masked(&b, &m));
        m.w[3] = u64::MAX;
        assert!(!a.eq_masked(&b, &m));
        let words = m.nonzero_words();
        assert_eq!(words, vec![3]);
        let mut m2 = FlowKey::ZERO;
        m2.w[3] = 0xffff_ffff_0000_0000;
        assert_eq!(a.hash_masked_words(&m2, &[3]), b.hash_masked_words(&m2, &[3]));
        assert!(m2.is_subset_of(&m));
        assert!(!m.is_subset_of(&m2));
    }
}
