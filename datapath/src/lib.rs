//! xvs: a userspace virtual switch on AF_XDP.
//!
//! Data flow (see DESIGN.md): AF_XDP rx batch -> flow-key extraction (`packet`) ->
//! exact-match cache / megaflow cache (`cache`) -> on a miss, translation through the
//! OpenFlow tables of every bridge the packet crosses (`xlate` over `ofproto`) ->
//! datapath actions (`odp`) executed on the frame (`exec`) -> batched tx (`io`).
//! Pinned poll-mode workers (`pmd`) own the caches; the control socket (`control`)
//! publishes new pipeline snapshots.

pub mod flow;
pub mod packet;
