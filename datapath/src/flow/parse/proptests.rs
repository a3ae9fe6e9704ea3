//! Property tests: random flows print and parse back to themselves; arbitrary text
//! never makes the parser panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use proptest::strategy::Union;

use super::*;
use crate::flow::action::{
    ofpp, Ct, CtZone, Learn, LearnSpec, LearnSrc, Nat, NatKind, SetSpelling,
};
use crate::flow::format::{format_flow, OFPP_UNSET};

/// The protocol part of a match: dl_type (0 = none), nw_proto, ND (tp_src, tp_dst).
#[derive(Clone, Copy, Debug)]
struct Base {
    dl_type: u16,
    proto: Option<u8>,
    nd: Option<u16>,
}

impl Base {
    fn ipv4(&self) -> bool {
        self.dl_type == 0x0800
    }
    fn ipv6(&self) -> bool {
        self.dl_type == 0x86dd
    }
    fn ip(&self) -> bool {
        self.ipv4() || self.ipv6()
    }
    fn arp(&self) -> bool {
        self.dl_type == 0x0806 || self.dl_type == 0x8035
    }
    fn icmp(&self) -> bool {
        (self.ipv4() && self.proto == Some(1)) || (self.ipv6() && self.proto == Some(58))
    }
}

fn base() -> impl Strategy<Value = Base> {
    let b = |dl_type, proto, nd| Base { dl_type, proto, nd };
    prop_oneof![
        Just(b(0, None, None)),
        Just(b(0x0800, None, None)),
        Just(b(0x0800, Some(6), None)),
        Just(b(0x0800, Some(17), None)),
        Just(b(0x0800, Some(132), None)),
        Just(b(0x0800, Some(1), None)),
        Just(b(0x0800, Some(89), None)),
        Just(b(0x86dd, None, None)),
        Just(b(0x86dd, Some(6), None)),
        Just(b(0x86dd, Some(17), None)),
        Just(b(0x86dd, Some(58), None)),
        Just(b(0x86dd, Some(58), Some(135))),
        Just(b(0x86dd, Some(58), Some(136))),
        Just(b(0x0806, None, None)),
        Just(b(0x8035, None, None)),
        Just(b(0x1234, None, None)),
    ]
}

fn bits(n: u32) -> u128 {
    if n >= 128 {
        u128::MAX
    } else {
        (1u128 << n) - 1
    }
}

/// One match field assignment: (storage field, value, mask), valid and printable.
fn match_field(b: Base) -> BoxedStrategy<(Field, u128, u128)> {
    use Field::*;
    let masked = |f: Field| {
        let all = f.all_ones();
        (any::<u128>(), prop_oneof![Just(u128::MAX), any::<u128>()])
            .prop_map(move |(v, m)| (f, v & all, m & all))
            .boxed()
    };
    let exact = |f: Field| {
        let all = f.all_ones();
        any::<u128>().prop_map(move |v| (f, v & all, all)).boxed()
    };
    let mut arms: Vec<BoxedStrategy<(Field, u128, u128)>> = vec![
        masked(EthSrc),
        masked(EthDst),
        masked(VlanTci),
        exact(InPort),
        masked(Reg0),
        masked(Reg3),
        masked(Reg5),
        masked(Reg6),
        masked(Reg7),
        masked(Xreg1),
        masked(TunId),
        masked(TunSrc),
        masked(TunDst),
        masked(Metadata),
        masked(PktMark),
        masked(CtMark),
        masked(CtState),
        exact(CtZone),
        exact(ConjId),
        exact(RecircId),
    ];
    if b.ipv4() || b.arp() {
        arms.push(masked(Ipv4Src));
        arms.push(masked(Ipv4Dst));
    }
    if b.arp() {
        arms.push(masked(ArpSha));
        arms.push(masked(ArpTha));
        arms.push(exact(ArpOp));
    }
    if b.ipv6() {
        arms.push(masked(Ipv6Src));
        arms.push(masked(Ipv6Dst));
    }
    if b.ip() {
        arms.push(exact(IpDscp));
        arms.push(exact(NwEcn));
        arms.push(exact(NwTtl));
        arms.push(masked(IpFrag));
        if b.proto == Some(6) {
            arms.push(masked(TcpFlags));
        }
        if b.icmp() {
            if b.nd.is_none() {
                arms.push((0u128..256).prop_map(|v| (TpSrc, v, 0xffff)).boxed());
                arms.push((0u128..256).prop_map(|v| (TpDst, v, 0xffff)).boxed());
                arms.push(masked(TpSrc));
                arms.push(masked(TpDst));
            }
        } else if matches!(b.proto, Some(6) | Some(17) | Some(132)) {
            arms.push(masked(TpSrc));
            arms.push(masked(TpDst));
        }
        if let Some(t) = b.nd {
            arms.push(masked(NdTarget));
            arms.push(masked(if t == 135 { NdSll } else { NdTll }));
        }
    }
    Union::new(arms).boxed()
}

fn matches() -> impl Strategy<Value = Match> {
    base().prop_flat_map(|b| {
        prop::collection::vec(match_field(b), 0..8).prop_map(move |fields| {
            let mut m = Match::catchall();
            if b.dl_type != 0 {
                m.set(Field::EthType, b.dl_type as u128);
            }
            if let Some(p) = b.proto {
                m.set(Field::IpProto, p as u128);
            }
            if let Some(t) = b.nd {
                m.set(Field::TpSrc, t as u128);
                m.set(Field::TpDst, 0);
            }
            for (f, v, mask) in fields {
                m.set_masked(f, v & mask, mask);
            }
            normalize_match(&mut m);
            m
        })
    })
}

/// A sub-field of a prerequisite-free field: (field, ofs, n_bits).
fn subfield_of(fields: &'static [Field]) -> impl Strategy<Value = SubField> {
    prop::sample::select(fields).prop_flat_map(|f| {
        let n = f.info().bits;
        (1..=n).prop_flat_map(move |w| {
            (0..=n - w).prop_map(move |ofs| SubField {
                field: f,
                ofs,
                n_bits: w,
            })
        })
    })
}

const RW_FIELDS: &[Field] = &[
    Field::Reg0,
    Field::Reg1,
    Field::Reg4,
    Field::Reg6,
    Field::Xreg2,
    Field::TunId,
    Field::Metadata,
    Field::PktMark,
    Field::EthSrc,
    Field::EthDst,
    Field::VlanTci,
];

const SRC_FIELDS: &[Field] = &[
    Field::Reg0,
    Field::Reg2,
    Field::Reg7,
    Field::Xreg0,
    Field::TunId,
    Field::EthSrc,
    Field::InPort,
    Field::VlanTci,
    Field::CtState,
    Field::ConjId,
];

/// Two sub-fields of the same width: (src, dst).
fn move_pair(
    src: &'static [Field],
    dst: &'static [Field],
) -> impl Strategy<Value = (SubField, SubField)> {
    (prop::sample::select(src), prop::sample::select(dst)).prop_flat_map(|(s, d)| {
        let w_max = s.info().bits.min(d.info().bits);
        (1..=w_max).prop_flat_map(move |w| {
            (0..=s.info().bits - w, 0..=d.info().bits - w).prop_map(move |(so, dof)| {
                (
                    SubField {
                        field: s,
                        ofs: so,
                        n_bits: w,
                    },
                    SubField {
                        field: d,
                        ofs: dof,
                        n_bits: w,
                    },
                )
            })
        })
    })
}

fn imm_for(sf: SubField) -> impl Strategy<Value = (SubField, u128)> {
    any::<u128>().prop_map(move |v| (sf, v & bits(sf.n_bits)))
}

fn learn_spec() -> BoxedStrategy<LearnSpec> {
    let whole = prop::sample::select(RW_FIELDS).prop_map(SubField::whole);
    prop_oneof![
        subfield_of(RW_FIELDS).prop_map(|d| LearnSpec::Match {
            dst: d,
            src: LearnSrc::Field(d)
        }),
        move_pair(SRC_FIELDS, RW_FIELDS).prop_map(|(s, d)| LearnSpec::Match {
            dst: d,
            src: LearnSrc::Field(s)
        }),
        subfield_of(RW_FIELDS)
            .prop_flat_map(imm_for)
            .prop_map(|(d, v)| LearnSpec::Match {
                dst: d,
                src: LearnSrc::Imm(v)
            }),
        whole
            .prop_flat_map(imm_for)
            .prop_map(|(d, v)| LearnSpec::Match {
                dst: d,
                src: LearnSrc::Imm(v)
            }),
        (0u128..0x10000).prop_map(|p| LearnSpec::Match {
            dst: SubField::whole(Field::InPort),
            src: LearnSrc::Imm(p)
        }),
        subfield_of(RW_FIELDS)
            .prop_flat_map(imm_for)
            .prop_map(|(d, v)| LearnSpec::Load {
                dst: d,
                src: LearnSrc::Imm(v)
            }),
        move_pair(SRC_FIELDS, RW_FIELDS).prop_map(|(s, d)| LearnSpec::Load {
            dst: d,
            src: LearnSrc::Field(s)
        }),
        subfield_of(&[Field::InPort, Field::Reg3]).prop_map(|s| LearnSpec::Output { src: s }),
    ]
    .boxed()
}

fn learn() -> impl Strategy<Value = Learn> {
    (
        (
            0u8..255,
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
        ),
        (any::<u64>(), any::<bool>(), any::<bool>(), any::<u32>()),
        prop::collection::vec(learn_spec(), 0..5),
    )
        .prop_map(
            |((table, priority, it, ht, fit, fht), (cookie, sfr, dl, limit), specs)| Learn {
                table,
                priority,
                idle_timeout: it,
                hard_timeout: ht,
                fin_idle_timeout: fit,
                fin_hard_timeout: fht,
                cookie,
                send_flow_rem: sfr,
                delete_learned: dl,
                limit,
                specs,
            },
        )
}

fn nat(v6: bool) -> impl Strategy<Value = Nat> {
    let addr = move |x: u128| {
        if v6 {
            IpAddr::V6(Ipv6Addr::from(x))
        } else {
            IpAddr::V4(Ipv4Addr::from(x as u32))
        }
    };
    (
        prop_oneof![
            Just(None),
            Just(Some(NatKind::Src)),
            Just(Some(NatKind::Dst))
        ],
        prop::option::of((any::<u128>(), prop::option::of(any::<u128>()))),
        prop::option::of((any::<u16>(), prop::option::of(any::<u16>()))),
        (any::<bool>(), 0u8..3),
    )
        .prop_map(move |(kind, range, ports, (persistent, hr))| {
            let mut n = Nat {
                kind,
                ..Nat::default()
            };
            if kind.is_none() {
                return n;
            }
            n.persistent = persistent;
            n.hash = hr == 1;
            n.random = hr == 2;
            if let Some((a, b)) = range {
                let (a, b) = if v6 {
                    (a, b)
                } else {
                    (a & 0xffff_ffff, b.map(|b| b & 0xffff_ffff))
                };
                let (lo, hi) = match b {
                    Some(b) if b != a => (a.min(b), Some(a.max(b))),
                    _ => (a, None),
                };
                n.addr_min = Some(addr(lo));
                n.addr_max = hi.map(addr);
                if let Some((p, q)) = ports {
                    let (lo, hi) = match q {
                        Some(q) if q != p => (p.min(q), Some(p.max(q))),
                        _ => (p, None),
                    };
                    n.port_min = Some(lo);
                    n.port_max = hi;
                }
            }
            n
        })
}

fn ct_exec() -> BoxedStrategy<Action> {
    prop_oneof![
        (any::<u32>(), prop_oneof![Just(u32::MAX), any::<u32>()]).prop_map(|(v, m)| {
            Action::SetField {
                field: Field::CtMark,
                value: v as u128,
                mask: m as u128,
                spelling: SetSpelling::SetField,
            }
        }),
        any::<u32>().prop_map(|v| Action::SetField {
            field: Field::CtMark,
            value: v as u128,
            mask: 0xffff_ffff,
            spelling: SetSpelling::Load,
        }),
        move_pair(&[Field::Reg0, Field::Reg5], &[Field::CtMark])
            .prop_map(|(s, d)| Action::Move { src: s, dst: d }),
    ]
    .boxed()
}

fn ct(b: Base) -> impl Strategy<Value = Ct> {
    (
        (any::<bool>(), any::<bool>(), prop::option::of(0u8..255)),
        prop_oneof![
            Just(None),
            (1u16..).prop_map(|z| Some(CtZone::Imm(z))),
            subfield_of(&[Field::Reg6, Field::Reg5]).prop_map(|s| Some(CtZone::Field(s))),
        ],
        prop::option::of(nat(b.ipv6())),
        prop::collection::vec(ct_exec(), 0..3),
    )
        .prop_map(|((commit, force, table), zone, nat, exec)| Ct {
            commit: commit || force,
            force,
            zone,
            table,
            alg: None,
            nat,
            exec,
        })
}

/// An apply-actions action whose prerequisites `b` satisfies.
fn apply_action(b: Base) -> BoxedStrategy<Action> {
    let port = prop_oneof![0u32..0xff00, Just(ofpp::TABLE)];
    let mut arms: Vec<BoxedStrategy<Action>> = vec![
        (port, prop::option::of(14u16..))
            .prop_map(|(port, max_len)| Action::Output {
                port,
                max_len: if port < ofpp::MAX { max_len } else { None },
            })
            .boxed(),
        subfield_of(SRC_FIELDS)
            .prop_map(|src| Action::OutputReg { src, max_len: None })
            .boxed(),
        prop_oneof![
            Just(Action::Normal),
            Just(Action::Flood),
            Just(Action::All),
            Just(Action::Local),
            Just(Action::InPort),
            Just(Action::StripVlan),
            Just(Action::DecTtl),
            Just(Action::PopQueue),
            Just(Action::Exit),
            Just(Action::CtClear),
        ]
        .boxed(),
        (
            any::<u16>(),
            prop::option::of(prop::sample::select(vec![
                "no_match",
                "invalid_ttl",
                "action_set",
                "group",
                "packet_out",
            ])),
            any::<u16>(),
        )
            .prop_map(|(max_len, reason, id)| Action::Controller {
                max_len,
                reason: reason.map(String::from),
                id,
            })
            .boxed(),
        (
            prop::option::of(prop_oneof![
                0u32..0xff00,
                Just(ofpp::LOCAL),
                Just(OFPP_UNSET)
            ]),
            prop::option::of(0u8..255),
        )
            .prop_filter("resubmit needs a port or a table", |(p, t)| {
                p.is_some() || t.is_some()
            })
            .prop_map(|(port, table)| Action::Resubmit { port, table })
            .boxed(),
        (0u16..0x1000, any::<bool>())
            .prop_map(|(vid, push_if_needed)| Action::SetVlanVid {
                vid,
                push_if_needed,
            })
            .boxed(),
        (0u8..8, any::<bool>())
            .prop_map(|(pcp, push_if_needed)| Action::SetVlanPcp {
                pcp,
                push_if_needed,
            })
            .boxed(),
        prop_oneof![Just(0x8100u16), Just(0x88a8u16)]
            .prop_map(Action::PushVlan)
            .boxed(),
        (
            prop::sample::select(vec![
                (Field::EthSrc, SetSpelling::ModDlSrc, u128::MAX),
                (Field::EthDst, SetSpelling::ModDlDst, u128::MAX),
                (Field::Ipv4Src, SetSpelling::ModNwSrc, u128::MAX),
                (Field::Ipv4Dst, SetSpelling::ModNwDst, u128::MAX),
                (Field::NwTos, SetSpelling::ModNwTos, 0xfc),
                (Field::NwEcn, SetSpelling::ModNwEcn, 3),
                (Field::NwTtl, SetSpelling::ModNwTtl, u128::MAX),
                (Field::TpSrc, SetSpelling::ModTpSrc, u128::MAX),
                (Field::TpDst, SetSpelling::ModTpDst, u128::MAX),
                (Field::TunId, SetSpelling::SetTunnel64, u128::MAX),
            ]),
            any::<u128>(),
        )
            .prop_map(|((field, spelling, m), v)| {
                let all = field.all_ones();
                let (value, mask) = match spelling {
                    SetSpelling::ModNwTos => (v & 0xfc, 0xfc),
                    _ => (v & all & m, all & m),
                };
                Action::SetField {
                    field,
                    value,
                    mask,
                    spelling,
                }
            })
            .boxed(),
        (0u128..=u32::MAX as u128)
            .prop_map(|v| Action::SetField {
                field: Field::TunId,
                value: v,
                mask: u64::MAX as u128,
                spelling: SetSpelling::SetTunnel,
            })
            .boxed(),
        (
            prop::sample::select(vec![
                Field::Reg0,
                Field::Reg7,
                Field::Xreg3,
                Field::TunId,
                Field::EthDst,
                Field::PktMark,
                Field::Metadata,
                Field::VlanTci,
                Field::InPort,
                Field::TunSrc,
            ]),
            any::<u128>(),
            prop_oneof![Just(u128::MAX), any::<u128>()],
            any::<bool>(),
        )
            .prop_map(|(field, v, m, load)| {
                let all = field.all_ones();
                let m = if field.info().maskable && !load {
                    m & all
                } else {
                    all
                };
                let m = if m == 0 { all } else { m };
                let spelling = if load {
                    SetSpelling::Load
                } else {
                    SetSpelling::SetField
                };
                Action::SetField {
                    field,
                    value: v & all,
                    mask: m,
                    spelling,
                }
            })
            .boxed(),
        subfield_of(RW_FIELDS)
            .prop_filter("partial", |d| d.n_bits != d.field.info().bits)
            .prop_flat_map(imm_for)
            .prop_map(|(dst, value)| Action::Load { dst, value })
            .boxed(),
        move_pair(SRC_FIELDS, RW_FIELDS)
            .prop_map(|(src, dst)| Action::Move { src, dst })
            .boxed(),
        learn().prop_map(|l| Action::Learn(Box::new(l))).boxed(),
        any::<u32>().prop_map(Action::SetQueue).boxed(),
        prop::collection::vec(any::<u8>(), 0..6)
            .prop_map(Action::Note)
            .boxed(),
    ];
    if b.ip() {
        arms.push(ct(b).prop_map(|c| Action::Ct(Box::new(c))).boxed());
    }
    if b.arp() {
        arms.push(
            (
                prop::sample::select(vec![Field::ArpOp, Field::ArpSpa, Field::ArpSha]),
                any::<u128>(),
            )
                .prop_map(|(field, v)| Action::SetField {
                    field,
                    value: v & field.all_ones(),
                    mask: field.all_ones(),
                    spelling: SetSpelling::SetField,
                })
                .boxed(),
        );
    }
    if b.ipv4() {
        arms.push(
            (any::<u32>(), any::<u32>())
                .prop_map(|(v, m)| Action::SetField {
                    field: Field::Ipv4Dst,
                    value: v as u128,
                    mask: if m == 0 { 0xffff_ffff } else { m as u128 },
                    spelling: SetSpelling::SetField,
                })
                .boxed(),
        );
    }
    if b.ip() && b.proto == Some(6) {
        arms.push(
            any::<u16>()
                .prop_map(|v| Action::SetField {
                    field: Field::TcpDst,
                    value: v as u128,
                    mask: 0xffff,
                    spelling: SetSpelling::SetField,
                })
                .boxed(),
        );
    }
    Union::new(arms).boxed()
}

/// A valid action list (instructions in OpenFlow order, or conjunctions only).
fn actions(b: Base, table: Option<u8>) -> BoxedStrategy<Vec<Action>> {
    let goto_min = table.map_or(0u16, |t| t as u16 + 1);
    let goto = if goto_min < 255 {
        prop::option::of(goto_min..255).boxed()
    } else {
        Just(None).boxed()
    };
    let conj = (
        prop::collection::vec(
            (any::<u32>(), 2u8..=64).prop_flat_map(|(id, n)| {
                (1..=n).prop_map(move |k| Action::Conjunction {
                    id,
                    clause: k,
                    n_clauses: n,
                })
            }),
            1..4,
        ),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..4)),
    )
        .prop_map(|(mut v, note)| {
            if let Some(n) = note {
                v.push(Action::Note(n));
            }
            v
        });
    let insts = (
        prop::option::of(any::<u32>()),
        prop::collection::vec(apply_action(b), 0..6),
        prop::option::of((any::<u64>(), any::<u64>())),
        goto,
    )
        .prop_map(|(meter, apply, wm, goto)| {
            let mut v = Vec::new();
            v.extend(meter.map(Action::Meter));
            v.extend(apply);
            v.extend(wm.map(|(value, mask)| Action::SetField {
                field: Field::Metadata,
                value: value as u128,
                mask: mask as u128,
                spelling: SetSpelling::WriteMetadata,
            }));
            v.extend(goto.map(|t| Action::GotoTable(t as u8)));
            v
        });
    prop_oneof![1 => conj, 6 => insts].boxed()
}

fn flowspec() -> impl Strategy<Value = FlowSpec> {
    (
        matches(),
        prop::option::of(any::<u16>()),
        prop::option::of(0u8..255),
        (
            any::<u64>(),
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
            any::<bool>(),
            any::<bool>(),
        ),
    )
        .prop_flat_map(|(m, priority, table, (cookie, it, ht, imp, sfr, co))| {
            let dl_type = m.get(Field::EthType).0 as u16;
            let proto = if m.is_wild(Field::IpProto) {
                None
            } else {
                Some(m.get(Field::IpProto).0 as u8)
            };
            let b = Base {
                dl_type,
                proto,
                nd: None,
            };
            actions(b, table).prop_map(move |a| FlowSpec {
                table,
                priority,
                cookie,
                cookie_mask: 0,
                idle_timeout: it,
                hard_timeout: ht,
                importance: imp,
                send_flow_rem: sfr,
                check_overlap: co,
                out_port: None,
                m,
                actions: Some(a),
            })
        })
        .prop_filter("actions consistent with the match", |s| {
            let acts: Vec<(Action, usize)> = s
                .actions
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|a| (a, 0))
                .collect();
            actions::check_actions(&acts, &s.m, s.table).is_ok()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(768))]

    #[test]
    fn flow_format_parse_round_trip(spec in flowspec()) {
        let text = format_flow(&spec);
        let back = parse_flow(&text, ParseMode::Add, &NoPortNames)
            .map_err(|e| TestCaseError::fail(format!("{text}\n  -> {e}")))?;
        prop_assert_eq!(&back, &spec, "{}", text);
        prop_assert_eq!(format_flow(&back), text);
    }

    #[test]
    fn flow_match_mode_round_trip(
        m in matches(),
        priority in prop::option::of(any::<u16>()),
        table in prop::option::of(0u8..255),
        cookie in prop::option::of((any::<u64>(), 1u64..)),
        out_port in prop::option::of(0u32..0x10000),
    ) {
        let (cookie, cookie_mask) = cookie.map_or((0, 0), |(c, mk)| (c & mk, mk));
        let spec = FlowSpec { m, priority, table, cookie, cookie_mask, out_port, ..FlowSpec::default() };
        let text = format_flow(&spec);
        let back = parse_flow(&text, ParseMode::Match, &NoPortNames)
            .map_err(|e| TestCaseError::fail(format!("{text}\n  -> {e}")))?;
        prop_assert_eq!(back, spec, "{}", text);
    }

    #[test]
    fn flow_parser_never_panics(s in "[a-z0-9_=:,()\\[\\]./ >+|*\"-]{0,80}") {
        for mode in [ParseMode::Add, ParseMode::Modify, ParseMode::Match] {
            if let Ok(f) = parse_flow(&s, mode, &NoPortNames) {
                let _ = format_flow(&f);
            }
        }
        let _ = parse_actions(&s, &NoPortNames);
    }

    #[test]
    fn flow_parser_never_panics_on_any_text(s in any::<String>()) {
        let _ = parse_flow(&s, ParseMode::Add, &NoPortNames);
        let _ = parse_flow(&s, ParseMode::Match, &NoPortNames);
        let _ = parse_actions(&s, &NoPortNames);
    }

    #[test]
    fn flow_parser_never_panics_on_mutated_flows(
        spec in flowspec(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(
            vec!["", "(", ")", ",", "=", ":", "[", "]", "->", "/", "0x", "actions=", " ", "..", "\u{e9}"])), 1..4),
    ) {
        let mut text = format_flow(&spec);
        for (at, ins) in edits {
            let mut i = at.index(text.len() + 1);
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            if ins.is_empty() && i < text.len() {
                let mut j = i + 1;
                while !text.is_char_boundary(j) {
                    j += 1;
                }
                text.replace_range(i..j, "");
            } else {
                text.insert_str(i, ins);
            }
        }
        if let Ok(f) = parse_flow(&text, ParseMode::Add, &NoPortNames) {
            let printed = format_flow(&f);
            let again = parse_flow(&printed, ParseMode::Add, &NoPortNames)
                .map_err(|e| TestCaseError::fail(format!("{text}\n  printed {printed}\n  -> {e}")))?;
            prop_assert_eq!(again, f, "{}", printed);
        }
    }
}
