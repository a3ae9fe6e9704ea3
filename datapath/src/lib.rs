//! xvs: a userspace virtual switch on AF_XDP.
//!
//! Data flow (see DESIGN.md): AF_XDP rx batch -> flow-key extraction (`packet`) ->
//! exact-match cache / megaflow cache (`cache`) -> on a miss, translation through the
//! OpenFlow tables of every bridge the packet crosses (`xlate` over `ofproto`) ->
//! datapath actions (`odp`) executed on the frame (`exec`) -> batched tx (`io`).
//! Pinned poll-mode workers (`pmd`) own the caches; the control socket (`control`)
//! publishes new pipeline snapshots (`daemon`).

pub mod cache;
pub mod clock;
pub mod control;
pub mod daemon;
pub mod exec;
pub mod flow;
pub mod io;
pub mod odp;
pub mod ofproto;
pub mod packet;
pub mod persist;
pub mod pmd;
pub mod port;
pub mod rng;
pub mod route;
pub mod xlate;
