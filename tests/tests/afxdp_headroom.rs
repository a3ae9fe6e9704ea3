//! The point of owning the AF_XDP ring code: a received frame starts 256 bytes into
//! its UMEM chunk, and the kernel transmits a descriptor from any offset inside the
//! chunk, so a header can be pushed at the front (tunnel encapsulation, VLAN tag) by
//! moving the descriptor's start back, without moving the payload.
//!
//! Two veth pairs in the root namespace, one UMEM: a frame injected on a0 is received
//! by an AF_XDP socket on a1 (xvs's steering program), gets 50 bytes (outer Ethernet +
//! IPv4 + UDP + VXLAN) written in front of it, and is sent by a second AF_XDP socket
//! on b0 (sharing the UMEM); an AF_PACKET socket on b1 must see exactly those bytes.
//! Needs root (fails without it).

use std::time::{Duration, Instant};

use xvs::io::umem::{Desc, FramePool, DATA_OFFSET, FRAME_SIZE};
use xvs::io::xdp::{ifindex, XdpMode, XdpProgram};
use xvs::io::xsk::XskQueue;
use xvs_tools::netlab::{is_root, sh, sh_quiet, unique};

/// A veth pair in the root namespace, both ends up, deleted on drop.
struct Veth {
    a: String,
    b: String,
}

impl Veth {
    fn new() -> Veth {
        let a = unique("xha");
        let b = unique("xhb");
        sh_quiet(&["ip", "link", "del", &a]);
        sh(&["ip", "link", "add", &a, "type", "veth", "peer", "name", &b]).unwrap();
        let v = Veth { a, b };
        for d in [&v.a, &v.b] {
            sh(&["sysctl", "-qw", &format!("net.ipv6.conf.{d}.disable_ipv6=1")]).unwrap();
            sh(&["ip", "link", "set", d, "up"]).unwrap();
        }
        v
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        sh_quiet(&["ip", "link", "del", &self.a]);
    }
}

/// A raw AF_PACKET socket bound to one device (all protocols), closed on drop.
struct Packet {
    fd: i32,
}

impl Packet {
    fn bind(dev: &str) -> Packet {
        let proto = (libc::ETH_P_ALL as u16).to_be();
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, proto as i32) };
        assert!(fd >= 0, "AF_PACKET socket: {}", std::io::Error::last_os_error());
        let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_protocol = proto;
        sa.sll_ifindex = ifindex(dev).unwrap() as i32;
        let r = unsafe {
            libc::bind(fd, &sa as *const _ as *const libc::sockaddr, std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t)
        };
        assert_eq!(r, 0, "bind AF_PACKET to {dev}: {}", std::io::Error::last_os_error());
        let one: i32 = 1;
        let r = unsafe {
            libc::setsockopt(fd, libc::SOL_PACKET, PACKET_AUXDATA, &one as *const i32 as *const libc::c_void, 4)
        };
        assert_eq!(r, 0, "PACKET_AUXDATA: {}", std::io::Error::last_os_error());
        Packet { fd }
    }

    fn send(&self, frame: &[u8]) {
        let n = unsafe { libc::send(self.fd, frame.as_ptr() as *const libc::c_void, frame.len(), 0) };
        assert_eq!(n, frame.len() as isize, "send: {}", std::io::Error::last_os_error());
    }

    /// The first frame received within `timeout` for which `want` holds. The kernel
    /// takes VLAN tags out of received frames (they travel in the socket's auxiliary
    /// data); as libpcap does, the tag is put back in its place.
    fn recv_matching(&self, timeout: Duration, want: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
        let t0 = Instant::now();
        let mut buf = vec![0u8; 4096];
        let mut cbuf = [0u64; 16];
        while t0.elapsed() < timeout {
            let mut iov = libc::iovec { iov_base: buf.as_mut_ptr() as *mut libc::c_void, iov_len: buf.len() };
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
            msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
            let n = unsafe { libc::recvmsg(self.fd, &mut msg, libc::MSG_DONTWAIT) };
            if n <= 0 {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            let mut frame = buf[..n as usize].to_vec();
            // SAFETY: walking the control messages the kernel just wrote.
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(&msg);
                while !c.is_null() {
                    if (*c).cmsg_level == libc::SOL_PACKET && (*c).cmsg_type == PACKET_AUXDATA {
                        let aux = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const TpacketAuxdata);
                        if aux.tp_status & TP_STATUS_VLAN_VALID != 0 && frame.len() >= 12 {
                            let tpid = if aux.tp_status & TP_STATUS_VLAN_TPID_VALID != 0 { aux.tp_vlan_tpid } else { 0x8100 };
                            let mut tag = tpid.to_be_bytes().to_vec();
                            tag.extend(aux.tp_vlan_tci.to_be_bytes());
                            frame.splice(12..12, tag);
                        }
                    }
                    c = libc::CMSG_NXTHDR(&msg, c);
                }
            }
            if want(&frame) {
                return Some(frame);
            }
        }
        None
    }
}

const PACKET_AUXDATA: i32 = 8;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;

/// `struct tpacket_auxdata` (linux/if_packet.h).
#[repr(C)]
#[derive(Clone, Copy)]
struct TpacketAuxdata {
    tp_status: u32,
    tp_len: u32,
    tp_snaplen: u32,
    tp_mac: u16,
    tp_net: u16,
    tp_vlan_tci: u16,
    tp_vlan_tpid: u16,
}

impl Drop for Packet {
    fn drop(&mut self) {
        unsafe { libc::close(self.fd) };
    }
}

/// An inner Ethernet frame with an experimental ethertype and a signature payload.
fn inner_frame(tag: u8) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0x0b, 0x02, 0x02, 0, 0, 0, 0x0b, 0x01, 0x88, 0xb5];
    f.extend(b"xvs-headroom-test");
    f.push(tag);
    f.resize(98, tag);
    f
}

/// 50 bytes of VXLAN encapsulation: outer Ethernet, IPv4, UDP to 4789, VXLAN (VNI 42).
fn vxlan_header(inner_len: usize) -> [u8; 50] {
    let mut h = [0u8; 50];
    h[..6].copy_from_slice(&[0x02, 0, 0, 0, 0x0c, 0x02]);
    h[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0x0c, 0x01]);
    h[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip_len = (20 + 8 + 8 + inner_len) as u16;
    let ip = &mut h[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&[192, 0, 2, 1]);
    ip[16..20].copy_from_slice(&[192, 0, 2, 2]);
    let mut sum: u32 = ip.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]]) as u32).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    let udp = &mut h[34..42];
    udp[0..2].copy_from_slice(&49152u16.to_be_bytes());
    udp[2..4].copy_from_slice(&4789u16.to_be_bytes());
    udp[4..6].copy_from_slice(&((8 + 8 + inner_len) as u16).to_be_bytes());
    let vx = &mut h[42..50];
    vx[0] = 0x08;
    vx[4..7].copy_from_slice(&[0, 0, 42]);
    h
}

/// Receive one frame on `q` within a few seconds.
fn rx_one(q: &mut XskQueue, pool: &mut FramePool) -> Desc {
    let mut out = [Desc::default(); 8];
    let mut scratch = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        let n = q.rx_burst(pool, &mut out);
        if n > 0 {
            for d in &out[1..n] {
                pool.free(*d);
            }
            return out[0];
        }
        q.refill(pool, &mut scratch);
        q.fill_kick();
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("no frame received on {} queue {}", q.ifname, q.queue);
}

/// Send `d` on `q` and wait for its completion.
fn tx_one(q: &mut XskQueue, pool: &mut FramePool, d: Desc) {
    assert_eq!(q.tx_burst(pool, &[d]), 1, "the tx ring took the frame");
    let mut comp = [Desc::default(); 8];
    let t0 = Instant::now();
    let mut done = 0;
    while done == 0 && t0.elapsed() < Duration::from_secs(3) {
        q.tx_kick();
        done = q.complete(pool, &mut comp);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(done, 1, "transmission of {d:?} completed");
    assert_eq!(q.tx_held, 0);
}

#[test]
fn frame_moved_back_into_headroom_is_transmitted_from_there() {
    assert!(is_root(), "this test binds AF_XDP sockets on veths: run it as root");
    xvs::io::xdp::ensure_bpffs();
    let va = Veth::new();
    let vb = Veth::new();
    let inject = Packet::bind(&va.a);
    let sink = Packet::bind(&vb.b);

    let mut pool = FramePool::new(2048).unwrap();
    // The first socket registers the UMEM, the second shares it (another device).
    let mut qa = XskQueue::open(&pool.umem, &va.b, 0, 1).unwrap();
    let mut qb = XskQueue::open(&pool.umem, &vb.a, 0, 2).unwrap();
    assert!(!qa.zero_copy && !qb.zero_copy, "veth is copy mode");
    assert!(!qa.shared_umem && qb.shared_umem, "b0's socket shares the UMEM registered on a1's");
    let prog = XdpProgram::attach(&va.b, XdpMode::Generic).unwrap();
    prog.register(0, qa.fd()).unwrap();
    let mut scratch = Vec::new();
    qa.refill(&mut pool, &mut scratch);

    // 1. VXLAN: 50 bytes in front of a received frame.
    let inner = inner_frame(1);
    inject.send(&inner);
    let d = rx_one(&mut qa, &mut pool);
    assert_eq!(d.offset_in_chunk(), DATA_OFFSET as usize, "received frames start 256 bytes into their chunk");
    assert_eq!(unsafe { pool.umem.frame(&d) }, &inner[..]);
    let hdr = vxlan_header(inner.len());
    let (chunk, off) = unsafe { pool.umem.chunk_mut(&d) };
    chunk[off - 50..off].copy_from_slice(&hdr);
    let encap = Desc { addr: d.chunk() + (off - 50) as u64, len: d.len + 50 };
    assert_eq!(encap.offset_in_chunk(), 206);
    tx_one(&mut qb, &mut pool, encap);
    let mut want = hdr.to_vec();
    want.extend(&inner);
    let got = sink.recv_matching(Duration::from_secs(3), |f| f.len() == want.len() && f[42..50] == hdr[42..50]);
    assert_eq!(got.as_deref(), Some(&want[..]), "b1 received the encapsulated frame");

    // 2. A VLAN tag pushed the same way (4 bytes back, MACs moved in front of it).
    let inner = inner_frame(2);
    inject.send(&inner);
    let d = rx_one(&mut qa, &mut pool);
    let (chunk, off) = unsafe { pool.umem.chunk_mut(&d) };
    chunk.copy_within(off..off + 12, off - 4);
    chunk[off + 8..off + 12].copy_from_slice(&[0x81, 0x00, 0x00, 100]);
    let tagged = Desc { addr: d.chunk() + (off - 4) as u64, len: d.len + 4 };
    tx_one(&mut qb, &mut pool, tagged);
    let mut want = inner[..12].to_vec();
    want.extend([0x81, 0x00, 0x00, 100]);
    want.extend(&inner[12..]);
    let got = sink.recv_matching(Duration::from_secs(3), |f| f.len() == want.len() && f[12..14] == [0x81, 0x00]);
    assert_eq!(got.as_deref(), Some(&want[..]), "b1 received the tagged frame");

    // 3. The very start of a chunk is fine too (all 256 bytes of headroom used).
    let mut d = pool.alloc().unwrap();
    let inner = inner_frame(3);
    d.len = inner.len() as u32;
    unsafe { pool.umem.frame_mut(&d) }.copy_from_slice(&inner);
    let (chunk, off) = unsafe { pool.umem.chunk_mut(&d) };
    assert_eq!(off, 256);
    chunk[..256].fill(0xee);
    chunk[..12].copy_from_slice(&inner[..12]);
    chunk[12..14].copy_from_slice(&[0x88, 0xb6]);
    let front = Desc { addr: d.chunk(), len: d.len + 256 };
    tx_one(&mut qb, &mut pool, front);
    let got = sink.recv_matching(Duration::from_secs(3), |f| f.len() == front.len as usize && f[12..14] == [0x88, 0xb6]);
    let got = got.expect("b1 received the frame sent from the chunk's first byte");
    assert_eq!(&got[256..], &inner[..]);

    // 4. A descriptor crossing the end of its chunk is never put on the ring.
    let d = pool.alloc().unwrap();
    let cross = Desc { addr: d.chunk() + FRAME_SIZE as u64 - 10, len: 20 };
    assert_eq!(qb.tx_burst(&mut pool, &[cross]), 0);
    pool.free(d);

    let stats = qb.kernel_stats().unwrap();
    assert_eq!(stats[3], 0, "the kernel found no invalid tx descriptor");
    assert_eq!(qa.bad_descs + qb.bad_descs, 0);

    // Closing the sockets hands every frame back.
    let (ida, idb) = (qa.sock_id, qb.sock_id);
    drop(prog);
    drop(qa);
    drop(qb);
    pool.reclaim(ida);
    pool.reclaim(idb);
    assert_eq!(pool.census(), (2048, 0));
}

#[test]
fn umem_outlives_the_socket_that_registered_it() {
    assert!(is_root(), "this test binds AF_XDP sockets on veths: run it as root");
    xvs::io::xdp::ensure_bpffs();
    let va = Veth::new();
    let vb = Veth::new();
    let inject = Packet::bind(&va.a);
    let sink = Packet::bind(&vb.b);
    let mut pool = FramePool::new(2048).unwrap();
    let mut scratch = Vec::new();

    // a1 registers the UMEM, b0 shares it; then a1's socket goes (port removed) and
    // comes back: it now shares the UMEM through b0's socket.
    let qa = XskQueue::open(&pool.umem, &va.b, 0, 1).unwrap();
    let mut qb = XskQueue::open(&pool.umem, &vb.a, 0, 2).unwrap();
    assert!(XskQueue::open(&pool.umem, &va.b, 0, 3).is_err(), "one socket per (device, queue) and UMEM");
    let ida = qa.sock_id;
    drop(qa);
    pool.reclaim(ida);
    // The kernel lets go of a closed socket's queue a moment later (as xvsd does,
    // retry while the queue is busy).
    let t0 = Instant::now();
    let mut qa = loop {
        match XskQueue::open(&pool.umem, &va.b, 0, 4) {
            Ok(q) => break q,
            Err(e) if t0.elapsed() < Duration::from_secs(2) && format!("{e}").contains("busy") => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("reopening a1 queue 0: {e:#}"),
        }
    };
    assert!(qa.shared_umem, "a1's new socket shares the UMEM through b0's");
    let prog = XdpProgram::attach(&va.b, XdpMode::Generic).unwrap();
    prog.register(0, qa.fd()).unwrap();
    qa.refill(&mut pool, &mut scratch);

    for tag in 10..20u8 {
        let inner = inner_frame(tag);
        inject.send(&inner);
        let d = rx_one(&mut qa, &mut pool);
        assert_eq!(unsafe { pool.umem.frame(&d) }, &inner[..]);
        tx_one(&mut qb, &mut pool, d);
        let got = sink.recv_matching(Duration::from_secs(3), |f| f == &inner[..]);
        assert!(got.is_some(), "frame {tag} forwarded from a1 to b0");
    }
    let (ida, idb) = (qa.sock_id, qb.sock_id);
    drop(prog);
    drop(qa);
    drop(qb);
    pool.reclaim(ida);
    pool.reclaim(idb);
    assert_eq!(pool.census(), (2048, 0));
}
