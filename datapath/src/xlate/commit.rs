//! Emit the datapath actions that turn the packet as it is now (`base`) into the packet
//! the OpenFlow actions asked for (`flow`), right before an output.
//!
//! Every action that wrote a field already un-wildcarded it, so comparing `flow` with
//! `base` here adds no hidden dependency on packet fields.

use super::{Ctx, ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, ETH_TYPE_RARP};
use crate::flow::field::Field;
use crate::flow::key::{FlowKey, FRAG_LATER, VLAN_CFI};
use crate::odp::DpAction;

impl Ctx<'_> {
    pub(super) fn commit(&mut self) {
        let (f, b) = (self.flow, self.base);
        let acts = &mut self.out.actions;
        commit_vlan(&f, &b, self.tpids, acts);
        if f.dl_src() != b.dl_src() {
            acts.push(DpAction::SetEthSrc(f.dl_src()));
        }
        if f.dl_dst() != b.dl_dst() {
            acts.push(DpAction::SetEthDst(f.dl_dst()));
        }
        let dl_type = Field::EthType.get(&f);
        let changed = |fl: Field| fl.get(&f) != fl.get(&b);
        if dl_type == ETH_TYPE_IP {
            if changed(Field::Ipv4Src) {
                acts.push(DpAction::SetIpv4Src(Field::Ipv4Src.get(&f) as u32));
            }
            if changed(Field::Ipv4Dst) {
                acts.push(DpAction::SetIpv4Dst(Field::Ipv4Dst.get(&f) as u32));
            }
            if changed(Field::NwTos) {
                acts.push(DpAction::SetIpv4Tos(Field::NwTos.get(&f) as u8));
            }
            if changed(Field::NwTtl) {
                acts.push(DpAction::SetIpv4Ttl(Field::NwTtl.get(&f) as u8));
            }
        } else if dl_type == ETH_TYPE_IPV6 {
            if changed(Field::Ipv6Src) {
                acts.push(DpAction::SetIpv6Src(Field::Ipv6Src.get(&f)));
            }
            if changed(Field::Ipv6Dst) {
                acts.push(DpAction::SetIpv6Dst(Field::Ipv6Dst.get(&f)));
            }
            if changed(Field::NwTos) {
                acts.push(DpAction::SetIpv6Tclass(Field::NwTos.get(&f) as u8));
            }
            if changed(Field::NwTtl) {
                acts.push(DpAction::SetIpv6Hlimit(Field::NwTtl.get(&f) as u8));
            }
        } else if dl_type == ETH_TYPE_ARP || dl_type == ETH_TYPE_RARP {
            if changed(Field::ArpOp) {
                acts.push(DpAction::SetArpOp(Field::ArpOp.get(&f) as u16));
            }
            if changed(Field::ArpSha) {
                acts.push(DpAction::SetArpSha(mac(Field::ArpSha.get(&f))));
            }
            if changed(Field::ArpSpa) {
                acts.push(DpAction::SetArpSpa(Field::ArpSpa.get(&f) as u32));
            }
            if changed(Field::ArpTha) {
                acts.push(DpAction::SetArpTha(mac(Field::ArpTha.get(&f))));
            }
            if changed(Field::ArpTpa) {
                acts.push(DpAction::SetArpTpa(Field::ArpTpa.get(&f) as u32));
            }
        }
        if (dl_type == ETH_TYPE_IP || dl_type == ETH_TYPE_IPV6)
            && matches!(Field::IpProto.get(&f), 6 | 17 | 132)
            && (Field::IpFrag.get(&f) as u8) & FRAG_LATER == 0
        {
            if changed(Field::TpSrc) {
                acts.push(DpAction::SetTpSrc(Field::TpSrc.get(&f) as u16));
            }
            if changed(Field::TpDst) {
                acts.push(DpAction::SetTpDst(Field::TpDst.get(&f) as u16));
            }
        }
        // The packet now looks like `flow` in every datapath word that commit handles.
        let mut nb = self.flow;
        for w in crate::flow::key::DP_WORDS..crate::flow::key::NW {
            nb.w[w] = self.base.w[w];
        }
        // Metadata that is not a header (in_port, tunnel, ct) stays what it was.
        nb.w[crate::flow::key::word::META] = self.base.w[crate::flow::key::word::META];
        self.base = nb;
    }
}

fn mac(v: u128) -> [u8; 6] {
    crate::flow::key::mac_from_u64(v as u64)
}

/// Turn the packet's tag stack (`b`: outer, inner) into the wanted one (`f`): modify
/// the outer tag in place when only it changed, otherwise pop tags until what is left
/// is the innermost part of the wanted stack and push the rest, innermost first.
fn commit_vlan(f: &FlowKey, b: &FlowKey, tpids: [u16; 2], acts: &mut Vec<DpAction>) {
    let present = |t: u16| t & VLAN_CFI != 0;
    // Without an outer tag there is no tag at all (a write of 0 to vlan_tci removes
    // the whole stack, as in Open vSwitch).
    let want: Vec<(u16, u16)> = if present(f.vlan_tci()) {
        [(f.vlan_tci(), tpids[0]), (f.vlan_tci2(), tpids[1])].into_iter().filter(|(t, _)| present(*t)).collect()
    } else {
        vec![]
    };
    // The packet's stack counts the same way: up to the first absent tag (after a
    // write of 0 to vlan_tci the inner TCI may linger in the key, as in OVS's flow).
    let have: Vec<u16> = if present(b.vlan_tci()) {
        [b.vlan_tci(), b.vlan_tci2()].into_iter().filter(|t| present(*t)).collect()
    } else {
        vec![]
    };
    let want_tcis: Vec<u16> = want.iter().map(|(t, _)| *t).collect();
    if want_tcis == have {
        return;
    }
    if !have.is_empty() && want.len() == have.len() && want_tcis[1..] == have[1..] {
        acts.push(DpAction::SetVlanTci(want_tcis[0] & !VLAN_CFI));
        return;
    }
    for k in 0..=have.len() {
        let rest = &have[k..];
        if rest.len() <= want.len() && want_tcis[want.len() - rest.len()..] == *rest {
            acts.extend(std::iter::repeat_n(DpAction::PopVlan, k));
            for (tci, tpid) in want[..want.len() - rest.len()].iter().rev() {
                acts.push(DpAction::PushVlan { tpid: *tpid, tci: tci & !VLAN_CFI });
            }
            return;
        }
    }
}
