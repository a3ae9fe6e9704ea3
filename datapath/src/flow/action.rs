//! OpenFlow-level actions, as written in ovs-ofctl flow text and executed by `xlate`.
//!
//! These are the actions of the OpenFlow tables (what a rule says). They are different
//! from datapath actions (`crate::odp::DpAction`), which are what a cached megaflow
//! does to a packet after the whole pipeline has been translated.

use super::field::{Field, SubField};

/// OpenFlow 1.0 reserved port numbers (16-bit space), as Open vSwitch uses them.
pub mod ofpp {
    pub const MAX: u32 = 0xff00;
    pub const IN_PORT: u32 = 0xfff8;
    pub const TABLE: u32 = 0xfff9;
    pub const NORMAL: u32 = 0xfffa;
    pub const FLOOD: u32 = 0xfffb;
    pub const ALL: u32 = 0xfffc;
    pub const CONTROLLER: u32 = 0xfffd;
    pub const LOCAL: u32 = 0xfffe;
    pub const NONE: u32 = 0xffff;
}

/// How a header-setting action was spelled, so that dump-flows prints it back the way
/// it was written (`mod_dl_src:` vs `set_field:..->eth_src`, `set_tunnel:`, `load:`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SetSpelling {
    /// `set_field:VALUE[/MASK]->FIELD`
    SetField,
    /// `load:VALUE->FIELD[]` covering the whole field.
    Load,
    ModDlSrc,
    ModDlDst,
    ModNwSrc,
    ModNwDst,
    ModNwTos,
    ModNwEcn,
    ModNwTtl,
    ModTpSrc,
    ModTpDst,
    /// `set_tunnel:` (32-bit form)
    SetTunnel,
    /// `set_tunnel64:`
    SetTunnel64,
    /// `write_metadata:VALUE[/MASK]`
    WriteMetadata,
}

/// Where a learned flow's match value or loaded value comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LearnSrc {
    Field(SubField),
    Imm(u128),
}

/// One element of a `learn(...)` specification.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LearnSpec {
    /// `dst=src` or just `dst` (shorthand for `dst=dst`): the learned flow matches `dst`
    /// with the value of `src` in the packet being translated (or an immediate).
    Match { dst: SubField, src: LearnSrc },
    /// `load:src->dst`: the learned flow loads `src` (taken from the packet now, or an
    /// immediate) into `dst`.
    Load { dst: SubField, src: LearnSrc },
    /// `output:src`: the learned flow outputs to the port number found in `src` now.
    Output { src: SubField },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Learn {
    pub table: u8,
    pub priority: u16,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub fin_idle_timeout: u16,
    pub fin_hard_timeout: u16,
    pub cookie: u64,
    pub send_flow_rem: bool,
    pub delete_learned: bool,
    pub limit: u32,
    pub specs: Vec<LearnSpec>,
}

/// Source of a `ct(zone=...)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CtZone {
    Imm(u16),
    Field(SubField),
}

/// `nat(...)` inside `ct()`. Kept as parsed; executed once conntrack lands.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Nat {
    /// None: plain `nat` (reverse/un-NAT an existing connection).
    pub kind: Option<NatKind>,
    pub addr_min: Option<std::net::IpAddr>,
    pub addr_max: Option<std::net::IpAddr>,
    pub port_min: Option<u16>,
    pub port_max: Option<u16>,
    pub persistent: bool,
    pub hash: bool,
    pub random: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NatKind {
    Src,
    Dst,
}

/// `ct(...)`: connection tracking. Parsed and kept; not executed until conntrack lands.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Ct {
    pub commit: bool,
    pub force: bool,
    pub zone: Option<CtZone>,
    /// `table=N`: recirculate to this table after tracking.
    pub table: Option<u8>,
    pub alg: Option<String>,
    pub nat: Option<Nat>,
    /// `exec(...)`: only set_field/load of ct_mark/ct_label are allowed.
    pub exec: Vec<Action>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `output:N` / bare `N`. `port` may be a reserved port (see [`ofpp`]).
    Output { port: u32, max_len: Option<u16> },
    /// `output:NXM_..[]`: output to the port number held in a sub-field.
    OutputReg { src: SubField, max_len: Option<u16> },
    Normal,
    Flood,
    All,
    Local,
    /// `in_port` / `output:in_port`: send back out of the input port.
    InPort,
    Controller { max_len: u16, reason: Option<String>, id: u16 },
    /// `resubmit(port,table)` / `resubmit:port`. `None` port means "the current in_port",
    /// `None` table means "the current table".
    Resubmit { port: Option<u32>, table: Option<u8> },
    /// OpenFlow 1.1+ `goto_table:N` (an instruction; must be last).
    GotoTable(u8),
    /// `mod_vlan_vid:VID` (pushes a tag if there is none) / `set_vlan_vid`.
    SetVlanVid { vid: u16, push_if_needed: bool },
    /// `mod_vlan_pcp:PCP` / `set_vlan_pcp`.
    SetVlanPcp { pcp: u8, push_if_needed: bool },
    /// `strip_vlan` / `pop_vlan`.
    StripVlan,
    /// `push_vlan:TPID`.
    PushVlan(u16),
    /// Any whole-field or masked header/metadata write; `spelling` keeps its syntax.
    SetField { field: Field, value: u128, mask: u128, spelling: SetSpelling },
    /// `load:VALUE->DST[ofs..end]` into part of a field.
    Load { dst: SubField, value: u128 },
    /// `move:SRC[..]->DST[..]`.
    Move { src: SubField, dst: SubField },
    DecTtl,
    Learn(Box<Learn>),
    /// `conjunction(id,k/n)`: clause `k` (1-based) of `n`.
    Conjunction { id: u32, clause: u8, n_clauses: u8 },
    Ct(Box<Ct>),
    CtClear,
    SetQueue(u32),
    PopQueue,
    /// OpenFlow 1.3 `meter:N` instruction.
    Meter(u32),
    Note(Vec<u8>),
    Exit,
}

impl Action {
    /// Actions that the datapath cannot execute yet (parsed and kept, reported as
    /// "not supported yet" by translation).
    pub fn unsupported_reason(&self) -> Option<&'static str> {
        match self {
            Action::Ct(_) | Action::CtClear => Some("ct() needs connection tracking, not supported yet"),
            Action::Controller { .. } => Some("controller output is not supported yet"),
            Action::Meter(_) => Some("meters are not supported yet"),
            _ => None,
        }
    }
}
