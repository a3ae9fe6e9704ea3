//! Hand-built scenarios: a two-compute-node Neutron DVR deployment (built from
//! /work/shared/reference/neutron-flows.md), and the flows of the seeds.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::harness::{BridgeDef, Diff, Fdb, PortDef};
use super::packet::{fmt_mac, mac, Mac, Pkt, L3, L4};

// ------------------------------------------------------------------ helpers

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

pub fn ip6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

pub const BCAST: Mac = [0xff; 6];
pub const ZERO_MAC: Mac = [0; 6];

pub fn ipv4(
    bridge: &str,
    in_port: u32,
    src: Mac,
    dst: Mac,
    sip: Ipv4Addr,
    dip: Ipv4Addr,
    l4: L4,
) -> Pkt {
    Pkt {
        bridge: bridge.into(),
        in_port,
        tun_id: None,
        src,
        dst,
        vlan: None,
        l3: L3::Ipv4 {
            src: sip,
            dst: dip,
            tos: 0,
            ttl: 64,
            l4,
        },
    }
}

pub fn arp_req(bridge: &str, in_port: u32, src: Mac, spa: Ipv4Addr, tpa: Ipv4Addr) -> Pkt {
    Pkt {
        bridge: bridge.into(),
        in_port,
        tun_id: None,
        src,
        dst: BCAST,
        vlan: None,
        l3: L3::Arp {
            op: 1,
            sha: src,
            spa,
            tha: ZERO_MAC,
            tpa,
        },
    }
}

pub fn tcp(dport: u16) -> L4 {
    L4::Tcp {
        sport: 40000 + dport % 1000,
        dport,
    }
}

pub fn udp(sport: u16, dport: u16) -> L4 {
    L4::Udp { sport, dport }
}

pub fn icmp_echo() -> L4 {
    L4::Icmp { ty: 8, code: 0 }
}

fn with_tun(mut p: Pkt, tun: u64) -> Pkt {
    p.tun_id = Some(tun);
    p
}

fn with_vlan(mut p: Pkt, vid: u16, pcp: u8) -> Pkt {
    p.vlan = Some((vid, pcp));
    p
}

// ------------------------------------------------------------------ DVR

struct Net {
    vni: u64,
    gw_ip: Ipv4Addr,
    gw_mac: Mac,
}

#[derive(Clone)]
struct Vm {
    name: String,
    ofport: u32,
    net: usize,
    mac: Mac,
    ip: Ipv4Addr,
}

impl Vm {
    fn ip6(&self) -> Ipv6Addr {
        let m = self.mac;
        Ipv6Addr::new(
            0xfe80,
            0,
            0,
            0,
            0xf816,
            0x3eff,
            0xfe00 | m[3] as u16,
            (m[4] as u16) << 8 | m[5] as u16,
        )
    }
}

struct Tun {
    name: String,
    ofport: u32,
    /// The host at the other end ('a', 'b' or 'c').
    to: char,
}

struct Host {
    id: char,
    br_int: String,
    br_tun: String,
    /// br-ex (host A only): (bridge, phy patch on br-ex, int patch on br-int, uplink).
    br_ex: Option<(String, String, String, String)>,
    dvr_mac: Mac,
    lvid: [u16; 2],
    vms: Vec<Vm>,
    /// qr- ports: (name, ofport) per network.
    qr: Vec<(String, u32)>,
    dead: (String, u32),
    tuns: Vec<Tun>,
}

const COOKIE: &str = "0x8e3f7a5b1c2d4e6f";

fn nets() -> Vec<Net> {
    vec![
        Net {
            vni: 0x64,
            gw_ip: ip("10.1.0.1"),
            gw_mac: mac("fa:16:3e:00:01:01"),
        },
        Net {
            vni: 0x65,
            gw_ip: ip("10.2.0.1"),
            gw_mac: mac("fa:16:3e:00:02:01"),
        },
    ]
}

fn dvr_mac(h: char) -> Mac {
    mac(&format!("fa:16:3f:00:00:0{h}"))
}

fn vm(name: &str, ofport: u32, net: usize, m: &str, ip_s: &str) -> Vm {
    Vm {
        name: name.into(),
        ofport,
        net,
        mac: mac(m),
        ip: ip(ip_s),
    }
}

fn hosts() -> (Host, Host, Vec<Vm>) {
    let a = Host {
        id: 'a',
        br_int: "br-int-a".into(),
        br_tun: "br-tun-a".into(),
        br_ex: Some((
            "br-ex-a".into(),
            "phy-br-ex-a".into(),
            "int-br-ex-a".into(),
            "eth-ex-a".into(),
        )),
        dvr_mac: dvr_mac('a'),
        lvid: [1, 2],
        vms: vec![
            vm("vm-a1", 5, 0, "fa:16:3e:a1:00:01", "10.1.0.11"),
            vm("vm-a2", 6, 0, "fa:16:3e:a2:00:01", "10.1.0.12"),
            vm("vm-a3", 7, 1, "fa:16:3e:a3:00:01", "10.2.0.13"),
        ],
        qr: vec![("qr-a0".into(), 8), ("qr-a1".into(), 9)],
        dead: ("dead-a".into(), 10),
        tuns: vec![
            Tun {
                name: "vx-a-b".into(),
                ofport: 2,
                to: 'b',
            },
            Tun {
                name: "vx-a-c".into(),
                ofport: 3,
                to: 'c',
            },
        ],
    };
    let b = Host {
        id: 'b',
        br_int: "br-int-b".into(),
        br_tun: "br-tun-b".into(),
        br_ex: None,
        dvr_mac: dvr_mac('b'),
        lvid: [3, 4],
        vms: vec![
            vm("vm-b1", 11, 0, "fa:16:3e:b1:00:01", "10.1.0.21"),
            vm("vm-b3", 16, 0, "fa:16:3e:b3:00:01", "10.1.0.23"),
            vm("vm-b2", 12, 1, "fa:16:3e:b2:00:01", "10.2.0.22"),
        ],
        qr: vec![("qr-b0".into(), 13), ("qr-b1".into(), 14)],
        dead: ("dead-b".into(), 15),
        tuns: vec![
            Tun {
                name: "vx-b-a".into(),
                ofport: 4,
                to: 'a',
            },
            Tun {
                name: "vx-b-c".into(),
                ofport: 5,
                to: 'c',
            },
        ],
    };
    // A third compute node, seen only through its tunnel and l2pop entries.
    let c = vec![
        vm("vm-c1", 0, 0, "fa:16:3e:c1:00:01", "10.1.0.31"),
        vm("vm-c2", 0, 1, "fa:16:3e:c2:00:01", "10.2.0.32"),
    ];
    (a, b, c)
}

impl Host {
    fn patch_tun(&self) -> String {
        format!("patch-tun-{}", self.id)
    }
    fn patch_int(&self) -> String {
        format!("patch-int-{}", self.id)
    }
    fn tun_to(&self, h: char) -> &Tun {
        self.tuns.iter().find(|t| t.to == h).unwrap()
    }

    fn bridges(&self) -> Vec<BridgeDef> {
        let mut int_ports = vec![PortDef::patch(&self.patch_tun(), 1, &self.patch_int())];
        for v in &self.vms {
            int_ports.push(PortDef::access(&v.name, v.ofport, self.lvid[v.net]));
        }
        for (n, (q, of)) in self.qr.iter().enumerate() {
            int_ports.push(PortDef::access(q, *of, self.lvid[n]));
        }
        int_ports.push(PortDef::access(&self.dead.0, self.dead.1, 4095));
        let mut out = vec![];
        if let Some((ex, phy, int, up)) = &self.br_ex {
            int_ports.push(PortDef::patch(int, 2, phy));
            out.push(BridgeDef {
                name: ex.clone(),
                ports: vec![PortDef::patch(phy, 1, int), PortDef::plain(up, 2)],
            });
        }
        let mut tun_ports = vec![PortDef::patch(&self.patch_int(), 1, &self.patch_tun())];
        for t in &self.tuns {
            tun_ports.push(PortDef::plain(&t.name, t.ofport));
        }
        out.push(BridgeDef {
            name: self.br_int.clone(),
            ports: int_ports,
        });
        out.push(BridgeDef {
            name: self.br_tun.clone(),
            ports: tun_ports,
        });
        out
    }

    /// Remote VMs with the tunnel that reaches them (l2pop's fdb entries).
    fn remote<'a>(&'a self, other: &'a Host, c: &'a [Vm]) -> Vec<(&'a Vm, &'a Tun)> {
        let mut v: Vec<(&Vm, &Tun)> = other
            .vms
            .iter()
            .map(|m| (m, self.tun_to(other.id)))
            .collect();
        v.extend(c.iter().map(|m| (m, self.tun_to('c'))));
        v
    }

    /// br-int flows: the native (OpenFlow 1.3) forms the agent installs with os-ken,
    /// and a few in ovs-ofctl's 1.0 spelling.
    fn br_int_flows(&self) -> Vec<String> {
        let nets = nets();
        let pt = self.patch_tun();
        let mut f = vec![
            format!("cookie={COOKIE},table=0,priority=65535,vlan_tci=0x1fff/0x1fff,actions=drop"),
            format!(
                "cookie={COOKIE},table=0,priority=2,in_port={},actions=drop",
                self.dead.0
            ),
        ];
        for h in ['a', 'b', 'c'].into_iter().filter(|h| *h != self.id) {
            f.push(format!(
                "cookie={COOKIE},table=0,priority=2,in_port={pt},dl_src={},actions=goto_table:1",
                fmt_mac(&dvr_mac(h))
            ));
            if let Some((_, _, int, _)) = &self.br_ex {
                f.push(format!("cookie={COOKIE},table=0,priority=4,in_port={int},dl_src={},actions=goto_table:2", fmt_mac(&dvr_mac(h))));
            }
        }
        if let Some((_, _, int, _)) = &self.br_ex {
            f.push(format!(
                "cookie={COOKIE},table=0,priority=2,in_port={int},actions=drop"
            ));
        }
        f.push(format!(
            "cookie={COOKIE},table=0,priority=5,in_port={pt},dl_dst={},actions=goto_table:3",
            fmt_mac(&self.dvr_mac)
        ));
        for v in &self.vms {
            f.push(format!(
                "cookie={COOKIE},table=0,priority=10,arp,in_port={},actions=goto_table:24",
                v.name
            ));
            f.push(format!("cookie={COOKIE},table=0,priority=10,icmp6,in_port={},icmp_type=136,actions=goto_table:24", v.name));
            f.push(format!(
                "cookie={COOKIE},table=0,priority=9,in_port={},actions=goto_table:25",
                v.name
            ));
        }
        f.push(format!(
            "cookie={COOKIE},table=0,priority=0,actions=goto_table:58"
        ));
        for (i, v) in self.vms.iter().enumerate() {
            let n = &nets[v.net];
            // Both spellings Neutron has used: OpenFlow 1.3 vlan_vid and 1.0 dl_vlan.
            let vlan = if i % 2 == 0 {
                format!("vlan_vid={}", 0x1000 | self.lvid[v.net])
            } else {
                format!("dl_vlan={}", self.lvid[v.net])
            };
            f.push(format!(
                "cookie={COOKIE},table=1,priority=20,{vlan},dl_dst={},actions=set_field:{}->eth_src,goto_table:60",
                fmt_mac(&v.mac),
                fmt_mac(&n.gw_mac)
            ));
            f.push(format!(
                "cookie={COOKIE},table=60,priority=20,{vlan},dl_dst={},actions=pop_vlan,output:{}",
                fmt_mac(&v.mac),
                v.name
            ));
        }
        f.push(format!("cookie={COOKIE},table=1,priority=1,actions=drop"));
        f.push(format!("cookie={COOKIE},table=2,priority=1,actions=drop"));
        for (n, (q, _)) in self.qr.iter().enumerate() {
            f.push(format!(
                "cookie={COOKIE},table=3,priority=5,dl_vlan={},dl_dst={},actions=set_field:{}->eth_dst,pop_vlan,output:{q}",
                self.lvid[n],
                fmt_mac(&self.dvr_mac),
                fmt_mac(&nets[n].gw_mac)
            ));
        }
        f.push(format!("cookie={COOKIE},table=23,priority=0,actions=drop"));
        for v in &self.vms {
            f.push(format!("cookie={COOKIE},table=24,priority=2,arp,in_port={},arp_spa={},actions=goto_table:25", v.name, v.ip));
            f.push(format!(
                "cookie={COOKIE},table=24,priority=2,icmp6,in_port={},icmp_type=136,nd_target={},actions=goto_table:58",
                v.name,
                v.ip6()
            ));
            f.push(format!(
                "cookie={COOKIE},table=25,priority=2,in_port={},dl_src={},actions=goto_table:30",
                v.name,
                fmt_mac(&v.mac)
            ));
        }
        f.push(format!("cookie={COOKIE},table=24,priority=0,actions=drop"));
        f.push(format!("cookie={COOKIE},table=25,priority=0,actions=drop"));
        f.push(format!(
            "cookie={COOKIE},table=30,priority=0,actions=goto_table:58"
        ));
        f.push(format!(
            "cookie={COOKIE},table=58,priority=0,actions=goto_table:59"
        ));
        f.push(format!(
            "cookie={COOKIE},table=59,priority=0,actions=goto_table:60"
        ));
        f.push(format!(
            "cookie={COOKIE},table=60,priority=1,actions=NORMAL"
        ));
        f
    }

    fn br_tun_flows(&self, other: &Host, c: &[Vm]) -> Vec<String> {
        let nets = nets();
        let pi = self.patch_int();
        let mut f = vec![format!(
            "cookie={COOKIE},table=0,priority=1,in_port={pi},actions=goto_table:1"
        )];
        for t in &self.tuns {
            f.push(format!(
                "cookie={COOKIE},table=0,priority=1,in_port={},actions=goto_table:4",
                t.name
            ));
        }
        f.push(format!("cookie={COOKIE},table=0,priority=0,actions=drop"));
        // DVR_PROCESS: hide the shared qr- MAC from the wire.
        for (n, net) in nets.iter().enumerate() {
            let l = self.lvid[n];
            f.push(format!(
                "cookie={COOKIE},table=1,priority=2,dl_vlan={l},dl_dst={},actions=drop",
                fmt_mac(&net.gw_mac)
            ));
            f.push(format!(
                "cookie={COOKIE},table=1,priority=1,dl_vlan={l},dl_src={},actions=set_field:{}->eth_src,goto_table:2",
                fmt_mac(&net.gw_mac),
                fmt_mac(&self.dvr_mac)
            ));
        }
        f.push(format!(
            "cookie={COOKIE},table=1,priority=0,actions=goto_table:2"
        ));
        f.push(format!(
            "cookie={COOKIE},table=2,priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff,actions=goto_table:21"
        ));
        f.push(format!("cookie={COOKIE},table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=goto_table:20"));
        f.push(format!("cookie={COOKIE},table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=goto_table:22"));
        f.push(format!("cookie={COOKIE},table=3,priority=0,actions=drop"));
        for (n, net) in nets.iter().enumerate() {
            f.push(format!(
                "cookie={COOKIE},table=4,priority=1,tun_id={:#x},actions=push_vlan:0x8100,set_field:{}->vlan_vid,goto_table:9",
                net.vni,
                0x1000 | self.lvid[n]
            ));
        }
        f.push(format!("cookie={COOKIE},table=4,priority=0,actions=drop"));
        f.push(format!("cookie={COOKIE},table=6,priority=0,actions=drop"));
        for h in ['a', 'b', 'c'].into_iter().filter(|h| *h != self.id) {
            f.push(format!(
                "cookie={COOKIE},table=9,priority=1,dl_src={},actions=output:{pi}",
                fmt_mac(&dvr_mac(h))
            ));
        }
        f.push(format!(
            "cookie={COOKIE},table=9,priority=0,actions=goto_table:10"
        ));
        f.push(format!(
            "cookie={COOKIE},table=10,priority=1,actions=learn(table=20,hard_timeout=300,priority=1,cookie={COOKIE},\
             NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],\
             load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:{pi}"
        ));
        for (i, (v, t)) in self.remote(other, c).into_iter().enumerate() {
            let net = &nets[v.net];
            let l = self.lvid[v.net];
            f.push(format!(
                "cookie={COOKIE},table=20,priority=2,dl_vlan={l},dl_dst={},actions=pop_vlan,set_field:{:#x}->tun_id,output:{}",
                fmt_mac(&v.mac),
                net.vni,
                t.name
            ));
            if i % 2 == 0 {
                // The native responder (no VLAN match, set_field/move).
                f.push(format!(
                    "cookie={COOKIE},table=21,priority=1,arp,arp_tpa={},actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],\
                     set_field:{m}->eth_src,set_field:2->arp_op,move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],\
                     move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],set_field:{m}->arp_sha,set_field:{}->arp_spa,IN_PORT",
                    v.ip,
                    v.ip,
                    m = fmt_mac(&v.mac)
                ));
            } else {
                // The older ovs-ofctl responder (dl_vlan match, mod_dl_src and load:).
                let m = v.mac.iter().fold(0u64, |a, b| a << 8 | *b as u64);
                f.push(format!(
                    "cookie={COOKIE},table=21,priority=1,arp,dl_vlan={l},arp_tpa={},actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],\
                     mod_dl_src:{},load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],\
                     move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],load:{m:#x}->NXM_NX_ARP_SHA[],load:{:#x}->NXM_OF_ARP_SPA[],in_port",
                    v.ip,
                    fmt_mac(&v.mac),
                    u32::from(v.ip)
                ));
            }
        }
        f.push(format!(
            "cookie={COOKIE},table=20,priority=0,actions=goto_table:22"
        ));
        f.push(format!(
            "cookie={COOKIE},table=21,priority=0,actions=goto_table:22"
        ));
        for (n, net) in nets.iter().enumerate() {
            let l = self.lvid[n];
            let mut outs: Vec<String> = vec![format!(
                "output:{}",
                self.tun_to(if self.id == 'a' { 'b' } else { 'a' }).name
            )];
            if n == 0 {
                outs.push(format!("output:{}", self.tun_to('c').name));
            }
            f.push(format!("cookie={COOKIE},table=22,priority=1,dl_vlan={l},actions=pop_vlan,set_field:{:#x}->tun_id,{}", net.vni, outs.join(",")));
            f.push(format!(
                "cookie={COOKIE},table=22,priority=3,dl_vlan={l},arp,arp_tpa={},actions=drop",
                net.gw_ip
            ));
        }
        f.push(format!("cookie={COOKIE},table=22,priority=0,actions=drop"));
        f
    }

    fn br_ex_flows(&self) -> Vec<String> {
        match &self.br_ex {
            Some((_, phy, _, _)) => vec![
                format!("cookie={COOKIE},table=0,priority=2,in_port={phy},actions=drop"),
                format!("cookie={COOKIE},table=0,priority=0,actions=NORMAL"),
            ],
            None => vec![],
        }
    }

    fn cases(&self, other: &Host, c: &[Vm]) -> Vec<(String, Pkt)> {
        let nets = nets();
        let bi = self.br_int.as_str();
        let bt = self.br_tun.as_str();
        let (v1, v2, v3) = (&self.vms[0], &self.vms[1], &self.vms[2]);
        let (r1, r3) = (&other.vms[0], &other.vms[2]);
        let c1 = &c[0];
        let tun_o = self.tun_to(other.id).ofport;
        let tun_c = self.tun_to('c').ofport;
        let (q0, q1) = (&self.qr[0], &self.qr[1]);
        let h = self.id;
        let mut v: Vec<(String, Pkt)> = Vec::new();
        let mut add = |label: &str, p: Pkt| v.push((format!("host {h}: {label}"), p));

        // VM to VM, same network, same host.
        add(
            "vm->vm same net tcp",
            ipv4(bi, v1.ofport, v1.mac, v2.mac, v1.ip, v2.ip, tcp(80)),
        );
        add(
            "vm->vm same net udp",
            ipv4(bi, v2.ofport, v2.mac, v1.mac, v2.ip, v1.ip, udp(5000, 53)),
        );
        add(
            "vm->vm same net icmp",
            ipv4(bi, v1.ofport, v1.mac, v2.mac, v1.ip, v2.ip, icmp_echo()),
        );
        add(
            "vm->vm same net ipv6 udp",
            Pkt {
                l3: L3::Ipv6 {
                    src: v1.ip6(),
                    dst: v2.ip6(),
                    tclass: 0,
                    hlim: 64,
                    l4: udp(546, 547),
                },
                ..ipv4(bi, v1.ofport, v1.mac, v2.mac, v1.ip, v2.ip, tcp(1))
            },
        );
        // To the router (qr-) port and routed back out of it.
        add(
            "vm->gateway mac (routed)",
            ipv4(bi, v1.ofport, v1.mac, nets[0].gw_mac, v1.ip, v3.ip, tcp(22)),
        );
        add(
            "qr routes to local vm",
            ipv4(bi, q1.1, nets[1].gw_mac, v3.mac, v1.ip, v3.ip, tcp(22)),
        );
        // To remote VMs: l2pop unicast (table 20).
        add(
            "vm->remote vm tcp (l2pop)",
            ipv4(bi, v1.ofport, v1.mac, r1.mac, v1.ip, r1.ip, tcp(443)),
        );
        add(
            "vm->remote vm on host c (l2pop)",
            ipv4(bi, v2.ofport, v2.mac, c1.mac, v2.ip, c1.ip, udp(1234, 4789)),
        );
        add(
            "vm in net1 -> remote vm (l2pop)",
            ipv4(bi, v3.ofport, v3.mac, r3.mac, v3.ip, r3.ip, icmp_echo()),
        );
        // Routed by the local qr- port towards a remote VM: br-tun table 1 rewrites
        // the source to this host's DVR MAC.
        add(
            "qr routes to remote vm (DVR src rewrite)",
            ipv4(bi, q0.1, nets[0].gw_mac, r1.mac, v3.ip, r1.ip, tcp(8080)),
        );
        add(
            "qr routes to remote vm net1",
            ipv4(bi, q1.1, nets[1].gw_mac, r3.mac, v1.ip, r3.ip, udp(53, 53)),
        );
        // ARP.
        add(
            "arp request for remote ip (responder)",
            arp_req(bi, v1.ofport, v1.mac, v1.ip, r1.ip),
        );
        add(
            "arp request for host-c ip (responder)",
            arp_req(bi, v2.ofport, v2.mac, v2.ip, c1.ip),
        );
        add(
            "arp request for net1 remote ip (responder)",
            arp_req(bi, v3.ofport, v3.mac, v3.ip, r3.ip),
        );
        add(
            "arp request for local ip",
            arp_req(bi, v1.ofport, v1.mac, v1.ip, v2.ip),
        );
        add(
            "arp request for gateway ip",
            arp_req(bi, v1.ofport, v1.mac, v1.ip, nets[0].gw_ip),
        );
        add(
            "arp request for unknown ip",
            arp_req(bi, v1.ofport, v1.mac, v1.ip, ip("10.1.0.99")),
        );
        add(
            "gratuitous arp reply",
            Pkt {
                l3: L3::Arp {
                    op: 2,
                    sha: v1.mac,
                    spa: v1.ip,
                    tha: BCAST,
                    tpa: v1.ip,
                },
                ..arp_req(bi, v1.ofport, v1.mac, v1.ip, v1.ip)
            },
        );
        add(
            "arp reply unicast to local vm",
            Pkt {
                dst: v2.mac,
                l3: L3::Arp {
                    op: 2,
                    sha: v1.mac,
                    spa: v1.ip,
                    tha: v2.mac,
                    tpa: v2.ip,
                },
                ..arp_req(bi, v1.ofport, v1.mac, v1.ip, v2.ip)
            },
        );
        // Unknown unicast, broadcast, multicast: flooded (table 22).
        add(
            "unknown unicast",
            ipv4(
                bi,
                v1.ofport,
                v1.mac,
                mac("fa:16:3e:ff:ff:01"),
                v1.ip,
                ip("10.1.0.77"),
                tcp(80),
            ),
        );
        add(
            "unknown unicast net1",
            ipv4(
                bi,
                v3.ofport,
                v3.mac,
                mac("fa:16:3e:ff:ff:02"),
                v3.ip,
                ip("10.2.0.77"),
                udp(1, 2),
            ),
        );
        add(
            "dhcp discover broadcast",
            ipv4(
                bi,
                v1.ofport,
                v1.mac,
                BCAST,
                ip("0.0.0.0"),
                ip("255.255.255.255"),
                udp(68, 67),
            ),
        );
        add(
            "ipv6 multicast",
            Pkt {
                dst: mac("33:33:00:00:00:01"),
                l3: L3::Ipv6 {
                    src: v3.ip6(),
                    dst: ip6("ff02::1"),
                    tclass: 0,
                    hlim: 255,
                    l4: L4::Icmp { ty: 128, code: 0 },
                },
                ..ipv4(bi, v3.ofport, v3.mac, v3.mac, v3.ip, v3.ip, tcp(1))
            },
        );
        // From tunnels.
        add(
            "from tunnel to local vm",
            with_tun(
                ipv4(bt, tun_o, r1.mac, v1.mac, r1.ip, v1.ip, tcp(22)),
                nets[0].vni,
            ),
        );
        add(
            "from tunnel to local vm net1",
            with_tun(
                ipv4(bt, tun_o, r3.mac, v3.mac, r3.ip, v3.ip, icmp_echo()),
                nets[1].vni,
            ),
        );
        add(
            "from host-c tunnel to local vm",
            with_tun(
                ipv4(bt, tun_c, c1.mac, v2.mac, c1.ip, v2.ip, udp(9, 9)),
                nets[0].vni,
            ),
        );
        add(
            "from tunnel: arp broadcast",
            with_tun(arp_req(bt, tun_o, r1.mac, r1.ip, v1.ip), nets[0].vni),
        );
        add(
            "from tunnel: unknown vni",
            with_tun(ipv4(bt, tun_o, r1.mac, v1.mac, r1.ip, v1.ip, tcp(22)), 0x99),
        );
        add(
            "from tunnel: no vni",
            ipv4(bt, tun_o, r1.mac, v1.mac, r1.ip, v1.ip, tcp(22)),
        );
        add(
            "from tunnel: unknown local mac",
            with_tun(
                ipv4(
                    bt,
                    tun_o,
                    r1.mac,
                    mac("fa:16:3e:ee:ee:01"),
                    r1.ip,
                    v1.ip,
                    tcp(22),
                ),
                nets[0].vni,
            ),
        );
        // DVR: routed by the remote host's router; source is its DVR MAC.
        add(
            "dvr routed from remote dvr mac",
            with_tun(
                ipv4(bt, tun_o, other.dvr_mac, v1.mac, r3.ip, v1.ip, tcp(80)),
                nets[0].vni,
            ),
        );
        add(
            "dvr routed from host-c dvr mac net1",
            with_tun(
                ipv4(bt, tun_c, dvr_mac('c'), v3.mac, c1.ip, v3.ip, udp(7, 7)),
                nets[1].vni,
            ),
        );
        add(
            "dvr mac source to a mac not local",
            with_tun(
                ipv4(bt, tun_o, other.dvr_mac, r1.mac, r3.ip, r1.ip, tcp(80)),
                nets[0].vni,
            ),
        );
        add(
            "arp reply to own dvr mac",
            with_tun(
                Pkt {
                    dst: self.dvr_mac,
                    l3: L3::Arp {
                        op: 2,
                        sha: other.dvr_mac,
                        spa: r1.ip,
                        tha: self.dvr_mac,
                        tpa: nets[0].gw_ip,
                    },
                    ..arp_req(bt, tun_o, other.dvr_mac, r1.ip, v1.ip)
                },
                nets[0].vni,
            ),
        );
        // Frames to the qr- MAC never leave the host (br-tun table 1 drops them).
        add(
            "frame to qr mac",
            ipv4(
                bi,
                v2.ofport,
                v2.mac,
                nets[0].gw_mac,
                v2.ip,
                ip("8.8.8.8"),
                tcp(53),
            ),
        );
        // Anti-spoofing.
        add(
            "spoofed arp spa",
            arp_req(bi, v1.ofport, v1.mac, ip("10.1.0.99"), r1.ip),
        );
        add(
            "spoofed arp source mac",
            Pkt {
                src: mac("fa:16:3e:66:66:66"),
                ..arp_req(bi, v1.ofport, v1.mac, v1.ip, r1.ip)
            },
        );
        add(
            "spoofed mac",
            ipv4(
                bi,
                v1.ofport,
                mac("fa:16:3e:66:66:66"),
                v2.mac,
                v1.ip,
                v2.ip,
                tcp(80),
            ),
        );
        let na = |target: Ipv6Addr| Pkt {
            dst: mac("33:33:00:00:00:01"),
            l3: L3::Ipv6 {
                src: v1.ip6(),
                dst: ip6("ff02::1"),
                tclass: 0,
                hlim: 255,
                l4: L4::Nd { ty: 136, target },
            },
            ..ipv4(bi, v1.ofport, v1.mac, v1.mac, v1.ip, v1.ip, tcp(1))
        };
        add("neighbour advertisement for own address", na(v1.ip6()));
        add("spoofed neighbour advertisement", na(ip6("fe80::bad")));
        // Dead VLAN and tagged frames from access ports.
        add(
            "tagged 4095 from vm",
            with_vlan(
                ipv4(bi, v1.ofport, v1.mac, v2.mac, v1.ip, v2.ip, tcp(80)),
                4095,
                0,
            ),
        );
        add(
            "from dead port",
            ipv4(
                bi,
                self.dead.1,
                mac("fa:16:3e:de:ad:01"),
                v1.mac,
                ip("10.1.0.66"),
                v1.ip,
                tcp(80),
            ),
        );
        add(
            "tagged vid 7 from vm (access port)",
            with_vlan(
                ipv4(bi, v1.ofport, v1.mac, v2.mac, v1.ip, v2.ip, tcp(80)),
                7,
                0,
            ),
        );
        add(
            "priority-tagged from vm",
            with_vlan(
                ipv4(bi, v1.ofport, v1.mac, v2.mac, v1.ip, v2.ip, tcp(80)),
                0,
                5,
            ),
        );
        if let Some((ex, _, _, _)) = &self.br_ex {
            add(
                "from br-ex uplink",
                ipv4(
                    ex,
                    2,
                    mac("52:54:00:00:00:01"),
                    BCAST,
                    ip("192.0.2.1"),
                    ip("192.0.2.255"),
                    udp(5, 5),
                ),
            );
            add(
                "from br-ex uplink, tagged",
                with_vlan(
                    ipv4(
                        ex,
                        2,
                        mac("52:54:00:00:00:01"),
                        v1.mac,
                        ip("192.0.2.1"),
                        v1.ip,
                        tcp(5),
                    ),
                    100,
                    2,
                ),
            );
            add(
                "from br-ex uplink with remote dvr mac",
                ipv4(ex, 2, other.dvr_mac, v1.mac, r1.ip, v1.ip, tcp(80)),
            );
        }
        v
    }

    /// MAC entries: host A has learned its local ports and one remote VM; host B has
    /// learned nothing (so its unicast floods).
    fn fdb(&self, other: &Host) -> Vec<Fdb> {
        if self.id != 'a' {
            return vec![];
        }
        let nets = nets();
        let mut v: Vec<Fdb> = self
            .vms
            .iter()
            .map(|m| Fdb {
                bridge: self.br_int.clone(),
                port: m.name.clone(),
                vlan: self.lvid[m.net],
                mac: m.mac,
            })
            .collect();
        for (n, (q, _)) in self.qr.iter().enumerate() {
            v.push(Fdb {
                bridge: self.br_int.clone(),
                port: q.clone(),
                vlan: self.lvid[n],
                mac: nets[n].gw_mac,
            });
        }
        v.push(Fdb {
            bridge: self.br_int.clone(),
            port: self.patch_tun(),
            vlan: self.lvid[0],
            mac: other.vms[0].mac,
        });
        v
    }
}

/// The DVR deployment, loaded into both switches; returns the harness and the cases.
pub fn dvr() -> Result<(Diff, Vec<(String, Pkt)>), String> {
    let (a, b, c) = hosts();
    let mut bridges = a.bridges();
    bridges.extend(b.bridges());
    let mut d = Diff::new("dvr", bridges)?;
    let mut flows: Vec<(String, Vec<String>)> = vec![];
    for (h, o) in [(&a, &b), (&b, &a)] {
        flows.push((h.br_int.clone(), h.br_int_flows()));
        flows.push((h.br_tun.clone(), h.br_tun_flows(o, &c)));
        if let Some((ex, ..)) = &h.br_ex {
            flows.push((ex.clone(), h.br_ex_flows()));
        }
    }
    let refs: Vec<(&str, Vec<String>)> =
        flows.iter().map(|(b, f)| (b.as_str(), f.clone())).collect();
    d.set_flows(&refs)?;
    let mut fdb = a.fdb(&b);
    fdb.extend(b.fdb(&a));
    d.set_fdb(fdb)?;
    let mut cases = a.cases(&b, &c);
    cases.extend(b.cases(&a, &c));
    Ok((d, cases))
}

/// The br-tun of host A alone with its learning flow (for the learn() test): bridge
/// definitions, flows per bridge, and a packet from the tunnel to host B.
pub fn dvr_host_a() -> (Vec<BridgeDef>, Vec<(String, Vec<String>)>) {
    let (a, b, c) = hosts();
    let mut flows = vec![
        (a.br_int.clone(), a.br_int_flows()),
        (a.br_tun.clone(), a.br_tun_flows(&b, &c)),
    ];
    if let Some((ex, ..)) = &a.br_ex {
        flows.push((ex.clone(), a.br_ex_flows()));
    }
    (a.bridges(), flows)
}

/// Packets arriving at host A's br-tun from tunnels (they reach table 10 and learn).
pub fn learn_packets() -> Vec<Pkt> {
    let (a, b, c) = hosts();
    let nets = nets();
    let ta = a.tun_to('b').ofport;
    let tc = a.tun_to('c').ofport;
    vec![
        with_tun(
            ipv4(
                &a.br_tun,
                ta,
                b.vms[0].mac,
                a.vms[0].mac,
                b.vms[0].ip,
                a.vms[0].ip,
                tcp(22),
            ),
            nets[0].vni,
        ),
        with_tun(
            ipv4(
                &a.br_tun,
                ta,
                b.vms[2].mac,
                a.vms[2].mac,
                b.vms[2].ip,
                a.vms[2].ip,
                udp(1, 2),
            ),
            nets[1].vni,
        ),
        with_tun(
            arp_req(&a.br_tun, tc, c[0].mac, c[0].ip, a.vms[1].ip),
            nets[0].vni,
        ),
        // The same source again: re-learning refreshes, it does not duplicate.
        with_tun(
            ipv4(
                &a.br_tun,
                ta,
                b.vms[0].mac,
                a.vms[1].mac,
                b.vms[0].ip,
                a.vms[1].ip,
                tcp(80),
            ),
            nets[0].vni,
        ),
        // A remote MAC l2pop does not know: only the learned flow reaches it.
        with_tun(
            ipv4(
                &a.br_tun,
                ta,
                mac(UNKNOWN_REMOTE),
                a.vms[0].mac,
                ip("10.1.0.29"),
                a.vms[0].ip,
                udp(5, 6),
            ),
            nets[0].vni,
        ),
        // The same MAC moves to the other tunnel: the learned flow is replaced.
        with_tun(
            arp_req(
                &a.br_tun,
                tc,
                mac(MOVING_REMOTE),
                ip("10.1.0.28"),
                a.vms[0].ip,
            ),
            nets[0].vni,
        ),
        with_tun(
            arp_req(
                &a.br_tun,
                ta,
                mac(MOVING_REMOTE),
                ip("10.1.0.28"),
                a.vms[1].ip,
            ),
            nets[0].vni,
        ),
    ]
}

const UNKNOWN_REMOTE: &str = "fa:16:3e:b9:00:09";
const MOVING_REMOTE: &str = "fa:16:3e:b8:00:08";

/// After learning: VMs on host A sending to the learned MACs (through br-int's NORMAL,
/// the patch, and br-tun table 20's learned flows).
pub fn post_learn_cases() -> Vec<(String, Pkt)> {
    let (a, b, _) = hosts();
    let (v1, v3) = (&a.vms[0], &a.vms[2]);
    vec![
        (
            "to a MAC only learning knows".into(),
            ipv4(
                &a.br_int,
                v1.ofport,
                v1.mac,
                mac(UNKNOWN_REMOTE),
                v1.ip,
                ip("10.1.0.29"),
                tcp(80),
            ),
        ),
        (
            "to a MAC that moved tunnels".into(),
            ipv4(
                &a.br_int,
                v1.ofport,
                v1.mac,
                mac(MOVING_REMOTE),
                v1.ip,
                ip("10.1.0.28"),
                icmp_echo(),
            ),
        ),
        (
            "to a learned MAC that l2pop also knows".into(),
            ipv4(
                &a.br_int,
                v3.ofport,
                v3.mac,
                b.vms[2].mac,
                v3.ip,
                b.vms[2].ip,
                udp(9, 9),
            ),
        ),
        (
            "to a MAC learned in the other network".into(),
            ipv4(
                &a.br_int,
                v1.ofport,
                v1.mac,
                b.vms[2].mac,
                v1.ip,
                b.vms[2].ip,
                udp(9, 9),
            ),
        ),
    ]
}

// ------------------------------------------------------------------ seeds

/// The seed flows (datapath/tests/fixtures/seed_flows.txt) come from one article's
/// `ovs-ofctl dump-flows` of two compute nodes in a DVR deployment (seed 001): lines
/// 1-10 are compute1's br-int, 11-19 compute1's br-tun, 20-24 compute2's br-tun,
/// 25-29 compute2's br-int. The port numbers are the article's (`ovs-ofctl show` and
/// `ovs-vsctl show` there): compute1 br-int 31 = patch-tun, 30 = int-br-eth1, 27 = the
/// VM's qvo port (tag 2), the qr- ports have tags 1 and 2; compute1 br-tun 8 =
/// patch-int, 9 and 10 = GRE ports; compute2 br-tun 9 = patch-int, 13 and 14 = GRE;
/// compute2 br-int 37 = patch-tun, 36 = int-br-eth1, 38 = the VM port (VLAN 3).
pub const SEED_FLOWS: &str = include_str!("../../../datapath/tests/fixtures/seed_flows.txt");

pub struct SeedGroup {
    pub bridge: &'static str,
    pub lines: std::ops::Range<usize>,
}

pub const SEED_GROUPS: &[SeedGroup] = &[
    SeedGroup {
        bridge: "br-int1",
        lines: 0..10,
    },
    SeedGroup {
        bridge: "br-tun1",
        lines: 10..19,
    },
    SeedGroup {
        bridge: "br-tun2",
        lines: 19..24,
    },
    SeedGroup {
        bridge: "br-int2",
        lines: 24..29,
    },
];

pub fn seed_bridges() -> Vec<BridgeDef> {
    vec![
        BridgeDef {
            name: "br-int1".into(),
            ports: vec![
                PortDef::access("qvof76ecb29-5d", 27, 2),
                PortDef::access("qr-43fad9d6-53", 25, 1),
                PortDef::access("qr-c669122c-11", 26, 2),
                PortDef::plain("int-br-eth1", 30),
                PortDef::patch("patch-tun1", 31, "patch-int1"),
            ],
        },
        BridgeDef {
            name: "br-tun1".into(),
            ports: vec![
                PortDef::patch("patch-int1", 8, "patch-tun1"),
                PortDef::plain("gre-0a0b0172", 9),
                PortDef::plain("gre-0a0b0174", 10),
                // Not in the article: a port without a table-0 flow of its own, so the
                // table-0 default drop is reachable.
                PortDef::plain("spare1", 11),
            ],
        },
        BridgeDef {
            name: "br-tun2".into(),
            ports: vec![
                PortDef::patch("patch-int2", 9, "patch-tun2"),
                PortDef::plain("gre2-0a0b0172", 13),
                PortDef::plain("gre-0a0b0173", 14),
                PortDef::plain("spare2", 15),
            ],
        },
        BridgeDef {
            name: "br-int2".into(),
            ports: vec![
                PortDef::plain("int-br-eth2", 36),
                PortDef::patch("patch-tun2", 37, "patch-int2"),
                PortDef::access("vm2-port", 38, 3),
            ],
        },
    ]
}

pub fn seed_flows() -> Vec<(String, Vec<String>)> {
    let lines: Vec<&str> = SEED_FLOWS.lines().collect();
    assert_eq!(
        lines.len(),
        29,
        "seed_flows.txt changed: update SEED_GROUPS"
    );
    SEED_GROUPS
        .iter()
        .map(|g| {
            (
                g.bridge.to_string(),
                lines[g.lines.clone()]
                    .iter()
                    .map(|s| s.trim().to_string())
                    .collect(),
            )
        })
        .collect()
}

/// Packets that between them hit every seed flow (except the canary tables' drop,
/// which no packet reaches: the agent only dumps it).
pub fn seed_cases() -> Vec<(String, Pkt)> {
    let dvr1 = mac("fa:16:3f:ec:09:21");
    let dvr2 = mac("fa:16:3f:1a:cf:03");
    let dvr_c1 = mac("fa:16:3f:97:87:a1");
    let vm1 = mac("fa:16:3e:17:6b:a7");
    let vm2 = mac("fa:16:3e:2a:34:19");
    let qr1 = mac("fa:16:3e:a3:95:c2");
    let qr2 = mac("fa:16:3e:cd:50:8d");
    let (vm1_ip, vm2_ip) = (ip("192.168.2.3"), ip("192.168.3.3"));
    let icmp = icmp_echo();
    let mut v: Vec<(String, Pkt)> = Vec::new();
    let mut add = |l: &str, p: Pkt| v.push((l.to_string(), p));
    // compute1 br-int.
    add(
        "routed from remote DVR MAC via patch-tun to the VM",
        with_vlan(
            ipv4("br-int1", 31, dvr1, vm1, vm2_ip, vm1_ip, icmp.clone()),
            2,
            0,
        ),
    );
    add(
        "remote DVR MAC, other destination",
        with_vlan(
            ipv4("br-int1", 31, dvr1, qr2, vm2_ip, vm1_ip, icmp.clone()),
            2,
            0,
        ),
    );
    add(
        "second DVR MAC via patch-tun",
        with_vlan(
            ipv4("br-int1", 31, dvr2, vm1, vm2_ip, vm1_ip, icmp.clone()),
            2,
            0,
        ),
    );
    add(
        "DVR MAC from the physical bridge",
        ipv4("br-int1", 30, dvr1, vm1, vm2_ip, vm1_ip, icmp.clone()),
    );
    add(
        "second DVR MAC from the physical bridge",
        ipv4("br-int1", 30, dvr2, vm1, vm2_ip, vm1_ip, icmp.clone()),
    );
    add(
        "anything else from the physical bridge",
        ipv4(
            "br-int1",
            30,
            mac("52:54:00:12:34:56"),
            vm1,
            vm2_ip,
            vm1_ip,
            icmp.clone(),
        ),
    );
    add(
        "VM1 pings its gateway",
        ipv4("br-int1", 27, vm1, qr2, vm1_ip, vm2_ip, icmp.clone()),
    );
    add(
        "VM1 arp for its gateway",
        arp_req("br-int1", 27, vm1, vm1_ip, ip("192.168.2.1")),
    );
    add(
        "router port 1 routes to VM2 on compute2",
        ipv4("br-int1", 25, qr1, vm2, vm1_ip, vm2_ip, icmp.clone()),
    );
    add(
        "router port 2 sends to an unknown MAC",
        ipv4(
            "br-int1",
            26,
            qr2,
            mac("fa:16:3e:00:00:99"),
            ip("192.168.2.1"),
            vm1_ip,
            icmp.clone(),
        ),
    );
    add(
        "router port 1 broadcasts",
        arp_req("br-int1", 25, qr1, ip("192.168.3.1"), vm2_ip),
    );
    // compute1 br-tun from its GRE ports and the spare port.
    add(
        "GRE 10 -> table 3 (no flows there)",
        with_tun(
            ipv4("br-tun1", 10, vm2, vm1, vm2_ip, vm1_ip, icmp.clone()),
            2,
        ),
    );
    add(
        "GRE 9 -> table 3",
        with_tun(
            ipv4("br-tun1", 9, vm2, vm1, vm2_ip, vm1_ip, icmp.clone()),
            1,
        ),
    );
    add(
        "spare port -> table 0 drop",
        ipv4("br-tun1", 11, vm2, vm1, vm2_ip, vm1_ip, icmp.clone()),
    );
    add(
        "from patch-int, tagged, VLAN 1 unicast",
        with_vlan(
            ipv4("br-tun1", 8, qr1, vm2, vm1_ip, vm2_ip, icmp.clone()),
            1,
            0,
        ),
    );
    add(
        "from patch-int, broadcast",
        with_vlan(arp_req("br-tun1", 8, vm1, vm1_ip, vm2_ip), 2, 0),
    );
    // compute2 br-tun: the article's packet, from GRE 14 with key 2.
    add(
        "article: GRE key 2 from compute1's DVR MAC",
        with_tun(
            ipv4("br-tun2", 14, dvr_c1, vm2, vm1_ip, vm2_ip, icmp.clone()),
            2,
        ),
    );
    add(
        "GRE 13 key 2, not a DVR MAC",
        with_tun(
            ipv4("br-tun2", 13, vm1, vm2, vm1_ip, vm2_ip, icmp.clone()),
            2,
        ),
    );
    add(
        "GRE 13 key 5",
        with_tun(
            ipv4("br-tun2", 13, dvr_c1, vm2, vm1_ip, vm2_ip, icmp.clone()),
            5,
        ),
    );
    add(
        "spare port on br-tun2",
        ipv4("br-tun2", 15, dvr_c1, vm2, vm1_ip, vm2_ip, icmp.clone()),
    );
    // compute2 br-int.
    add(
        "compute2: DVR MAC from the physical bridge",
        ipv4("br-int2", 36, dvr2, vm2, vm1_ip, vm2_ip, icmp.clone()),
    );
    add(
        "compute2: DVR MAC via patch-tun, other VLAN",
        with_vlan(
            ipv4("br-int2", 37, dvr_c1, vm2, vm1_ip, vm2_ip, icmp.clone()),
            4,
            0,
        ),
    );
    add(
        "compute2: VM2 replies",
        ipv4(
            "br-int2",
            38,
            vm2,
            qr1,
            vm2_ip,
            vm1_ip,
            L4::Icmp { ty: 0, code: 0 },
        ),
    );
    v
}

// ------------------------------------------------------------------ reproducers

/// One minimal case per known mismatch class (on the random scenario's topology:
/// br0 p1=1 trunk, p2=2 tag 10, p3=3 tag 20, p4=4 trunks 10,30, patch0=10; br1 q1=1
/// trunk, q2=2 tag 10, q3=3 tag 30, patch1=10): (class id, flows of br0, flows of br1,
/// packet).
pub fn fixed_mismatch_cases() -> Vec<(&'static str, Vec<String>, Vec<String>, Pkt)> {
    let m1 = mac("02:00:00:00:00:01");
    let m2 = mac("02:00:00:00:00:02");
    let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
    let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    let raw = |bridge: &str, in_port: u32, dst: Mac, vlan: Option<(u16, u8)>| Pkt {
        bridge: bridge.into(),
        in_port,
        tun_id: None,
        src: m1,
        dst,
        vlan,
        l3: L3::Raw(0x88b5),
    };
    vec![
        (
            "normal-reserved-multicast",
            f(&["priority=0,actions=NORMAL"]),
            f(&["priority=0,actions=output:1"]),
            raw("br0", 1, mac("01:80:c2:00:00:00"), None),
        ),
        (
            "peer-bridge-error-drops-everything",
            f(&["in_port=1,actions=output:10,output:4"]),
            f(&["priority=0,actions=resubmit(,0)"]),
            raw("br0", 1, m2, None),
        ),
        (
            // 70 forward goto_tables: OVS is fine (no backward step), xvs counts 70 levels.
            "depth-limit-counts-every-table",
            (0..70)
                .map(|t| format!("table={t},actions=goto_table:{}", t + 1))
                .chain(std::iter::once("table=70,actions=output:4".to_string()))
                .collect(),
            f(&[]),
            raw("br0", 1, m2, None),
        ),
        (
            "push-vlan-on-tagged-unsupported",
            f(&["in_port=1,actions=push_vlan:0x8100,set_field:4101->vlan_vid,output:4"]),
            f(&[]),
            raw("br0", 1, m2, Some((10, 0))),
        ),
        (
            "ipv6-hlimit-tclass-not-committed",
            f(&["in_port=1,ipv6,actions=dec_ttl,output:4"]),
            f(&[]),
            Pkt {
                l3: L3::Ipv6 {
                    src: ip6("2001:db8::1"),
                    dst: ip6("2001:db8::2"),
                    tclass: 0,
                    hlim: 64,
                    l4: udp(1, 2),
                },
                ..raw("br0", 1, m2, None)
            },
        ),
        (
            "resubmit-port-kept-for-actions",
            f(&[
                "table=0,in_port=1,actions=resubmit(4,1)",
                "table=1,priority=0,actions=IN_PORT",
            ]),
            f(&[]),
            raw("br0", 1, m2, None),
        ),
        (
            "tun-id-kept-across-patch",
            f(&["in_port=1,actions=set_field:0x5->tun_id,output:10"]),
            f(&[
                "priority=10,tun_id=0x5,actions=output:1",
                "priority=0,actions=output:2",
            ]),
            raw("br0", 1, m2, None),
        ),
        (
            // Writing 0 to vlan_tci removes the whole stack once; a later output
            // must not pop again (the inner TCI lingers in the key, not the frame).
            "vlan-stack-after-tag-removal",
            f(&["in_port=1,actions=push_vlan:0x8100,set_field:4106->vlan_vid,load:0->NXM_OF_VLAN_TCI[],output:4,mod_dl_src:02:00:00:00:00:03,output:2"]),
            f(&[]),
            raw("br0", 1, m2, Some((20, 0))),
        ),
        (
            // Lookups that miss count against the 4096-resubmit limit too (OVS runs
            // its table-miss rule): 100 x (1 hit + 50 misses) > 4096, translation fails.
            "resubmit-limit-counts-misses",
            vec![
                format!("table=0,in_port=1,actions={}output:4", "resubmit(,1),".repeat(100)),
                format!("table=1,actions={}", vec!["resubmit(,9)"; 50].join(",")),
            ],
            f(&[]),
            raw("br0", 1, m2, None),
        ),
        (
            // A double-tagged frame is not for an access port of its outer VLAN.
            "normal-double-tag-not-to-access",
            f(&["in_port=1,actions=push_vlan:0x8100,set_field:4106->vlan_vid,NORMAL"]),
            f(&[]),
            raw("br0", 1, m2, Some((20, 0))),
        ),
        (
            "normal-priority-tag-stripped",
            f(&["priority=0,actions=NORMAL"]),
            f(&["priority=0,actions=output:1"]),
            Pkt {
                l3: L3::Ipv4 {
                    src: a,
                    dst: b,
                    tos: 0,
                    ttl: 64,
                    l4: tcp(80),
                },
                ..raw("br0", 1, m2, Some((0, 5)))
            },
        ),
    ]
}
