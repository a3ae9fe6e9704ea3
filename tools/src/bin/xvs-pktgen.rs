//! xvs-pktgen: Ethernet/IPv4/UDP traffic generator (`tx`) and verifying sink (`rx`)
//! on AF_XDP or XDP. See `xvs_tools::pktgen` for how each mode works.

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};
use xvs_tools::pktgen::frame::{FrameSpec, VxlanOuter, MAX_SIZE, MIN_SIZE};
use xvs_tools::pktgen::{self, Mode, RxConfig, TxConfig};

#[derive(Parser)]
#[command(
    name = "xvs-pktgen",
    version,
    about = "xvs traffic generator and sink (AF_XDP / XDP)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Send Ethernet/IPv4/UDP frames carrying a flow/sequence signature.
    Tx(TxArgs),
    /// Receive, verify and count frames (Ctrl-C to stop).
    Rx(RxArgs),
}

fn mac(s: &str) -> Result<[u8; 6], String> {
    pktgen::parse_mac(s).map_err(|e| e.to_string())
}

fn vxlan(s: &str) -> Result<VxlanOuter, String> {
    VxlanOuter::parse(s).map_err(|e| e.to_string())
}

fn seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("bad number of seconds '{s}'"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("seconds must be > 0, not '{s}'"));
    }
    Ok(Duration::from_secs_f64(v))
}

#[derive(Args)]
struct TxArgs {
    /// Network device to send on.
    #[arg(long)]
    dev: String,
    /// Tx queue of the AF_XDP socket (afxdp mode).
    #[arg(long, default_value_t = 0)]
    queue: u32,
    /// Source MAC [default: the device's address].
    #[arg(long, value_parser = mac)]
    src_mac: Option<[u8; 6]>,
    /// Destination MAC (a unicast address nobody owns keeps kernel stacks out of it).
    #[arg(long, value_parser = mac, default_value = "02:00:00:00:00:02")]
    dst_mac: [u8; 6],
    #[arg(long, default_value = "10.77.0.1")]
    src_ip: Ipv4Addr,
    #[arg(long, default_value = "10.77.0.2")]
    dst_ip: Ipv4Addr,
    #[arg(long, default_value_t = 4321)]
    src_port: u16,
    /// UDP destination port of flow 0 (flow i uses dst-port + i).
    #[arg(long, default_value_t = 10000)]
    dst_port: u16,
    /// Number of flows (distinct UDP destination ports, round robin).
    #[arg(long, default_value_t = 1)]
    flows: u32,
    /// Frame length without FCS (60 = 64 bytes on the wire); with --vxlan the inner
    /// frame's (the packet is 50 bytes longer).
    #[arg(long, default_value_t = 60)]
    size: usize,
    /// Send every frame VXLAN-encapsulated, as a tunnel peer would:
    /// VNI,OUTER_SRC_IP,OUTER_DST_IP,OUTER_DST_MAC (outer source MAC: --src-mac; outer
    /// UDP 49152 -> 4789, checksum 0). The flows vary the inner UDP destination port.
    #[arg(long, value_parser = vxlan)]
    vxlan: Option<VxlanOuter>,
    /// Stop after this many seconds.
    #[arg(long, value_parser = seconds, conflicts_with = "count")]
    seconds: Option<Duration>,
    /// Stop after this many packets.
    #[arg(long)]
    count: Option<u64>,
    /// Packets per second (0 = as fast as possible).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// afxdp: AF_XDP socket; xdp: BPF_PROG_RUN live frames (fast; a veth target's
    /// peer needs an XDP program or GRO on, or the frames are dropped).
    #[arg(long, value_enum, default_value = "afxdp")]
    mode: Mode,
    /// Pin to this CPU (xdp mode pins to the current CPU when not given).
    #[arg(long)]
    cpu: Option<usize>,
    /// Frames per tx ring submission (afxdp mode).
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct RxArgs {
    /// Network device to receive on.
    #[arg(long)]
    dev: String,
    /// Stop after this many seconds.
    #[arg(long, value_parser = seconds)]
    seconds: Option<Duration>,
    /// Stop after this many frames of ours.
    #[arg(long)]
    count: Option<u64>,
    /// Report per-flow counts for flows 0..N (afxdp mode).
    #[arg(long)]
    flows: Option<u32>,
    /// afxdp: xvs's XDP program + AF_XDP sockets, every frame verified; xdp: count
    /// and drop in XDP (fast, signature check only).
    #[arg(long, value_enum, default_value = "afxdp")]
    mode: Mode,
    /// Pin to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
}

fn tx(a: TxArgs) -> Result<()> {
    if !(MIN_SIZE..=MAX_SIZE).contains(&a.size) {
        bail!("--size must be {MIN_SIZE}..={MAX_SIZE} (the signature needs {MIN_SIZE} bytes)");
    }
    if a.batch == 0 || a.batch > 1024 {
        bail!("--batch must be 1..=1024");
    }
    let src_mac = match a.src_mac {
        Some(m) => m,
        None => pktgen::if_mac(&a.dev)?,
    };
    let cfg = TxConfig {
        dev: a.dev,
        queue: a.queue,
        spec: FrameSpec {
            src_mac,
            dst_mac: a.dst_mac,
            src_ip: a.src_ip,
            dst_ip: a.dst_ip,
            src_port: a.src_port,
            dst_port: a.dst_port,
            flows: a.flows,
            size: a.size,
            run_id: pktgen::run_id(),
            vxlan: a.vxlan,
        },
        duration: a.seconds,
        count: a.count,
        rate: a.rate,
        batch: a.batch,
        cpu: a.cpu,
    };
    cfg.spec.validate()?;
    let stop = pktgen::stop_flag()?;
    let report = match a.mode {
        Mode::Afxdp => pktgen::afxdp_tx::run(&cfg, &stop)?,
        Mode::Xdp => pktgen::xdp_tx::run(&cfg, &stop)?,
    };
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", report.text());
    }
    Ok(())
}

fn rx(a: RxArgs) -> Result<()> {
    let cfg = RxConfig {
        dev: a.dev,
        duration: a.seconds,
        count: a.count,
        flows: a.flows,
        cpu: a.cpu,
        quiet: a.quiet,
    };
    let stop = pktgen::stop_flag()?;
    let report = match a.mode {
        Mode::Afxdp => pktgen::sink::run(&cfg, &stop)?,
        Mode::Xdp => pktgen::xdp_sink::run(&cfg, &stop)?,
    };
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", report.text());
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Tx(a) => tx(a),
        Cmd::Rx(a) => rx(a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xvs-pktgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}
