//! The control plane's front door: the socket server, the protocol, the commands.

pub mod commands;
pub mod proto;
pub mod render;
pub mod server;
