//! `xvsctl trace BR FLOW PACKET` on tunnels: the encapsulated frame shows as it leaves
//! the uplink, and a VXLAN frame arriving on the uplink is popped and its inner packet
//! traced in a second pass down to the VM port.

use xvs_tools::netlab::{is_root, unique, veth_between, xvsd_in_netns, Netns};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn csum(b: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in b.chunks(2) {
        s += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32;
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Ethernet/IPv4/UDP, 60 bytes.
fn udp_frame(dst: [u8; 6], src: [u8; 6], sip: [u8; 4], dip: [u8; 4]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = vec![0x45, 0, 0, 46, 0, 0, 0x40, 0, 64, 17, 0, 0];
    ip.extend_from_slice(&sip);
    ip.extend_from_slice(&dip);
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0x13, 0x88, 0x13, 0x89, 0, 26, 0, 0]);
    f.resize(60, 0);
    f
}

fn mac_of(ns: &Netns, dev: &str) -> [u8; 6] {
    let s = ns.exec(&["cat", &format!("/sys/class/net/{dev}/address")]).unwrap();
    let v: Vec<u8> = s.trim().split(':').map(|x| u8::from_str_radix(x, 16).unwrap()).collect();
    v.try_into().unwrap()
}

#[test]
fn packet_trace_shows_encapsulation_and_the_second_pass_after_decapsulation() {
    assert!(is_root(), "needs root");
    let h = Netns::new("xth").unwrap();
    let peer = Netns::new("xtp").unwrap();
    veth_between(&h, "upl", &peer, "eth0").unwrap();
    veth_between(&h, "vm1", &peer, "vm1p").unwrap();
    let dir = std::env::temp_dir().join(unique("xtr-"));
    let x = xvsd_in_netns(&h, &dir).unwrap();
    x.ctl(&["add-br", "br-phy"]).unwrap();
    x.ctl(&["add-port", "br-phy", "upl", "ofport=1"]).unwrap();
    h.exec(&["ip", "addr", "add", "192.168.60.1/24", "dev", "br-phy"]).unwrap();
    h.exec(&["ip", "link", "set", "br-phy", "up"]).unwrap();
    x.ctl(&["add-br", "br-tun", "fail_mode=secure"]).unwrap();
    x.ctl(&["add-port", "br-tun", "vm1", "ofport=1"]).unwrap();
    x.ctl(&["add-port", "br-tun", "vxlan-c0a83c02", "type=vxlan", "ofport=2", "options:remote_ip=192.168.60.2", "options:key=flow"]).unwrap();
    x.ctl(&["tnl-neigh-set", "br-phy", "192.168.60.2", "02:00:00:00:60:02"]).unwrap();
    x.ctl_input(&["add-flows", "br-tun"], Some("in_port=1,actions=set_tunnel:100,output:2\nin_port=2,tun_id=100,actions=output:1\n")).unwrap();

    // Encapsulation: the frame leaves the uplink as 110 bytes of VXLAN, VNI 100.
    let inner = udp_frame([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1], [10, 1, 0, 1], [10, 1, 0, 2]);
    let t = x.ctl(&["trace", "br-tun", "in_port=1", &hex(&inner)]).unwrap();
    assert!(t.contains("tnl_push(tnl_port("), "{t}");
    assert!(t.contains("output to upl (br-phy):\n    110 bytes:") && t.contains("[VXLAN vni 100, inner 60 bytes]"), "{t}");

    // Decapsulation: a VXLAN frame to br-phy's MAC and address is popped; the second
    // pass enters br-tun from the tunnel port and reaches vm1 with the inner bytes.
    let phy = mac_of(&h, "br-phy");
    let mut outer_payload = vec![0x08, 0, 0, 0, 0, 0, 100, 0];
    outer_payload.extend_from_slice(&inner);
    let mut f = phy.to_vec();
    f.extend_from_slice(&[2, 0, 0, 0, 0x60, 2, 0x08, 0x00]);
    let tot = (20 + 8 + outer_payload.len()) as u16;
    let mut ip = vec![0x45, 0, (tot >> 8) as u8, tot as u8, 0, 0, 0x40, 0, 64, 17, 0, 0, 192, 168, 60, 2, 192, 168, 60, 1];
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let ul = (8 + outer_payload.len()) as u16;
    f.extend_from_slice(&[0xc3, 0x50, 0x12, 0xb5, (ul >> 8) as u8, ul as u8, 0, 0]);
    f.extend_from_slice(&outer_payload);
    let t = x.ctl(&["trace", "br-phy", "in_port=1", &hex(&f)]).unwrap();
    assert!(t.contains("===== pass 2: tnl_pop(") && t.contains("tun_id=0x64,tun_src=192.168.60.2,tun_dst=192.168.60.1"), "{t}");
    assert!(t.contains("Pass 2: output to vm1 (br-tun):\n    60 bytes:"), "{t}");

    // Bad input: odd hex, a packet that does not parse.
    assert!(x.ctl(&["trace", "br-tun", "in_port=1", "abc"]).unwrap_err().to_string().contains("hex"));
    assert!(x.ctl(&["trace", "br-tun", "in_port=1", "0000"]).unwrap_err().to_string().contains("does not parse"));
    drop(x);
    let _ = std::fs::remove_dir_all(&dir);
}
