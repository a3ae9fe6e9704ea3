//! Packet I/O: the XDP steering program on each port, the per-worker UMEM and frame
//! pool, and AF_XDP sockets.

pub mod internal;
pub mod ring;
pub mod umem;
pub mod xdp;
pub mod xsk;
