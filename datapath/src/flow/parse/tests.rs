//! Unit tests for the flow text parser and printer: every match and action form, the
//! printing rules, and the error cases with their positions.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::flow::action::{
    ofpp, Ct, CtZone, Learn, LearnSpec, LearnSrc, Nat, NatKind, SetSpelling,
};
use crate::flow::field::Prereq;
use crate::flow::format::{format_actions, format_flow, format_match, format_port};

fn add(s: &str) -> FlowSpec {
    parse_flow(s, ParseMode::Add, &NoPortNames).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn mat(s: &str) -> Match {
    parse_match(s, &NoPortNames)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .0
}

/// The match as dump-flows prints it.
fn pm(s: &str) -> String {
    let (m, p) = parse_match(s, &NoPortNames).unwrap_or_else(|e| panic!("{s}: {e}"));
    format_match(&m, p.unwrap_or(crate::flow::DEFAULT_PRIORITY))
}

/// Actions parsed in the context of a match.
fn acts(m: &str, a: &str) -> Vec<Action> {
    add(&format!("{m} actions={a}")).actions.unwrap()
}

/// Actions parsed and printed.
fn pa(m: &str, a: &str) -> String {
    format_actions(&acts(m, a))
}

fn err_in(s: &str, mode: ParseMode) -> ParseError {
    match parse_flow(s, mode, &NoPortNames) {
        Ok(f) => panic!("{s} parsed as {}", format_flow(&f)),
        Err(e) => e,
    }
}

fn err(s: &str) -> ParseError {
    err_in(s, ParseMode::Add)
}

/// Asserts an error at the byte offset of `at` (its first occurrence) whose message
/// contains `msg`.
fn assert_err(s: &str, at: &str, msg: &str) {
    let e = err(s);
    let pos = s.find(at).unwrap_or_else(|| panic!("{at} not in {s}"));
    assert_eq!(e.pos, pos, "{s}: {e}");
    assert!(e.msg.contains(msg), "{s}: {e} (wanted '{msg}')");
}

fn rt(s: &str) {
    let f = add(s);
    let t = format_flow(&f);
    assert_eq!(
        parse_flow(&t, ParseMode::Add, &NoPortNames).unwrap(),
        f,
        "{s} -> {t}"
    );
}

// ---------------------------------------------------------------- tokenizing

#[test]
fn flow_tokenizing_like_ovs() {
    // Commas and/or white space separate; white space before and after commas.
    let a = add("priority=1 , in_port=2,,  dl_vlan=3\tactions=output:1 ,  output:2");
    assert_eq!(a.priority, Some(1));
    assert_eq!(a.m.get(Field::InPort), (2, 0xffff));
    assert_eq!(
        format_actions(a.actions.as_ref().unwrap()),
        "output:1,output:2"
    );
    // "actions" is found like ofp_extract_actions: first "action", then '='.
    let b = add("tun_id=0x2actions=mod_vlan_vid:3,resubmit(,9)");
    assert_eq!(b.m.get(Field::TunId).0, 2);
    let c = add("in_port=1 action=drop");
    assert_eq!(c.actions, Some(vec![]));
    // dump-flows statistics are ignored.
    let d = add(
        "cookie=0x5, duration=1.2s, table=3, n_packets=4, n_bytes=5, idle_age=6, hard_age=7, \
         priority=8 actions=drop",
    );
    assert_eq!((d.cookie, d.table, d.priority), (5, Some(3), Some(8)));
    // Empty actions are drop.
    assert_eq!(add("in_port=1,actions=").actions, Some(vec![]));
}

#[test]
fn flow_keywords() {
    let f = add(
        "cookie=0x10,table=5,priority=0x10,idle_timeout=10,hard_timeout=20,importance=3,\
         send_flow_rem check_overlap in_port=1 actions=drop",
    );
    assert_eq!(f.cookie, 0x10);
    assert_eq!(f.table, Some(5));
    assert_eq!(f.priority, Some(16));
    assert_eq!((f.idle_timeout, f.hard_timeout, f.importance), (10, 20, 3));
    assert!(f.send_flow_rem && f.check_overlap);
    assert_eq!(
        format_flow(&f),
        "cookie=0x10, table=5, idle_timeout=10, hard_timeout=20, send_flow_rem check_overlap \
         importance=3, priority=16,in_port=1 actions=drop"
    );
    rt("cookie=0x10,table=5,priority=7,idle_timeout=10,hard_timeout=20,importance=3,send_flow_rem,check_overlap,in_port=1 actions=drop");
    // Octal, as C's strtol does.
    assert_eq!(add("priority=010 actions=drop").priority, Some(8));
    // table=255 means "no table".
    assert_eq!(add("table=255 actions=drop").table, None);
    // Explicit default priority survives a round trip.
    let p = add("priority=32768 actions=drop");
    assert_eq!(p.priority, Some(32768));
    assert_eq!(format_flow(&p), "priority=32768 actions=drop");
    assert_eq!(format_flow(&add("actions=drop")), "actions=drop");
    assert_eq!(
        format_flow(&add("table=0 actions=drop")),
        "table=0, actions=drop"
    );
}

#[test]
fn flow_modes() {
    // Modify: actions optional, cookie mask selects.
    let m = parse_flow("cookie=0x1/0xff,in_port=1", ParseMode::Modify, &NoPortNames).unwrap();
    assert_eq!(m.actions, None);
    assert_eq!((m.cookie, m.cookie_mask), (1, 0xff));
    let m2 = parse_flow(
        "in_port=1 actions=output:2",
        ParseMode::Modify,
        &NoPortNames,
    )
    .unwrap();
    assert_eq!(m2.actions.unwrap().len(), 1);
    assert_eq!(
        err_in("importance=1 actions=drop", ParseMode::Modify).pos,
        0
    );

    // Match (del-flows/dump-flows): filters, no actions.
    let f = parse_flow(
        "table=3,priority=5,out_port=LOCAL,cookie=0x5/-1,in_port=1",
        ParseMode::Match,
        &NoPortNames,
    )
    .unwrap();
    assert_eq!(f.table, Some(3));
    assert_eq!(f.priority, Some(5));
    assert_eq!(f.out_port, Some(ofpp::LOCAL));
    assert_eq!((f.cookie, f.cookie_mask), (5, u64::MAX));
    assert_eq!(f.actions, None);
    let t = format_flow(&f);
    assert_eq!(
        t,
        "cookie=0x5/0xffffffffffffffff, table=3, out_port=LOCAL, priority=5,in_port=1"
    );
    assert_eq!(parse_flow(&t, ParseMode::Match, &NoPortNames).unwrap(), f);
    assert_eq!(
        format_flow(&parse_flow("table=1", ParseMode::Match, &NoPortNames).unwrap()),
        "table=1"
    );

    let e = err_in("in_port=1 actions=output:2", ParseMode::Match);
    assert_eq!(e.pos, 10);
    assert!(e.msg.contains("actions are not allowed"));
    let e = err_in("cookie=5,in_port=1", ParseMode::Match);
    assert!(e.msg.contains("cannot set cookie"), "{e}");
    assert_eq!(err_in("idle_timeout=5", ParseMode::Match).pos, 0);
    assert_eq!(err("out_port=1 actions=drop").pos, 0);
    assert!(err("cookie=1/1 actions=drop").msg.contains("cookie mask"));

    let (m, p) = parse_match("priority=7,tcp,tp_dst=80", &NoPortNames).unwrap();
    assert_eq!(p, Some(7));
    assert_eq!(m.get(Field::TpDst), (80, 0xffff));
    assert_eq!(parse_match("in_port=1", &NoPortNames).unwrap().1, None);
}

// ---------------------------------------------------------------- matches

#[test]
fn match_protocol_shorthands() {
    for (s, dl, proto) in [
        ("ip", 0x0800, None),
        ("ipv4", 0x0800, None),
        ("ip4", 0x0800, None),
        ("icmp", 0x0800, Some(1)),
        ("tcp", 0x0800, Some(6)),
        ("udp", 0x0800, Some(17)),
        ("sctp", 0x0800, Some(132)),
        ("ipv6", 0x86dd, None),
        ("ip6", 0x86dd, None),
        ("icmp6", 0x86dd, Some(58)),
        ("tcp6", 0x86dd, Some(6)),
        ("udp6", 0x86dd, Some(17)),
        ("sctp6", 0x86dd, Some(132)),
        ("arp", 0x0806, None),
        ("rarp", 0x8035, None),
    ] {
        let m = mat(s);
        assert_eq!(m.get(Field::EthType), (dl, 0xffff), "{s}");
        match proto {
            Some(p) => assert_eq!(m.get(Field::IpProto), (p, 0xff), "{s}"),
            None => assert!(m.is_wild(Field::IpProto), "{s}"),
        }
        let canonical = match s {
            "ipv4" | "ip4" => "ip",
            "ip6" => "ipv6",
            _ => s,
        };
        assert_eq!(pm(s), canonical);
    }
    assert_eq!(pm("dl_type=0x0800,nw_proto=6"), "tcp");
    assert_eq!(pm("ip,nw_proto=89"), "ip,nw_proto=89");
    assert_eq!(pm("dl_type=0x1234"), "dl_type=0x1234");
    assert_eq!(pm("eth_type=2048"), "ip");
}

/// A value in the field's syntax, and the match context its prerequisites need.
fn sample(f: Field) -> (&'static str, &'static str) {
    use Field::*;
    let ctx = match f.info().prereq {
        Prereq::None | Prereq::Vlan => "",
        Prereq::Arp => "arp,",
        Prereq::Ipv4 => "ip,",
        Prereq::Ipv6 => "ipv6,",
        Prereq::Ip => "ip,",
        Prereq::Tcp => "tcp,",
        Prereq::Udp => "udp,",
        Prereq::Sctp => "sctp,",
        Prereq::Icmp => "icmp,",
        Prereq::Icmpv6 => "icmp6,",
        Prereq::Nd => "icmp6,icmp_type=135,",
        Prereq::NdSolicit => "icmp6,icmp_type=135,",
        Prereq::NdAdvert => "icmp6,icmp_type=136,",
    };
    let ctx = match f {
        TpSrc | TpDst => "udp,",
        _ => ctx,
    };
    let v = match f.info().fmt {
        Fmt::Mac => "fa:16:3e:01:02:03",
        Fmt::Ipv4 => "10.1.2.3",
        Fmt::Ipv6 => "2001:db8::7",
        Fmt::Port => "7",
        Fmt::Frag => "first",
        Fmt::TcpFlags => "+syn-ack",
        Fmt::CtState => "+trk+est",
        Fmt::TunFlags => "+oam",
        Fmt::Dec | Fmt::Hex => match f {
            DlVlanPcp => "5",
            IpFrag | NwEcn => "1",
            IpDscp => "46",
            NwTos => "184",
            EthType => "0x0800",
            VlanVid => "4101",
            _ => "3",
        },
    };
    (ctx, v)
}

#[test]
fn match_every_field_by_every_name() {
    for &f in Field::ALL {
        if f == Field::RecircId {
            continue;
        }
        let i = f.info();
        let (ctx, v) = sample(f);
        let reference = mat(&format!("{ctx}{}={v}", i.name));
        assert!(!reference.mask.is_zero(), "{} matched nothing", i.name);
        let mut names: Vec<&str> = vec![i.name];
        names.extend(i.aliases.iter());
        names.extend(i.nxm);
        names.extend(i.oxm);
        for n in names {
            let m = mat(&format!("{ctx}{n}={v}"));
            assert_eq!(m, reference, "{n}");
        }
        // Printing and reparsing keeps it.
        let text = format_match(&reference, 32768);
        assert_eq!(mat(&text), reference, "{} printed as {text}", i.name);
    }
}

#[test]
fn match_masks() {
    assert_eq!(
        pm("dl_dst=01:00:00:00:00:00/01:00:00:00:00:00"),
        "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00"
    );
    assert_eq!(
        pm("dl_dst=00:00:00:00:00:00/01:00:00:00:00:00"),
        "dl_dst=00:00:00:00:00:00/01:00:00:00:00:00"
    );
    assert_eq!(
        pm("dl_src=fa:16:3e:1:2:3/ff:ff:ff:ff:ff:ff"),
        "dl_src=fa:16:3e:01:02:03"
    );
    assert_eq!(pm("ip,nw_src=10.0.0.0/24"), "ip,nw_src=10.0.0.0/24");
    assert_eq!(pm("ip,nw_src=10.0.0.7/24"), "ip,nw_src=10.0.0.0/24");
    assert_eq!(
        pm("ip,nw_dst=10.0.0.0/255.255.0.0"),
        "ip,nw_dst=10.0.0.0/16"
    );
    assert_eq!(
        pm("ip,nw_src=10.0.0.0/255.255.0.255"),
        "ip,nw_src=10.0.0.0/255.255.0.255"
    );
    assert_eq!(pm("ip,nw_src=10.0.0.1/32"), "ip,nw_src=10.0.0.1");
    assert_eq!(pm("ip,nw_src=10.0.0.1/0"), "ip");
    assert_eq!(pm("arp,arp_spa=10.0.0.0/8"), "arp,arp_spa=10.0.0.0/8");
    assert_eq!(
        pm("ipv6,ipv6_src=2001:db8::/32"),
        "ipv6,ipv6_src=2001:db8::/32"
    );
    assert_eq!(
        pm("ipv6,ipv6_dst=fe80::1/ffff:ffff::ffff"),
        "ipv6,ipv6_dst=fe80::1/ffff:ffff::ffff"
    );
    assert_eq!(pm("ipv6,ipv6_src=::1.2.3.4"), "ipv6,ipv6_src=::1.2.3.4");
    assert_eq!(
        pm("ipv6,ipv6_src=::ffff:1.2.3.4"),
        "ipv6,ipv6_src=::ffff:1.2.3.4"
    );
    assert_eq!(pm("reg0=0x5/0xff"), "reg0=0x5/0xff");
    assert_eq!(pm("reg0=5/255"), "reg0=0x5/0xff");
    assert_eq!(pm("tcp,tp_dst=0x1000/0xf000"), "tcp,tp_dst=0x1000/0xf000");
    assert_eq!(pm("udp,tp_dst=0x60/0xffe0"), "udp,tp_dst=0x60/0xffe0");
    assert_eq!(pm("tcp,tp_dst=80/0xffff"), "tcp,tp_dst=80");
    assert_eq!(pm("tun_id=0x5/0xff"), "tun_id=0x5/0xff");
    assert_eq!(pm("metadata=0x5/0xff"), "metadata=0x5/0xff");
    assert_eq!(pm("pkt_mark=0x5/0xf"), "pkt_mark=0x5/0xf");
    assert_eq!(pm("ct_mark=0x1/0xff"), "ct_mark=0x1/0xff");
    assert_eq!(
        pm("tun_src=1.1.1.1,tun_dst=2.2.2.0/24"),
        "tun_src=1.1.1.1,tun_dst=2.2.2.0/24"
    );
    // Wildcards.
    assert_eq!(pm("in_port=*,reg0=*"), "");
    assert_eq!(pm("reg0"), "");
    assert_err("in_port actions=drop", "actions", "invalid or unknown port");
}

#[test]
fn match_vlan_forms() {
    let m = mat("dl_vlan=5");
    assert_eq!(m.get(Field::VlanTci), (0x1005, 0x1fff));
    assert_eq!(pm("dl_vlan=5"), "dl_vlan=5");
    assert_eq!(mat("dl_vlan=0xffff").get(Field::VlanTci), (0, 0xffff));
    assert_eq!(pm("dl_vlan=0xffff"), "vlan_tci=0x0000");
    assert_eq!(mat("dl_vlan_pcp=3").get(Field::VlanTci), (0x7000, 0xf000));
    assert_eq!(pm("dl_vlan_pcp=3,dl_vlan=7"), "dl_vlan=7,dl_vlan_pcp=3");
    assert_eq!(pm("vlan_tci=0x1005/0x1fff"), "dl_vlan=5");
    assert_eq!(pm("vlan_tci=0x0000/0x1fff"), "vlan_tci=0x0000/0x1fff");
    assert_eq!(pm("vlan_tci=0x3005"), "dl_vlan=5,dl_vlan_pcp=1");
    assert_eq!(pm("vlan_tci=0x2005"), "vlan_tci=0x2005");
    assert_eq!(pm("vlan_tci=0xf005"), "dl_vlan=5,dl_vlan_pcp=7");
    assert_eq!(
        mat("vlan_vid=0x1000/0x1000").get(Field::VlanTci),
        (0x1000, 0x1000)
    );
    assert_eq!(pm("vlan_vid=0x1000/0x1000"), "vlan_tci=0x1000/0x1000");
    assert_eq!(pm("vlan_vid=4101"), "dl_vlan=5");
    assert_eq!(pm("vlan_vid=0x1fff"), "dl_vlan=4095");
    assert_eq!(pm("vlan_vid=5"), "vlan_tci=0x0005/0x1fff");
    // Open vSwitch truncates dl_vlan to 12 bits.
    assert_eq!(pm("dl_vlan=5000"), "dl_vlan=904");
    assert_eq!(pm("dl_vlan=5,vlan_pcp=2"), "dl_vlan=5,dl_vlan_pcp=2");
}

#[test]
fn match_ip_fields() {
    assert_eq!(pm("ip,nw_tos=8,nw_ecn=1"), "ip,nw_tos=8,nw_ecn=1");
    assert_eq!(pm("ip,nw_tos=3"), "ip,nw_tos=0");
    assert_eq!(pm("ip,ip_dscp=46"), "ip,nw_tos=184");
    assert_eq!(pm("ipv6,nw_ttl=5"), "ipv6,nw_ttl=5");
    for (f, printed) in [
        ("no", "no"),
        ("first", "first"),
        ("later", "later"),
        ("yes", "yes"),
        ("not_later", "not_later"),
        ("NO", "no"),
    ] {
        assert_eq!(
            pm(&format!("ip,ip_frag={f}")),
            format!("ip,nw_frag={printed}")
        );
        assert_eq!(
            pm(&format!("ip,nw_frag={f}")),
            format!("ip,nw_frag={printed}")
        );
    }
    assert_eq!(
        pm("icmp,icmp_type=8,icmp_code=0"),
        "icmp,icmp_type=8,icmp_code=0"
    );
    assert_eq!(mat("icmp,icmp_type=8").get(Field::TpSrc), (8, 0xffff));
    assert_eq!(
        pm("icmp6,icmpv6_type=135,nd_target=fe80::1"),
        "icmp6,icmp_type=135,nd_target=fe80::1"
    );
    assert_eq!(
        pm("icmp6,icmp_type=136,nd_target=fe80::1,nd_tll=fa:16:3e:00:00:01"),
        "icmp6,icmp_type=136,nd_target=fe80::1,nd_tll=fa:16:3e:00:00:01"
    );
    assert_eq!(
        pm("icmp6,icmp_type=135,nd_sll=fa:16:3e:00:00:01"),
        "icmp6,icmp_type=135,nd_sll=fa:16:3e:00:00:01"
    );
    assert_eq!(
        pm("arp,arp_spa=10.0.0.0/24,arp_op=2,arp_tha=fa:16:3e:00:00:01,arp_sha=fa:16:3e:00:00:02"),
        "arp,arp_spa=10.0.0.0/24,arp_op=2,arp_sha=fa:16:3e:00:00:02,arp_tha=fa:16:3e:00:00:01"
    );
    assert_eq!(pm("rarp,arp_op=3"), "rarp,arp_op=3");
    assert_eq!(
        pm("udp6,tp_src=546,tp_dst=547"),
        "udp6,tp_src=546,tp_dst=547"
    );
    assert_eq!(pm("sctp,sctp_src=5"), "sctp,tp_src=5");
    assert_eq!(
        pm("eth_type=0x0800,ip_proto=17,udp_dst=67,ipv4_src=1.2.3.4"),
        "udp,nw_src=1.2.3.4,tp_dst=67"
    );
}

#[test]
fn match_flags_fields() {
    assert_eq!(pm("tcp,tcp_flags=+syn-ack"), "tcp,tcp_flags=+syn-ack");
    assert_eq!(pm("tcp,tcp_flags=-ack+syn"), "tcp,tcp_flags=+syn-ack");
    assert_eq!(
        pm("tcp,tcp_flags=0x12/0xff"),
        "tcp,tcp_flags=-fin+syn-rst-psh+ack-urg-ece-cwr"
    );
    assert_eq!(pm("tcp,tcp_flags=syn|ack"), "tcp,tcp_flags=syn|ack");
    assert_eq!(pm("tcp,tcp_flags=0x002"), "tcp,tcp_flags=syn");
    assert_eq!(pm("tcp,tcp_flags=0"), "tcp,tcp_flags=0");
    assert_eq!(mat("tcp,tcp_flags=syn").get(Field::TcpFlags), (2, 0xfff));

    assert_eq!(
        mat("ct_state=+trk+est-rel").get(Field::CtState),
        (0x22, 0x26)
    );
    assert_eq!(pm("ct_state=+trk+est-rel"), "ct_state=+est-rel+trk");
    assert_eq!(pm("ct_state=0x22/0x26"), "ct_state=+est-rel+trk");
    assert_eq!(pm("ct_state=0x20"), "ct_state=trk");
    assert_eq!(pm("ct_state=est|trk"), "ct_state=est|trk");
    assert_eq!(pm("ct_state=0"), "ct_state=0");
    for (bit, name) in [
        (0x01, "new"),
        (0x02, "est"),
        (0x04, "rel"),
        (0x08, "rpl"),
        (0x10, "inv"),
        (0x20, "trk"),
        (0x40, "snat"),
        (0x80, "dnat"),
    ] {
        assert_eq!(
            mat(&format!("ct_state=+{name}")).get(Field::CtState),
            (bit, bit)
        );
        assert_eq!(
            mat(&format!("ct_state=-{name}")).get(Field::CtState),
            (0, bit)
        );
    }
    for s in [
        "-trk",
        "+trk",
        "+new-est",
        "-est",
        "+est",
        "+est-rel-rpl",
        "+est-rel+rpl",
        "-new-est+rel-inv",
        "+trk+inv",
        "+new",
        "-new-rpl",
    ] {
        let m = mat(&format!("ct_state={s}"));
        assert_eq!(mat(&pm(&format!("ct_state={s}"))), m, "{s}");
    }
    assert_eq!(pm("ct_zone=5,ct_mark=0x1"), "ct_zone=5,ct_mark=0x1");
    assert_eq!(pm("ct_mark=0"), "ct_mark=0");
    assert!(err("ct_state=+foo actions=drop")
        .msg
        .contains("unknown ct_state flag"));
    assert!(err("ct_state=+trk+trk actions=drop")
        .msg
        .contains("only once"));
    assert!(err("tcp,tcp_flags=0x1000 actions=drop")
        .msg
        .contains("unknown TCP flag"));
}

#[test]
fn match_metadata_fields() {
    assert_eq!(
        pm("reg5=0x8,reg6=0x1/0xff,metadata=0x5/0xff,tun_id=0x2,pkt_mark=7,conj_id=10"),
        "pkt_mark=0x7,conj_id=10,reg5=0x8,reg6=0x1/0xff,tun_id=0x2,metadata=0x5/0xff"
    );
    // xregN is regs 2N (high) and 2N+1.
    assert_eq!(pm("xreg0=0x100000002"), "reg0=0x1,reg1=0x2");
    assert_eq!(pm("xreg3=5"), "reg6=0,reg7=0x5");
    assert_eq!(pm("reg0=0,reg7=0xffffffff"), "reg0=0,reg7=0xffffffff");
    assert_eq!(pm("tun_id=0"), "tun_id=0");
    assert_eq!(pm("tunnel_id=0x10"), "tun_id=0x10");
    assert_eq!(pm("in_port=LOCAL"), "in_port=LOCAL");
    assert_eq!(pm("in_port=local"), "in_port=LOCAL");
    assert_eq!(pm("in_port=65534"), "in_port=LOCAL");
    assert_eq!(pm("in_port=4294967294"), "in_port=LOCAL");
    assert_eq!(pm("in_port=CONTROLLER"), "in_port=CONTROLLER");
    // Sub-field matches.
    assert_eq!(pm("reg0[0..15]=5"), "reg0=0x5/0xffff");
    assert_eq!(pm("reg0[16..31]=5,reg0[0]=1"), "reg0=0x50001/0xffff0001");
    assert_eq!(pm("NXM_NX_REG1[4..7]=0xf"), "reg1=0xf0/0xf0");
    assert_eq!(pm("vlan_tci[0..11]=7"), "vlan_tci=0x0007/0x0fff");
    assert!(err("reg0[0..3]=16 actions=drop")
        .msg
        .contains("does not fit into 4 bits"));
}

#[test]
fn match_in_port_names() {
    let ports: HashMap<String, u32> = [("patch-tun".to_string(), 3)].into_iter().collect();
    let f = parse_flow(
        "in_port=patch-tun actions=output:patch-tun",
        ParseMode::Add,
        &ports,
    )
    .unwrap();
    assert_eq!(f.m.get(Field::InPort), (3, 0xffff));
    assert_eq!(
        f.actions.unwrap(),
        vec![Action::Output {
            port: 3,
            max_len: None
        }]
    );
    let g = parse_flow(
        "in_port=\"patch-tun\",actions=patch-tun",
        ParseMode::Add,
        &ports,
    )
    .unwrap();
    assert_eq!(g.m.get(Field::InPort), (3, 0xffff));
    assert_eq!(
        g.actions.unwrap(),
        vec![Action::Output {
            port: 3,
            max_len: None
        }]
    );
    let e = parse_flow("in_port=patch-int actions=drop", ParseMode::Add, &ports).unwrap_err();
    assert_eq!(e.pos, 8);
    assert!(e.msg.contains("invalid or unknown port"));
}

#[test]
fn match_prerequisites_are_dropped_like_ovs() {
    for (s, printed, dropped) in [
        ("nw_src=10.0.0.1", "", "nw_src"),
        ("tcp_dst=80", "", "tp_dst"),
        ("ip,tcp_dst=80", "ip", "tp_dst"),
        ("tp_dst=80", "", "tp_dst"),
        ("arp_tpa=1.2.3.4", "", "nw_dst"),
        ("icmp_type=3", "", "tp_src"),
        ("ipv6_src=::1", "", "ipv6_src"),
        ("ip_frag=later", "", "ip_frag"),
        ("tcp_flags=+syn", "", "tcp_flags"),
        ("udp,tcp_flags=+syn", "udp", "tcp_flags"),
        ("dl_type=0x1234,nw_proto=5", "dl_type=0x1234", "nw_proto"),
        ("icmp6,nd_target=::1", "icmp6", "nd_target"),
        (
            "icmp6,icmp_type=136,nd_sll=fa:16:3e:00:00:01",
            "icmp6,icmp_type=136",
            "arp_sha",
        ),
        ("ip,arp_sha=fa:16:3e:00:00:01", "ip", "arp_sha"),
        ("nw_tos=8", "", "nw_tos"),
    ] {
        let (f, w) =
            parse_flow_with_warnings(&format!("{s} actions=drop"), ParseMode::Add, &NoPortNames)
                .unwrap();
        assert_eq!(format_match(&f.m, 32768), printed, "{s}");
        assert!(w.iter().any(|w| w.starts_with(dropped)), "{s}: {w:?}");
    }
    // dl_vlan_pcp without dl_vlan is kept (it implies a VLAN header).
    assert_eq!(pm("dl_vlan_pcp=3"), "dl_vlan_pcp=3");
    // ARP addresses through the IPv4 names, and the reverse.
    assert_eq!(pm("arp,nw_src=1.2.3.4"), "arp,arp_spa=1.2.3.4");
    assert_eq!(pm("ip,arp_tpa=1.2.3.4"), "ip,nw_dst=1.2.3.4");
}

#[test]
fn match_errors_with_positions() {
    assert_err(
        "priority=1,nw_dest=10.0.0.1 actions=drop",
        "nw_dest",
        "unknown field 'nw_dest'",
    );
    assert_eq!(
        err("ip,in_port=1,nw_dest=10.0.0.1 actions=drop").to_string(),
        "column 14: unknown field 'nw_dest'"
    );
    assert_err(
        "tcp,tp_dst=70000 actions=drop",
        "70000",
        "too large for 2-byte field tp_dst",
    );
    assert_err(
        "reg0=0x100000000 actions=drop",
        "0x1",
        "too large for 4-byte field reg0",
    );
    assert_err("ip,nw_ttl=256 actions=drop", "256", "too large");
    assert_err(
        "in_port=1/0xff actions=drop",
        "1/0xff",
        "invalid or unknown port",
    );
    assert_err(
        "dl_type=0x800/0xff00 actions=drop",
        "0x800/",
        "invalid mask",
    );
    assert_err("arp,arp_op=2/0xff actions=drop", "2/0xff", "invalid mask");
    assert_err(
        "dl_src=fa:16:3e:00:00 actions=drop",
        "fa:16",
        "invalid Ethernet address",
    );
    assert_err(
        "ip,nw_src=10.0.0.256 actions=drop",
        "10.0.0.256",
        "invalid IP address",
    );
    assert_err(
        "ip,nw_src=10.0.0.0/33 actions=drop",
        "10.0.0.0/33",
        "prefix bits",
    );
    assert_err(
        "ipv6,ipv6_src=fe80:::1 actions=drop",
        "fe80",
        "invalid IPv6 address",
    );
    assert_err(
        "ip,ip_frag=maybe actions=drop",
        "maybe",
        "unknown fragment type",
    );
    assert_err("reg0=abc actions=drop", "abc", "bad syntax for reg0 value");
    assert_err("ipv6_label=5 actions=drop", "ipv6_label", "not supported");
    assert_err("reg9=5 actions=drop", "reg9", "not supported");
    assert_err(
        "in_port=1 priority=70000 actions=drop",
        "70000",
        "invalid priority",
    );
    assert_err("table=256 actions=drop", "256", "unknown table");
    assert_err("table=abc actions=drop", "abc", "unknown table");
    assert_err("priority actions=drop", "priority", "missing value");
    let e = err("in_port=1");
    assert_eq!(e.pos, 9);
    assert!(e.msg.contains("must specify an action"));
    assert!(err("in_port=1 action")
        .msg
        .contains("must specify an action"));
}

#[test]
fn parentheses_must_balance() {
    assert_err("actions=resubmit(,2", "(", "unbalanced parentheses");
    assert_err(
        "ip actions=ct(commit,exec(set_field:1->ct_mark)",
        "(",
        "unbalanced parentheses",
    );
    assert_err("actions=output:1)", ")", "unbalanced parentheses");
    assert_err("in_port=1) actions=drop", ")", "unbalanced parentheses");
    assert_err(
        "actions=learn(table=1,NXM_OF_VLAN_TCI[0..11]",
        "(",
        "unbalanced parentheses",
    );
}

#[test]
fn format_port_names() {
    assert_eq!(format_port(1), "1");
    assert_eq!(format_port(0xfeff), "65279");
    assert_eq!(format_port(ofpp::IN_PORT), "IN_PORT");
    assert_eq!(format_port(ofpp::TABLE), "TABLE");
    assert_eq!(format_port(ofpp::NORMAL), "NORMAL");
    assert_eq!(format_port(ofpp::FLOOD), "FLOOD");
    assert_eq!(format_port(ofpp::ALL), "ALL");
    assert_eq!(format_port(ofpp::CONTROLLER), "CONTROLLER");
    assert_eq!(format_port(ofpp::LOCAL), "LOCAL");
    assert_eq!(format_port(ofpp::NONE), "ANY");
}

#[test]
fn format_match_priority_and_order() {
    let f = add("dl_dst=fa:16:3e:2a:34:19,dl_vlan=1,priority=1 actions=drop");
    assert_eq!(
        format_match(&f.m, 1),
        "priority=1,dl_vlan=1,dl_dst=fa:16:3e:2a:34:19"
    );
    assert_eq!(
        format_match(&f.m, 32768),
        "dl_vlan=1,dl_dst=fa:16:3e:2a:34:19"
    );
    assert_eq!(format_match(&Match::catchall(), 0), "priority=0");
    assert_eq!(format_match(&Match::catchall(), 32768), "");
    assert_eq!(
        pm("tcp,tp_src=1,tp_dst=2,nw_tos=4,nw_dst=2.2.2.2,nw_src=1.1.1.1,dl_dst=66:77:88:99:aa:bb,dl_src=00:11:22:33:44:55,dl_vlan_pcp=7,dl_vlan=1,in_port=1,metadata=1,tun_id=2,reg3=4,ct_mark=5,ct_zone=6,ct_state=+trk,conj_id=7,pkt_mark=8"),
        "pkt_mark=0x8,conj_id=7,ct_state=+trk,ct_zone=6,ct_mark=0x5,tcp,reg3=0x4,tun_id=0x2,metadata=0x1,in_port=1,dl_vlan=1,dl_vlan_pcp=7,dl_src=00:11:22:33:44:55,dl_dst=66:77:88:99:aa:bb,nw_src=1.1.1.1,nw_dst=2.2.2.2,nw_tos=4,tp_src=1,tp_dst=2"
    );
}

// ---------------------------------------------------------------- actions

#[test]
fn action_outputs() {
    assert_eq!(
        acts(
            "ip",
            "output:10,10,NORMAL,normal,FLOOD,ALL,LOCAL,in_port,IN_PORT,output:in_port,TABLE"
        ),
        vec![
            Action::Output {
                port: 10,
                max_len: None
            },
            Action::Output {
                port: 10,
                max_len: None
            },
            Action::Normal,
            Action::Normal,
            Action::Flood,
            Action::All,
            Action::Local,
            Action::InPort,
            Action::InPort,
            Action::InPort,
            Action::Output {
                port: ofpp::TABLE,
                max_len: None
            },
        ]
    );
    assert_eq!(
        pa(
            "ip",
            "output:10,10,NORMAL,normal,FLOOD,ALL,LOCAL,in_port,output:LOCAL,TABLE"
        ),
        "output:10,output:10,NORMAL,NORMAL,FLOOD,ALL,LOCAL,IN_PORT,LOCAL,TABLE"
    );
    assert_eq!(
        acts("ip", "output:NXM_NX_REG1[0..15],output:reg1"),
        vec![
            Action::OutputReg {
                src: SubField {
                    field: Field::Reg1,
                    ofs: 0,
                    n_bits: 16
                },
                max_len: None
            },
            Action::OutputReg {
                src: SubField::whole(Field::Reg1),
                max_len: None
            },
        ]
    );
    assert_eq!(pa("ip", "output:reg1"), "output:NXM_NX_REG1[]");
    assert_eq!(
        acts("ip", "output(port=1,max_len=100)"),
        vec![Action::Output {
            port: 1,
            max_len: Some(100)
        }]
    );
    assert_eq!(
        pa("ip", "output(max_len=100,port=1)"),
        "output(port=1,max_len=100)"
    );
    assert_err(
        "actions=output(port=1,max_len=10)",
        "10)",
        "less than the minimum",
    );
    assert_err("actions=output:foo", "foo", "output to unknown port");
    assert_err("actions=output:65280", "output", "invalid port");
    assert_err("actions=output:ANY", "output", "invalid port");
    assert_err("actions=bogus", "bogus", "unknown action 'bogus'");
}

#[test]
fn action_controller() {
    for (a, printed, expect) in [
        ("CONTROLLER", "CONTROLLER:65535", (65535, None, 0)),
        ("controller", "CONTROLLER:65535", (65535, None, 0)),
        ("output:CONTROLLER", "CONTROLLER:65535", (65535, None, 0)),
        ("controller:100", "CONTROLLER:100", (100, None, 0)),
        ("controller(max_len=200)", "CONTROLLER:200", (200, None, 0)),
        (
            "controller(reason=action)",
            "CONTROLLER:65535",
            (65535, None, 0),
        ),
        (
            "controller(reason=no_match,id=3)",
            "controller(reason=no_match,id=3)",
            (65535, Some("no_match"), 3),
        ),
        (
            "controller(id=3,max_len=64)",
            "controller(max_len=64,id=3)",
            (64, None, 3),
        ),
    ] {
        let v = acts("ip", a);
        assert_eq!(
            v,
            vec![Action::Controller {
                max_len: expect.0,
                reason: expect.1.map(String::from),
                id: expect.2
            }],
            "{a}"
        );
        assert_eq!(format_actions(&v), printed, "{a}");
    }
    assert_err(
        "actions=controller(reason=bogus)",
        "bogus",
        "unknown reason",
    );
    assert_err(
        "actions=controller(userdata=01)",
        "userdata",
        "not supported",
    );
}

#[test]
fn action_resubmit_and_goto() {
    assert_eq!(
        acts("ip", "resubmit:3,resubmit(,3),resubmit(2,3),resubmit(IN_PORT,3),resubmit(LOCAL),resubmit(in_port,4)"),
        vec![
            Action::Resubmit { port: Some(3), table: None },
            Action::Resubmit { port: None, table: Some(3) },
            Action::Resubmit { port: Some(2), table: Some(3) },
            Action::Resubmit { port: None, table: Some(3) },
            Action::Resubmit { port: Some(ofpp::LOCAL), table: None },
            Action::Resubmit { port: None, table: Some(4) },
        ]
    );
    assert_eq!(
        pa(
            "ip",
            "resubmit:3,resubmit(,3),resubmit(2,3),resubmit(LOCAL),resubmit(1,254)"
        ),
        "resubmit:3,resubmit(,3),resubmit(2,3),resubmit:LOCAL,resubmit(1,254)"
    );
    assert_err("actions=resubmit(,255)", "255", "table 255");
    assert_err(
        "actions=resubmit(1,300)",
        "300",
        "resubmit to unknown table",
    );
    assert_err("actions=resubmit(,)", ",)", "at least one");
    assert_err("actions=resubmit(,1,ct)", "ct)", "not supported");
    assert_err("actions=resubmit(foo,1)", "foo", "resubmit to unknown port");
    assert_eq!(acts("", "goto_table:5"), vec![Action::GotoTable(5)]);
    assert_eq!(pa("table=3", "goto_table:5"), "goto_table:5");
    assert_err("table=5 actions=goto_table:5", "goto_table", "later table");
    assert_err("actions=goto_table:255", "255", "not a valid table");
}

#[test]
fn action_vlan() {
    assert_eq!(
        acts("ip", "mod_vlan_vid:3,set_vlan_vid:4,mod_vlan_pcp:2,set_vlan_pcp:3,strip_vlan,pop_vlan,push_vlan:0x8100,push_vlan:0x88a8"),
        vec![
            Action::SetVlanVid { vid: 3, push_if_needed: true },
            Action::SetVlanVid { vid: 4, push_if_needed: false },
            Action::SetVlanPcp { pcp: 2, push_if_needed: true },
            Action::SetVlanPcp { pcp: 3, push_if_needed: false },
            Action::StripVlan,
            Action::StripVlan,
            Action::PushVlan(0x8100),
            Action::PushVlan(0x88a8),
        ]
    );
    assert_eq!(
        pa(
            "ip",
            "mod_vlan_vid:3,set_vlan_vid:4,mod_vlan_pcp:2,set_vlan_pcp:3,pop_vlan,push_vlan:33024"
        ),
        "mod_vlan_vid:3,set_vlan_vid:4,mod_vlan_pcp:2,set_vlan_pcp:3,strip_vlan,push_vlan:0x8100"
    );
    // OpenFlow 1.3: push a tag, then set the VID with its present bit.
    assert_eq!(
        acts("in_port=1", "push_vlan:0x8100,set_field:4097->vlan_vid"),
        vec![
            Action::PushVlan(0x8100),
            Action::SetField {
                field: Field::VlanVid,
                value: 0x1001,
                mask: 0x1fff,
                spelling: SetSpelling::SetField
            }
        ]
    );
    assert_eq!(
        pa("dl_vlan=3", "set_field:5->vlan_vid"),
        "set_field:5->vlan_vid"
    );
    assert_err("actions=mod_vlan_vid:4096", "4096", "not a valid VLAN VID");
    assert_err("actions=mod_vlan_pcp:8", "8", "not a valid VLAN PCP");
    assert_err(
        "actions=push_vlan:0x800",
        "0x800",
        "not a valid VLAN ethertype",
    );
    assert_err("actions=set_field:5->vlan_vid", "set_field", "VLAN header");
    assert_err(
        "dl_vlan=1 actions=strip_vlan,set_field:5->vlan_vid",
        "set_field",
        "VLAN header",
    );
    let s = "actions=push_vlan:0x8100,push_vlan:0x8100,push_vlan:0x8100";
    let e = err(s);
    assert_eq!(e.pos, s.rfind("push_vlan").unwrap());
    assert!(e.msg.contains("VLAN headers"), "{e}");
}

#[test]
fn action_legacy_header_sets() {
    let v = acts(
        "ip",
        "mod_dl_src:fa:16:3e:00:00:01,mod_dl_dst:00:11:22:33:44:55,mod_nw_src:1.2.3.4,mod_nw_dst:1.2.3.5,\
         mod_nw_tos:8,mod_nw_ecn:2,mod_nw_ttl:6,mod_tp_src:1,mod_tp_dst:2,dec_ttl,set_nw_ttl:7",
    );
    assert_eq!(
        v[0],
        Action::SetField {
            field: Field::EthSrc,
            value: 0xfa163e000001,
            mask: 0xffff_ffff_ffff,
            spelling: SetSpelling::ModDlSrc
        }
    );
    assert_eq!(
        v[4],
        Action::SetField {
            field: Field::NwTos,
            value: 8,
            mask: 0xfc,
            spelling: SetSpelling::ModNwTos
        }
    );
    assert_eq!(
        v[7],
        Action::SetField {
            field: Field::TpSrc,
            value: 1,
            mask: 0xffff,
            spelling: SetSpelling::ModTpSrc
        }
    );
    assert_eq!(v[9], Action::DecTtl);
    assert_eq!(
        format_actions(&v),
        "mod_dl_src:fa:16:3e:00:00:01,mod_dl_dst:00:11:22:33:44:55,mod_nw_src:1.2.3.4,\
         mod_nw_dst:1.2.3.5,mod_nw_tos:8,mod_nw_ecn:2,mod_nw_ttl:6,mod_tp_src:1,mod_tp_dst:2,\
         dec_ttl,mod_nw_ttl:7"
    );
    // Legacy actions need no prerequisites (Open vSwitch only limits them to OpenFlow 1.0).
    assert_eq!(pa("in_port=1", "mod_nw_src:1.2.3.4"), "mod_nw_src:1.2.3.4");
    assert_err("actions=mod_nw_tos:3", "3", "not a valid TOS");
    assert_err("actions=mod_nw_ecn:4", "4", "not a valid ECN");
    assert_err("actions=mod_dl_src:zz", "zz", "invalid mac");
    assert_err("actions=mod_nw_dst:1.2.3", "1.2.3", "could not convert");
    assert_err("actions=mod_tp_src:65536", "65536", "invalid source port");
}

#[test]
fn action_tunnel_metadata_queue_meter_note() {
    assert_eq!(
        acts(
            "ip",
            "set_tunnel:0x2,set_tunnel64:0x3,set_tunnel:0x100000000"
        ),
        vec![
            Action::SetField {
                field: Field::TunId,
                value: 2,
                mask: u64::MAX as u128,
                spelling: SetSpelling::SetTunnel
            },
            Action::SetField {
                field: Field::TunId,
                value: 3,
                mask: u64::MAX as u128,
                spelling: SetSpelling::SetTunnel64
            },
            Action::SetField {
                field: Field::TunId,
                value: 1 << 32,
                mask: u64::MAX as u128,
                spelling: SetSpelling::SetTunnel64
            },
        ]
    );
    assert_eq!(
        pa(
            "ip",
            "set_tunnel:0x2,set_tunnel64:0x3,set_tunnel:0x100000000,set_tunnel:0"
        ),
        "set_tunnel:0x2,set_tunnel64:0x3,set_tunnel64:0x100000000,set_tunnel:0"
    );
    assert_eq!(
        acts("", "write_metadata:0x5/0xff,goto_table:5"),
        vec![
            Action::SetField {
                field: Field::Metadata,
                value: 5,
                mask: 0xff,
                spelling: SetSpelling::WriteMetadata
            },
            Action::GotoTable(5)
        ]
    );
    assert_eq!(pa("", "write_metadata:0x5"), "write_metadata:0x5");
    assert_eq!(
        acts("", "set_queue:3,pop_queue,exit"),
        vec![Action::SetQueue(3), Action::PopQueue, Action::Exit]
    );
    assert_eq!(
        acts("", "meter:3,goto_table:5"),
        vec![Action::Meter(3), Action::GotoTable(5)]
    );
    assert_eq!(
        pa("", "meter:3,output:1,goto_table:5"),
        "meter:3,output:1,goto_table:5"
    );
    assert_eq!(
        acts("", "note:01.02.ab,note:0102 ,note:"),
        vec![
            Action::Note(vec![1, 2, 0xab]),
            Action::Note(vec![1, 2]),
            Action::Note(vec![]),
        ]
    );
    assert_eq!(
        pa("", "note:01.02.ab,note:0102"),
        "note:01.02.ab,note:01.02"
    );
    assert_err("actions=note:1", "1", "bad hex digit");
    assert_err("actions=set_queue:abc", "abc", "invalid numeric format");
    assert_err(
        "actions=output:1,meter:1",
        "meter",
        "meter must appear before apply_actions",
    );
    assert_err(
        "actions=goto_table:1,output:1",
        "output",
        "apply_actions must appear before goto_table",
    );
    assert_err(
        "actions=goto_table:1,goto_table:2",
        "goto_table:2",
        "duplicate goto_table",
    );
    assert_err("actions=dec_ttl(1,2)", "1,2", "not supported");
}

#[test]
fn action_set_field() {
    let v = acts(
        "ip",
        "set_field:10.0.0.1->ip_dst,set_field:fa:16:3e:00:00:01->eth_src,set_field:5->reg5,\
         set_field:7->tun_id,set_field:8->tunnel_id,set_field:46->ip_dscp,set_field:0x5/0xff->reg6,\
         set_field:10.0.0.0/8->nw_src,set_field:3->in_port,set_field:LOCAL->in_port,set_field:2->nw_ecn",
    );
    assert_eq!(
        v[0],
        Action::SetField {
            field: Field::Ipv4Dst,
            value: 0x0a000001,
            mask: 0xffff_ffff,
            spelling: SetSpelling::SetField
        }
    );
    assert_eq!(
        v[6],
        Action::SetField {
            field: Field::Reg6,
            value: 5,
            mask: 0xff,
            spelling: SetSpelling::SetField
        }
    );
    assert_eq!(
        format_actions(&v),
        "set_field:10.0.0.1->ip_dst,set_field:fa:16:3e:00:00:01->eth_src,set_field:0x5->reg5,\
         set_field:0x7->tun_id,set_field:0x8->tun_id,set_field:46->ip_dscp,set_field:0x5/0xff->reg6,\
         set_field:10.0.0.0/8->ip_src,set_field:3->in_port,set_field:LOCAL->in_port,set_field:2->nw_ecn"
    );
    assert_eq!(
        pa("arp", "set_field:2->arp_op,set_field:fa:16:3e:00:00:01->arp_sha,set_field:10.0.0.3->arp_spa,set_field:00:00:00:00:00:01->arp_tha,set_field:10.0.0.4->arp_tpa"),
        "set_field:2->arp_op,set_field:fa:16:3e:00:00:01->arp_sha,set_field:10.0.0.3->arp_spa,set_field:00:00:00:00:00:01->arp_tha,set_field:10.0.0.4->arp_tpa"
    );
    // tp_dst is Open vSwitch's other name for tcp_dst.
    assert_eq!(pa("tcp", "set_field:80->tp_dst"), "set_field:80->tcp_dst");
    assert_eq!(pa("udp", "set_field:53->udp_dst"), "set_field:53->udp_dst");
    assert_eq!(
        pa("ipv6", "set_field:fe80::1->ipv6_src"),
        "set_field:fe80::1->ipv6_src"
    );
    assert_eq!(
        pa(
            "ip",
            "ct(commit,exec(set_field:0x1->ct_mark,set_field:0x2/0x3->ct_mark))"
        ),
        "ct(commit,exec(set_field:0x1->ct_mark,set_field:0x2/0x3->ct_mark))"
    );
    assert_err(
        "actions=set_field:1->bogus",
        "bogus",
        "not a valid OXM field name",
    );
    assert_err("actions=set_field:1->dl_type", "dl_type", "read-only");
    assert_err("actions=set_field:1", "1", "missing `->'");
    assert_err("actions=set_field:1->", "->", "missing field name");
    assert_err(
        "actions=set_field:0x1001->dl_vlan",
        "0x1001",
        "not a valid value",
    );
    assert_err("actions=set_field:3->nw_tos", "3", "not a valid value");
    assert_err("actions=set_field:1/1->in_port", "1/1", "");
    assert_err(
        "ip actions=set_field:1->ct_mark",
        "set_field",
        "outside of ct action",
    );
}

#[test]
fn action_prerequisite_errors_name_field_and_prerequisite() {
    for (m, a, field, prereq) in [
        (
            "",
            "set_field:10.0.0.1->ip_dst",
            "ip_dst",
            "ip (dl_type=0x0800)",
        ),
        (
            "ipv6",
            "set_field:10.0.0.1->ip_dst",
            "ip_dst",
            "ip (dl_type=0x0800)",
        ),
        (
            "",
            "load:1->NXM_OF_IP_DST[]",
            "ip_dst",
            "ip (dl_type=0x0800)",
        ),
        ("ip", "set_field:2->arp_op", "arp_op", "arp or rarp"),
        (
            "",
            "move:NXM_OF_ARP_SPA[]->NXM_NX_REG0[]",
            "arp_spa",
            "arp or rarp",
        ),
        (
            "arp",
            "move:NXM_NX_REG0[]->NXM_OF_IP_SRC[]",
            "ip_src",
            "ip (dl_type=0x0800)",
        ),
        ("udp", "set_field:80->tp_dst", "tcp_dst", "tcp"),
        (
            "ip",
            "set_field:46->ip_dscp,set_field:1->icmp_type",
            "icmp_type",
            "icmp",
        ),
        (
            "",
            "output:NXM_OF_IP_DST[0..15]",
            "ip_dst",
            "ip (dl_type=0x0800)",
        ),
        (
            "",
            "learn(table=20,NXM_OF_IP_DST[])",
            "ip_dst",
            "ip (dl_type=0x0800)",
        ),
        (
            "ip",
            "learn(table=20,NXM_OF_IP_DST[])",
            "ip_dst",
            "ip (dl_type=0x0800)",
        ),
        (
            "ip",
            "learn(table=20,eth_type=0x800,NXM_OF_IP_DST[],tcp_dst=5)",
            "tcp_dst",
            "tcp",
        ),
        (
            "icmp6",
            "set_field:fe80::1->nd_target",
            "nd_target",
            "icmp_type=135 or 136",
        ),
    ] {
        let line = format!("{m} actions={a}");
        let e = err(&line);
        assert!(
            e.msg.contains(field) && e.msg.contains(prereq),
            "{line}: {e}"
        );
        assert!(e.pos > m.len(), "{line}: {e}");
    }
    assert_err("actions=ct(commit)", "ct(", "ip or ipv6");
    assert_err(
        "ip,ct_state=+inv+trk actions=ct(commit)",
        "ct(",
        "ct_state=+inv",
    );
    assert_err("udp actions=ct(commit,alg=ftp)", "ct(", "tcp");
    assert_err("ipv6 actions=ct(commit,nat(src=10.0.0.1))", "ct(", "family");
    // Prerequisites met.
    assert_eq!(
        pa("icmp6,icmp_type=135", "set_field:fe80::1->nd_target"),
        "set_field:fe80::1->nd_target"
    );
    assert_eq!(pa("tcp", "set_field:80->tcp_dst"), "set_field:80->tcp_dst");
    assert_eq!(
        pa("icmp", "set_field:1->icmp_type"),
        "set_field:1->icmp_type"
    );
}

#[test]
fn action_load_and_move() {
    assert_eq!(
        acts("ip", "load:0x5->NXM_NX_REG0[0..15],load:1->NXM_NX_REG1[],load:0x1->reg2[3],load:0->NXM_OF_VLAN_TCI[]"),
        vec![
            Action::Load { dst: SubField { field: Field::Reg0, ofs: 0, n_bits: 16 }, value: 5 },
            Action::SetField { field: Field::Reg1, value: 1, mask: 0xffff_ffff, spelling: SetSpelling::Load },
            Action::Load { dst: SubField { field: Field::Reg2, ofs: 3, n_bits: 1 }, value: 1 },
            Action::SetField { field: Field::VlanTci, value: 0, mask: 0xffff, spelling: SetSpelling::Load },
        ]
    );
    assert_eq!(
        pa("ip", "load:0x5->NXM_NX_REG0[0..15],load:1->NXM_NX_REG1[],load:0x1->reg2[3],load:0->NXM_OF_VLAN_TCI[],load:5->NXM_NX_REG3[0..31]"),
        "load:0x5->NXM_NX_REG0[0..15],load:0x1->NXM_NX_REG1[],load:0x1->NXM_NX_REG2[3],load:0->NXM_OF_VLAN_TCI[],load:0x5->NXM_NX_REG3[]"
    );
    assert_eq!(
        pa(
            "ipv6",
            "load:0x20010db8000000000000000000000001->NXM_NX_IPV6_SRC[]"
        ),
        "load:0x20010db8000000000000000000000001->NXM_NX_IPV6_SRC[]"
    );
    let arp = "move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:fa:16:3e:00:00:01,\
               load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],\
               move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],load:0xfa163e000001->NXM_NX_ARP_SHA[],\
               load:0xa000003->NXM_OF_ARP_SPA[],IN_PORT";
    assert_eq!(pa("arp,arp_tpa=10.0.0.3", arp), arp);
    assert_eq!(
        acts(
            "arp",
            "move:eth_src->eth_dst,move:NXM_NX_REG0[0..7]->NXM_NX_REG1[8..15]"
        ),
        vec![
            Action::Move {
                src: SubField::whole(Field::EthSrc),
                dst: SubField::whole(Field::EthDst)
            },
            Action::Move {
                src: SubField {
                    field: Field::Reg0,
                    ofs: 0,
                    n_bits: 8
                },
                dst: SubField {
                    field: Field::Reg1,
                    ofs: 8,
                    n_bits: 8
                }
            },
        ]
    );
    assert_eq!(
        pa("", "move:NXM_NX_REG0_W[0..7]->reg1[8..15]"),
        "move:NXM_NX_REG0[0..7]->NXM_NX_REG1[8..15]"
    );
    assert_err(
        "actions=move:NXM_OF_ETH_DST[]->NXM_NX_REG0[]",
        "NXM_OF_ETH_DST",
        "source field is 48 bits wide but destination is 32 bits wide",
    );
    assert_err(
        "actions=move:NXM_NX_REG0[]NXM_NX_REG1[]",
        "NXM_NX_REG1",
        "missing `->'",
    );
    assert_err(
        "actions=move:NXM_NX_REG0[0..15]->NXM_OF_ETH_TYPE[]",
        "NXM_OF_ETH_TYPE",
        "not writable",
    );
    assert_err(
        "actions=load:0x10->NXM_NX_REG0[0..3]",
        "0x10",
        "does not fit into 4 bits",
    );
    assert_err(
        "actions=load:1->NXM_NX_REG0[40..45]",
        "NXM_NX_REG0[40",
        "starting bit 40",
    );
    assert_err(
        "actions=load:1->NXM_NX_REG0[5..2]",
        "NXM_NX_REG0",
        "after ending bit",
    );
    assert_err(
        "actions=load:1->NXM_NX_REG0[x]",
        "NXM_NX_REG0",
        "syntax error",
    );
    assert_err(
        "actions=load:1->NXM_NX_BOGUS[]",
        "NXM_NX_BOGUS",
        "unknown field",
    );
    assert_err(
        "actions=load:zz->NXM_NX_REG0[]",
        "zz",
        "cannot parse integer",
    );
    assert_err(
        "actions=load:1->NXM_OF_ETH_TYPE[]",
        "NXM_OF_ETH_TYPE",
        "not writable",
    );
}

#[test]
fn action_learn_forms() {
    let l = "learn(table=20,hard_timeout=300,priority=1,cookie=0x9a2b,NXM_OF_VLAN_TCI[0..11],\
             NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],\
             load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:NXM_OF_IN_PORT[])";
    let v = acts("table=10,priority=1", &format!("{l},output:1"));
    let tci12 = SubField {
        field: Field::VlanTci,
        ofs: 0,
        n_bits: 12,
    };
    assert_eq!(
        v[0],
        Action::Learn(Box::new(Learn {
            table: 20,
            priority: 1,
            hard_timeout: 300,
            cookie: 0x9a2b,
            specs: vec![
                LearnSpec::Match {
                    dst: tci12,
                    src: LearnSrc::Field(tci12)
                },
                LearnSpec::Match {
                    dst: SubField::whole(Field::EthDst),
                    src: LearnSrc::Field(SubField::whole(Field::EthSrc))
                },
                LearnSpec::Load {
                    dst: SubField::whole(Field::VlanTci),
                    src: LearnSrc::Imm(0)
                },
                LearnSpec::Load {
                    dst: SubField::whole(Field::TunId),
                    src: LearnSrc::Field(SubField::whole(Field::TunId))
                },
                LearnSpec::Output {
                    src: SubField::whole(Field::InPort)
                },
            ],
            ..Learn::default()
        }))
    );
    assert_eq!(format_actions(&v), format!("{l},output:1"));
    // Defaults: table 1, priority 32768.
    let d = acts("", "learn(NXM_NX_REG0[])");
    assert!(matches!(&d[0], Action::Learn(l) if l.table == 1 && l.priority == 32768));
    assert_eq!(format_actions(&d), "learn(table=1,NXM_NX_REG0[])");
    // Every option, immediates in the field's own syntax, partial immediates.
    let all =
        "learn(table=5,idle_timeout=10,hard_timeout=20,fin_idle_timeout=5,fin_hard_timeout=6,\
               priority=7,send_flow_rem,delete_learned,cookie=0x1,limit=10,eth_type=0x800,\
               vlan_tci=0,NXM_OF_VLAN_TCI[0..11]=0x5,in_port=3,ip_dst=10.0.0.1,\
               eth_src=fa:16:3e:00:00:01,load:0x5->NXM_NX_REG0[0..7],\
               load:0xfa163e000001->NXM_OF_ETH_SRC[],in_port=LOCAL)";
    assert_eq!(pa("", all), all);
    // Field names print in Open vSwitch's spelling.
    assert_eq!(
        pa(
            "",
            "learn(dl_type=0x800,nw_dst=10.0.0.1,dl_src=fa:16:3e:00:00:01,reg0=5,tun_id=0)"
        ),
        "learn(table=1,eth_type=0x800,ip_dst=10.0.0.1,eth_src=fa:16:3e:00:00:01,reg0=0x5,tun_id=0)"
    );
    let imm = acts("", "learn(eth_type=0x86dd,ipv6_src=fe80::1)");
    let Action::Learn(l) = &imm[0] else { panic!() };
    assert_eq!(
        l.specs[1],
        LearnSpec::Match {
            dst: SubField::whole(Field::Ipv6Src),
            src: LearnSrc::Imm(u128::from("fe80::1".parse::<Ipv6Addr>().unwrap()))
        }
    );
    assert_err("actions=learn(table=255)", "255", "not valid for `learn'");
    assert_err("actions=learn(bogus=1)", "bogus", "unknown keyword");
    assert_err(
        "actions=learn(NXM_OF_ETH_DST[]=NXM_OF_IP_SRC[])",
        "NXM_OF_IP_SRC",
        "differ",
    );
    assert_err(
        "actions=learn(NXM_NX_REG0[0..3]=0x10)",
        "0x10",
        "does not fit",
    );
    assert_err(
        "actions=learn(reg0=5/0xff)",
        "5/0xff",
        "wildcards not allowed",
    );
    assert_err(
        "actions=learn(eth_type=0x800/0xff)",
        "0x800",
        "invalid mask",
    );
    assert_err(
        "actions=learn(load:->NXM_NX_REG0[])",
        "->",
        "missing source",
    );
    assert_err("actions=learn(load:1)", "1)", "missing `->'");
    assert_err(
        "actions=learn(load:0x10->NXM_NX_REG0[0..3])",
        "0x10",
        "does not fit",
    );
    assert_err(
        "actions=learn(load:1x->NXM_NX_REG0[])",
        "1x",
        "garbage before",
    );
    assert_err(
        "actions=learn(result_dst=reg0[0])",
        "result_dst",
        "not supported",
    );
    assert_err(
        "actions=learn(load:1->NXM_OF_ETH_TYPE[])",
        "learn",
        "not writable",
    );
}

#[test]
fn action_conjunction() {
    assert_eq!(
        acts("ip", "conjunction(10,1/2),conjunction(11, 2/3),note:ab"),
        vec![
            Action::Conjunction {
                id: 10,
                clause: 1,
                n_clauses: 2
            },
            Action::Conjunction {
                id: 11,
                clause: 2,
                n_clauses: 3
            },
            Action::Note(vec![0xab]),
        ]
    );
    assert_eq!(
        pa("ip", "conjunction(10,1/2),conjunction(0x10, 2/3)"),
        "conjunction(10,1/2),conjunction(16,2/3)"
    );
    assert_err(
        "actions=conjunction(1,1/2),output:1",
        "output",
        "along with \"note\"",
    );
    assert_err(
        "actions=conjunction(1,0/2)",
        "1,0/2",
        "clause index must be positive",
    );
    assert_err("actions=conjunction(1,3/2)", "1,3/2", "less than or equal");
    assert_err("actions=conjunction(1,1/1)", "1,1/1", "at least 2 clauses");
    assert_err(
        "actions=conjunction(1,1/65)",
        "1,1/65",
        "at most 64 clauses",
    );
    assert_err("actions=conjunction(1)", "1)", "syntax");
}

#[test]
fn action_ct_forms() {
    let v = acts(
        "ip",
        "ct(commit,zone=NXM_NX_REG6[0..15],table=72,exec(set_field:0x1->ct_mark),\
         nat(src=10.0.0.1-10.0.0.5:1000-2000,persistent))",
    );
    assert_eq!(
        v,
        vec![Action::Ct(Box::new(Ct {
            commit: true,
            force: false,
            zone: Some(CtZone::Field(SubField {
                field: Field::Reg6,
                ofs: 0,
                n_bits: 16
            })),
            table: Some(72),
            alg: None,
            nat: Some(Nat {
                kind: Some(NatKind::Src),
                addr_min: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
                addr_max: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5))),
                port_min: Some(1000),
                port_max: Some(2000),
                persistent: true,
                hash: false,
                random: false,
            }),
            exec: vec![Action::SetField {
                field: Field::CtMark,
                value: 1,
                mask: 0xffff_ffff,
                spelling: SetSpelling::SetField
            }],
        }))]
    );
    assert_eq!(
        format_actions(&v),
        "ct(commit,table=72,zone=NXM_NX_REG6[0..15],nat(src=10.0.0.1-10.0.0.5:1000-2000,persistent),\
         exec(set_field:0x1->ct_mark))"
    );
    for (a, printed) in [
        (
            "ct(table=72,zone=NXM_NX_REG6[0..15])",
            "ct(table=72,zone=NXM_NX_REG6[0..15])",
        ),
        ("ct_clear", "ct_clear"),
        (
            "ct(commit,zone=5,exec(load:0x1->NXM_NX_CT_MARK[]))",
            "ct(commit,zone=5,exec(load:0x1->NXM_NX_CT_MARK[]))",
        ),
        ("ct(nat)", "ct(nat)"),
        (
            "ct(commit,nat(dst=10.0.0.1))",
            "ct(commit,nat(dst=10.0.0.1))",
        ),
        (
            "ct(commit,nat(dst=10.0.0.1-10.0.0.1:80-80))",
            "ct(commit,nat(dst=10.0.0.1:80))",
        ),
        ("ct(commit,zone=0)", "ct(commit)"),
        ("ct(commit,zone=0x10)", "ct(commit,zone=16)"),
        ("ct(commit,nat(src,random))", "ct(commit,nat(src,random))"),
        (
            "ct(commit,nat(dst=10.0.0.1,hash))",
            "ct(commit,nat(dst=10.0.0.1,hash))",
        ),
        ("ct()", "ct()"),
        (
            "ct(commit,exec(move:NXM_NX_REG0[]->NXM_NX_CT_MARK[]))",
            "ct(commit,exec(move:NXM_NX_REG0[]->NXM_NX_CT_MARK[]))",
        ),
    ] {
        assert_eq!(pa("ip", a), printed, "{a}");
    }
    assert_eq!(
        pa("tcp", "ct(commit,force,alg=ftp)"),
        "ct(commit,force,alg=ftp)"
    );
    assert_eq!(pa("udp", "ct(commit,alg=tftp)"), "ct(commit,alg=tftp)");
    assert_eq!(
        pa(
            "ipv6",
            "ct(commit,nat(src=[fe80::1]-[fe80::5]:80)),ct(nat(dst=fe80::1-fe80::2))"
        ),
        "ct(commit,nat(src=[fe80::1]-[fe80::5]:80)),ct(nat(dst=fe80::1-fe80::2))"
    );
    assert_err("ip actions=ct(force)", "force", "requires \"commit\"");
    assert_err("ip actions=ct(nat(src,dst))", "dst", "only specify one of");
    assert_err("ip actions=ct(nat(persistent))", "persistent", "only with");
    assert_err("ip actions=ct(nat(src,hash,random))", "src,hash", "Both");
    assert_err(
        "ip actions=ct(nat(src=10.0.0.5-10.0.0.1))",
        "10.0.0.5",
        "invalid nat range",
    );
    assert_err("ip actions=ct(nat(src=10.0.0.1:80x))", "x))", "garbage");
    assert_err(
        "ip actions=ct(alg=http)",
        "http",
        "unknown connection tracking helper",
    );
    assert_err("ip actions=ct(table=255)", "255", "invalid table");
    assert_err("ip actions=ct(bogus)", "bogus", "invalid argument");
    assert_err(
        "ip actions=ct(zone=NXM_NX_BOGUS[])",
        "NXM_NX_BOGUS",
        "unknown field",
    );
    assert_err(
        "ip actions=ct(commit,exec(output:1))",
        "output",
        "nested action output",
    );
    assert_err(
        "ip actions=ct(commit,exec(set_field:1->reg0))",
        "set_field",
        "nested modification of reg0",
    );
    assert_err(
        "ip actions=ct(commit,exec(meter:1))",
        "meter",
        "nested action meter",
    );
    assert_err("ip actions=nat(src)", "nat", "outside of \"ct\"");
    assert_err("ip actions=ct(nat,nat)", "nat)", "only one nat");
}

#[test]
fn action_drop_rules() {
    assert_eq!(acts("in_port=1", "drop"), vec![]);
    assert_eq!(acts("in_port=1", "drop,drop"), vec![]);
    assert_eq!(pa("in_port=1", "drop"), "drop");
    assert_err(
        "in_port=1,actions=drop,output:1",
        "drop",
        "must not be accompanied",
    );
    assert_err(
        "in_port=1,actions=output:1,drop",
        "drop",
        "must not be accompanied",
    );
    assert_err(
        "actions=apply_actions(output:1)",
        "apply_actions",
        "default instruction",
    );
    assert_err("actions=group:1", "group", "not supported");
}

#[test]
fn parse_actions_standalone() {
    assert_eq!(
        parse_actions("strip_vlan,set_tunnel:0x2,output:10", &NoPortNames).unwrap(),
        vec![
            Action::StripVlan,
            Action::SetField {
                field: Field::TunId,
                value: 2,
                mask: u64::MAX as u128,
                spelling: SetSpelling::SetTunnel
            },
            Action::Output {
                port: 10,
                max_len: None
            },
        ]
    );
    assert_eq!(parse_actions("", &NoPortNames).unwrap(), vec![]);
    // No match here, so no prerequisite checks.
    assert!(parse_actions("set_field:10.0.0.1->ip_dst", &NoPortNames).is_ok());
    let e = parse_actions("output:1,bogus", &NoPortNames).unwrap_err();
    assert_eq!(e.pos, 9);
    assert!(parse_actions("drop,output:1", &NoPortNames).is_err());
    assert_eq!(
        parse_subfield("NXM_NX_REG6[0..15]").unwrap(),
        SubField {
            field: Field::Reg6,
            ofs: 0,
            n_bits: 16
        }
    );
}

#[test]
fn round_trips_of_assorted_flows() {
    for s in [
        "table=21,priority=1,arp,dl_vlan=1,arp_tpa=10.0.0.3 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],set_field:fa:16:3e:00:00:01->eth_src,set_field:2->arp_op,IN_PORT",
        "table=22,priority=1,dl_vlan=1 actions=strip_vlan,set_tunnel:0x5,output:2,output:3,output:4",
        "priority=5,ip,nw_src=10.0.0.0/255.0.255.0,tp_dst=5 actions=output:1",
        "priority=5,udp,ip_frag=not_later,tp_dst=0x60/0xffe0 actions=output:1",
        "cookie=0xffffffffffffffff,icmp6,icmp_type=135,nd_target=fe80::/10,nd_sll=00:00:00:00:00:01/ff:00:00:00:00:00 actions=NORMAL",
        "tcp6,tcp_flags=+syn+ack-fin,ipv6_dst=::1 actions=output(port=LOCAL,max_len=64)",
        "ip,nw_tos=252,nw_ecn=3,nw_ttl=1 actions=ct(commit,table=1,zone=NXM_NX_REG6[0..15],nat(dst=[::1]:80),exec(set_field:0/0x1->ct_mark)),output:1",
        "vlan_tci=0x0000/0x1fff actions=push_vlan:0x8100,set_field:4098->vlan_vid,goto_table:58",
        "reg0=0x1/0x1,xreg1=0x500000006 actions=controller(reason=invalid_ttl,max_len=10,id=9)",
        "conj_id=4294967295,ip actions=load:0xffffffff->NXM_NX_REG7[],resubmit(LOCAL,0)",
    ] {
        rt(s);
    }
}

#[test]
fn never_panics_on_nasty_input() {
    for s in [
        "", " ", ",", "=", "(", ")", "((", "a(", "actions", "actions=", "action=(", "a=b=c", "=actions=",
        "in_port=\u{e9}\u{e9}", "actions=output:\u{1F600}", "actions=learn(\u{e9}=\u{e9})",
        "actions=load:->", "actions=move:->", "actions=move:[", "actions=load:1->reg0[", "actions=load:1->reg0[]]",
        "actions=ct(nat(src=[)", "actions=ct(nat(src=[::1", "actions=note:\u{e9}", "reg0[=1",
        "reg0[1..]=1", "reg0[..1]=1", "actions=conjunction(,/)", "dl_src=::::::", "nw_src=...",
        "actions=resubmit(,,,,)", "ip actions=ct(exec(ct(exec(ct(exec(ct(exec(ct(exec(ct(exec(ct(exec(ct(exec(ct(exec(ct(exec(ct(exec(ct(exec(ct(exec(ct(exec(ct(exec(ct(exec(ct(exec()))))))))))))))))))))))))))))))))))",
        "tcp_flags=+", "ct_state=-", "ct_state=+trk+", "ct_state=0x/0x", "ipv6_src=/", "tcp,tp_dst=0x",
        "actions=output(port=,max_len=)", "actions=controller(,)", "cookie=/", "cookie=0x1/",
        "actions=learn(load:1->)", "actions=learn(=)", "actions=set_field:->", "actions=note:0",
        "actions=write_metadata:/", "actions=set_tunnel:-1", "priority=-1 actions=drop",
    ] {
        for mode in [ParseMode::Add, ParseMode::Modify, ParseMode::Match] {
            if let Ok(f) = parse_flow(s, mode, &NoPortNames) {
                let _ = format_flow(&f);
            }
            let _ = parse_actions(s, &NoPortNames);
        }
    }
}

#[test]
fn match_corner_cases_round_trip() {
    // Sub-field matches on fields that cannot be masked must cover the whole field.
    assert_err("ip,nw_tos[2..3]=1 actions=drop", "nw_tos[", "not maskable");
    assert_err("in_port[0..7]=1 actions=drop", "in_port[", "not maskable");
    assert_eq!(pm("ip,NXM_OF_IP_TOS[]=0xb9"), "ip,nw_tos=184");
    assert_eq!(pm("NXM_OF_IN_PORT[]=5"), "in_port=5");
    assert_eq!(pm("dl_vlan[]=5"), "dl_vlan=5");
    assert_err(
        "dl_vlan[0..5]=5,dl_vlan[6..11]=1 actions=drop",
        "dl_vlan[0",
        "not maskable",
    );
    // Fragment bits no keyword names print as bits.
    assert_eq!(pm("ip,nw_frag[0]=0"), "ip,NXM_NX_IP_FRAG[0]=0");
    assert_eq!(pm("ip,nw_frag[1]=1"), "ip,NXM_NX_IP_FRAG[1]=1");
    assert_eq!(pm("ip,nw_frag[]=2"), "ip,NXM_NX_IP_FRAG[]=0x2");
    assert_eq!(pm("ip,nw_frag[]=3"), "ip,nw_frag=later");
    // Masked or wide ICMP "ports" print under tp_src/tp_dst.
    assert_eq!(pm("icmp,tp_src=0x8/0xff"), "icmp,tp_src=0x8/0xff");
    assert_eq!(pm("icmp6,tp_dst=300"), "icmp6,tp_dst=300");
    assert_eq!(pm("icmp,tp_src=8,tp_dst=0"), "icmp,icmp_type=8,icmp_code=0");
    for s in [
        "ip,nw_frag[0]=0",
        "ip,nw_frag[1]=1",
        "ip,nw_frag[]=2",
        "icmp,tp_src=0x8/0xff,tp_dst=3",
        "icmp6,tp_dst=300",
        "icmp6,icmp_type=135,nd_target=::1,NXM_NX_ND_SLL[0..7]=0x5",
    ] {
        let m = mat(s);
        assert_eq!(mat(&format_match(&m, 32768)), m, "{s}");
    }
}
