//! Frame parsing, flow-key extraction and header rewrites on arbitrary bytes: no panic,
//! and rewrites never leave the frame's bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xvs::flow::FlowKey;
use xvs::odp::DpAction;
use xvs::packet::buf::PacketMut;
use xvs::packet::extract::extract;

fuzz_target!(|data: &[u8]| {
    let (ops, frame) = match data.split_first() {
        Some((o, f)) => (*o, f),
        None => return,
    };
    let mut key = FlowKey::ZERO;
    let Ok(ofs) = extract(frame, 1, &mut key) else { return };
    // Apply a few rewrites chosen by the first byte to a copy with some spare room.
    let mut buf = frame.to_vec();
    buf.resize(frame.len() + 8, 0);
    let Some(mut pkt) = PacketMut::new(&mut buf, frame.len()) else { return };
    let mut ofs = ofs;
    let all = [
        DpAction::PushVlan { tpid: 0x8100, tci: 5 },
        DpAction::PopVlan,
        DpAction::SetEthSrc([2, 0, 0, 0, 0, 1]),
        DpAction::SetIpv4Dst(0x0a00_0001),
        DpAction::SetIpv4Ttl(1),
        DpAction::SetTpDst(80),
        DpAction::SetArpOp(2),
        DpAction::SetIpv6Src(1),
    ];
    for (i, a) in all.iter().enumerate() {
        if ops & (1 << i) != 0 {
            let _ = xvs::exec::apply(&mut pkt, &mut ofs, a);
        }
    }
    assert!(pkt.len() <= pkt.capacity());
    let mut again = FlowKey::ZERO;
    let _ = extract(pkt.data(), 1, &mut again);
});
