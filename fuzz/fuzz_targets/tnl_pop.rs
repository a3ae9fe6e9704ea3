//! Tunnel decapsulation on arbitrary bytes (Open vSwitch has no such target): for
//! VXLAN and GRE, `pop` either refuses the frame with a named reason and leaves it
//! unchanged, or strips exactly the outer headers and leaves an inner frame inside the
//! original one; the inner frame then goes through extraction, and an encapsulation
//! of it pops back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xvs::flow::FlowKey;
use xvs::packet::buf::PacketMut;
use xvs::packet::extract::extract;
use xvs::packet::tunnel::{pop, TnlHeader, TnlParams};
use xvs::port::TunnelProto;

fuzz_target!(|data: &[u8]| {
    let (sel, frame) = match data.split_first() {
        Some((o, f)) => (*o, f),
        None => return,
    };
    let proto = if sel & 1 == 0 { TunnelProto::Vxlan } else { TunnelProto::Gre };
    let mut buf = vec![0u8; 256 + frame.len()];
    buf[256..].copy_from_slice(frame);
    let Some(mut pkt) = PacketMut::with_headroom(&mut buf, 256, frame.len()) else { return };
    match pop(&mut pkt, proto, 4789) {
        Err(_) => {
            assert_eq!(pkt.data(), frame, "a refused frame is unchanged");
        }
        Ok(md) => {
            let inner = pkt.data().to_vec();
            assert!(inner.len() >= 14 && inner.len() < frame.len());
            assert_eq!(&frame[pkt.start() - 256..pkt.start() - 256 + inner.len()], &inner[..]);
            let mut key = FlowKey::ZERO;
            let _ = extract(&inner, 1, &mut key);
            // Encapsulate the inner frame again and pop it: the same inner bytes and key.
            let h = TnlHeader::build(&TnlParams {
                proto,
                eth_dst: [2, 0, 0, 0, 0, 2],
                eth_src: [2, 0, 0, 0, 0, 1],
                ip_src: md.dst,
                ip_dst: md.src,
                tos: md.tos,
                ttl: md.ttl.max(1),
                df: true,
                key: md.tun_id & if proto == TunnelProto::Vxlan { 0xff_ffff } else { 0xffff_ffff },
                with_key: true,
                udp_dst: 4789,
                csum: sel & 2 != 0,
            });
            let mut b2 = vec![0u8; 256 + inner.len()];
            b2[256..].copy_from_slice(&inner);
            let mut p2 = PacketMut::with_headroom(&mut b2, 256, inner.len()).unwrap();
            if h.push(&mut p2, 40000).is_ok() {
                let md2 = pop(&mut p2, proto, 4789).expect("our own encapsulation pops");
                assert_eq!(p2.data(), &inner[..]);
                assert_eq!(md2.src, md.dst);
            }
        }
    }
});
