//! The control plane's front door: the socket server, the protocol, the commands.

pub mod capture;
pub mod commands;
pub mod metrics;
pub mod proto;
pub mod render;
pub mod server;
pub mod trace_packet;
