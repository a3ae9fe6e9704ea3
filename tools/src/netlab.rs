//! Network labs: network namespaces, veth pairs and xvsd processes that clean up after
//! themselves (on drop, including when a test panics).
//!
//! Every name is unique per process and call, so tests can run in parallel; names stay
//! within Linux's 15-character interface-name limit.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use xvs::control::proto::{call, Request};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A short unique name: `prefix` + 5 hex digits (pid and counter mixed).
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    format!("{prefix}{:05x}", (pid.wrapping_mul(2654435761) ^ (n << 12) ^ n) & 0xfffff)
}

/// Run a command; error (with its stderr) if it fails.
pub fn sh(args: &[&str]) -> Result<String> {
    let out = Command::new(args[0]).args(&args[1..]).output().with_context(|| format!("running {}", args[0]))?;
    if !out.status.success() {
        bail!("{} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn sh_quiet(args: &[&str]) {
    let _ = Command::new(args[0]).args(&args[1..]).stdout(Stdio::null()).stderr(Stdio::null()).status();
}

/// Directory holding the workspace's built binaries (target/debug or target/release).
pub fn bin_dir() -> PathBuf {
    if let Ok(d) = std::env::var("XVS_BIN_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/<tool> or target/<profile>/deps/<test-binary>
    let dir = exe.parent().expect("exe dir");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().expect("target dir").to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(p.exists(), "{} not built (run `cargo build --workspace` first)", p.display());
    p
}

/// A network namespace, deleted on drop (processes inside are killed first).
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(prefix: &str) -> Result<Netns> {
        Netns::named(&unique(prefix))
    }

    /// A namespace with exactly this name (a stale one of the same name is removed).
    pub fn named(name: &str) -> Result<Netns> {
        let name = name.to_string();
        sh_quiet(&["ip", "netns", "del", &name]);
        sh(&["ip", "netns", "add", &name])?;
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        // Quiet namespaces: no IPv6 autoconfiguration chatter to disturb counters.
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"])?;
        Ok(ns)
    }

    pub fn exec(&self, args: &[&str]) -> Result<String> {
        let mut v = vec!["ip", "netns", "exec", &self.name];
        v.extend_from_slice(args);
        sh(&v)
    }

    pub fn output(&self, args: &[&str]) -> Result<Output> {
        Ok(Command::new("ip").args(["netns", "exec", &self.name]).args(args).output()?)
    }

    pub fn spawn(&self, args: &[&str]) -> Result<Child> {
        Ok(Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?)
    }

    /// `ping -c COUNT -i INTERVAL -W 1 DST`; returns how many replies came back.
    pub fn ping(&self, dst: &str, count: u32, interval: f64) -> Result<u32> {
        let out = self.output(&["ping", "-n", "-q", "-c", &count.to_string(), "-i", &interval.to_string(), "-W", "1", dst])?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().find(|l| l.contains("received")).ok_or_else(|| anyhow!("ping printed no summary: {text}"))?;
        let n = line
            .split(',')
            .find(|p| p.contains("received"))
            .and_then(|p| p.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| anyhow!("cannot read ping summary: {line}"))?;
        Ok(n)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Ok(pids) = sh(&["ip", "netns", "pids", &self.name]) {
            for p in pids.split_whitespace() {
                sh_quiet(&["kill", "-9", p]);
            }
        }
        sh_quiet(&["ip", "netns", "del", &self.name]);
    }
}

/// A veth pair: `host` in the root namespace (the switch port), `inner` inside `ns`
/// (the "VM" NIC), with an address. Deleted on drop.
pub struct Vm {
    pub ns: Netns,
    pub host: String,
    pub inner: String,
    pub ip: String,
    pub mac: String,
}

/// Create a veth pair: `host` in the root namespace (to become a switch port) and
/// `inner` inside `ns`, with a MAC and an address on the inner end, both ends up.
pub fn veth_into(ns: &Netns, host: &str, inner: &str, mac: &str, ip_cidr: &str) -> Result<()> {
    veth_into_mq(ns, host, inner, mac, ip_cidr, 1)
}

/// Like `veth_into`, with `queues` rx/tx queues on both ends.
pub fn veth_into_mq(ns: &Netns, host: &str, inner: &str, mac: &str, ip_cidr: &str, queues: u32) -> Result<()> {
    let q = queues.max(1).to_string();
    sh(&[
        "ip", "link", "add", host, "numtxqueues", &q, "numrxqueues", &q, "type", "veth", "peer", "name", inner, "numtxqueues", &q,
        "numrxqueues", &q, "netns", &ns.name,
    ])?;
    sh(&["sysctl", "-qw", &format!("net.ipv6.conf.{host}.disable_ipv6=1")])?;
    ns.exec(&["ip", "link", "set", inner, "address", mac])?;
    if !ip_cidr.is_empty() {
        ns.exec(&["ip", "addr", "add", ip_cidr, "dev", inner])?;
    }
    ns.exec(&["ip", "link", "set", inner, "up"])?;
    // TCP over AF_XDP copy mode needs real checksums, not offloaded partial ones.
    ns.exec(&["ethtool", "-K", inner, "tx", "off"])?;
    sh(&["ip", "link", "set", host, "up"])?;
    Ok(())
}

impl Vm {
    /// `ip` with prefix length, e.g. "10.0.0.1/24".
    pub fn new(ip_cidr: &str, mac: &str) -> Result<Vm> {
        Vm::in_ns(Netns::new("xtn")?, &unique("xth"), ip_cidr, mac)
    }

    /// A VM whose NIC (and switch port) has `queues` rx/tx queue pairs.
    pub fn new_mq(ip_cidr: &str, mac: &str, queues: u32) -> Result<Vm> {
        let ns = Netns::new("xtn")?;
        let host = unique("xth");
        let vm = Vm { ns, host: host.clone(), inner: "eth0".into(), ip: ip_cidr.split('/').next().unwrap().to_string(), mac: mac.to_string() };
        veth_into_mq(&vm.ns, &host, "eth0", mac, ip_cidr, queues)?;
        Ok(vm)
    }

    /// A VM in namespace `ns` whose NIC is eth0, plugged into root-namespace port `host`.
    pub fn in_ns(ns: Netns, host: &str, ip_cidr: &str, mac: &str) -> Result<Vm> {
        let vm = Vm {
            ns,
            host: host.to_string(),
            inner: "eth0".to_string(),
            ip: ip_cidr.split('/').next().unwrap().to_string(),
            mac: mac.to_string(),
        };
        sh_quiet(&["ip", "link", "del", host]);
        veth_into(&vm.ns, host, "eth0", mac, ip_cidr)?;
        Ok(vm)
    }

    /// Static neighbour entry so that tests can avoid ARP when they count packets.
    pub fn neigh(&self, ip: &str, mac: &str) -> Result<()> {
        self.ns.exec(&["ip", "neigh", "replace", ip, "lladdr", mac, "dev", "eth0"]).map(|_| ())
    }
}

impl Vm {
    /// Send raw Ethernet frames out of eth0 (AF_PACKET), e.g. tagged or malformed
    /// frames that the kernel stack would never build.
    pub fn send_raw(&self, frames: &[Vec<u8>]) -> Result<()> {
        let hex: Vec<String> = frames.iter().map(|f| format!("'{}'", f.iter().map(|b| format!("{b:02x}")).collect::<String>())).collect();
        let py = format!(
            "import socket\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\ns.bind(('eth0',0))\nfor h in [{}]:\n    s.send(bytes.fromhex(h))\n",
            hex.join(",")
        );
        self.ns.exec(&["python3", "-c", &py]).map(|_| ())
    }

    /// Start capturing frames arriving on eth0 with tcpdump (link-level headers shown, so VLAN tags
    /// are visible); returns once tcpdump is listening.
    pub fn capture(&self, filter: &str, count: u32, secs: u32) -> Result<Capture> {
        use std::io::BufRead;
        let mut args = vec!["timeout".to_string(), secs.to_string(), "tcpdump".into(), "-e".into(), "-n".into(), "-l".into(), "-Q".into(), "in".into()];
        args.extend(["-c".into(), count.to_string(), "-i".into(), "eth0".into()]);
        args.extend(filter.split_whitespace().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let mut child = self.ns.spawn(&refs)?;
        let stderr = child.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
        let mut r = std::io::BufReader::new(stderr);
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line)? == 0 {
                bail!("tcpdump exited before listening");
            }
            if line.contains("listening on") {
                break;
            }
        }
        Ok(Capture { child })
    }
}

/// A running tcpdump.
pub struct Capture {
    child: Child,
}

impl Capture {
    /// Wait for tcpdump to finish (count reached or timeout) and return what it printed.
    pub fn finish(mut self) -> String {
        use std::io::Read;
        let _ = self.child.wait();
        let mut s = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            let _ = o.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        sh_quiet(&["ip", "link", "del", &self.host]);
    }
}

/// An xvsd process with its own control socket; killed on drop.
pub struct Xvsd {
    pub child: Child,
    /// Leave `dir` (state file, log) behind on drop, for a restart on the same state.
    pub keep_dir: bool,
    pub socket: PathBuf,
    pub dir: PathBuf,
}

impl Xvsd {
    /// Start xvsd (adaptive polling, so parallel tests share the CPUs) and wait for
    /// its control socket.
    pub fn start(extra: &[&str]) -> Result<Xvsd> {
        let dir = std::env::temp_dir().join(unique("xvsd-"));
        Xvsd::start_in(&dir, extra)
    }

    /// Start xvsd with its socket, state file and log in `dir` (an existing `dir`
    /// from an earlier run means: restart with the state saved there).
    pub fn start_in(dir: &Path, extra: &[&str]) -> Result<Xvsd> {
        let dir = dir.to_path_buf();
        std::fs::create_dir_all(&dir)?;
        let socket = dir.join("xvsd.sock");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("xvsd.log"))?;
        let mut args = vec![
            "--socket".to_string(),
            socket.display().to_string(),
            "--state-file".into(),
            dir.join("state.json").display().to_string(),
            "--poll".into(),
            "adaptive".into(),
            // 512 frames per fill ring (see io::xsk::fill_target): room for bursts on
            // a loaded 2-core machine.
            "--frames".into(),
            "8192".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new(bin("xvsd")).args(&args).stdout(Stdio::null()).stderr(log).spawn()?;
        let mut x = Xvsd { child, keep_dir: false, socket, dir };
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if x.socket.exists() && x.ctl(&["version"]).is_ok() {
                return Ok(x);
            }
            if let Ok(Some(st)) = x.child.try_wait() {
                bail!("xvsd exited ({st}): {}", x.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("xvsd did not come up: {}", x.log())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("xvsd.log")).unwrap_or_default()
    }

    /// Run a control command; Err carries the daemon's error message.
    pub fn ctl(&self, args: &[&str]) -> Result<String> {
        self.ctl_input(args, None)
    }

    pub fn ctl_input(&self, args: &[&str], input: Option<&str>) -> Result<String> {
        let r = call(
            &self.socket,
            &Request { args: args.iter().map(|s| s.to_string()).collect(), input: input.map(|s| s.to_string()) },
            Some(Duration::from_secs(30)),
        )?;
        if r.ok {
            Ok(r.output)
        } else {
            Err(anyhow!("{}", r.output))
        }
    }

    /// Run the real `xvsctl` binary against this daemon.
    pub fn xvsctl(&self, args: &[&str]) -> Output {
        Command::new(bin("xvsctl")).arg("--socket").arg(&self.socket).args(args).output().expect("running xvsctl")
    }

    /// True if the daemon answers on its control socket.
    pub fn alive(&self) -> bool {
        self.ctl(&["version"]).is_ok()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kill with SIGKILL (no cleanup at all) and reap; the directory is kept so that a
    /// new xvsd can be started on the same state.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Send SIGTERM and wait for a clean exit; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Xvsd {
    fn drop(&mut self) {
        if self.is_running() {
            // A clean stop: xvsd removes the netdevs of its internal ports.
            self.stop();
        }
        if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Packet counters of one rule in `dump-flows` output, found by a substring of its
/// match: (n_packets, n_bytes).
pub fn rule_counters(dump: &str, needle: &str) -> Option<(u64, u64)> {
    let line = dump.lines().find(|l| l.contains(needle))?;
    let get = |k: &str| -> Option<u64> {
        let i = line.find(k)? + k.len();
        line[i..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    };
    Some((get("n_packets=")?, get("n_bytes=")?))
}

/// Wait until `f` returns true or `timeout` passes.
pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// True when running as root (the functional tests need it).
pub fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

pub fn socket_path(x: &Xvsd) -> &Path {
    &x.socket
}

/// Start xvsd inside namespace `ns` (as the lab does: `ip netns exec NS xvsd --socket
/// DIR/xvsd.sock --no-state --poll adaptive --frames 4096`), its socket and log in
/// `dir` (reachable from the root namespace: the filesystem is shared). `ip netns exec`
/// execs xvsd itself, so the child is xvsd; dropping the [`Xvsd`] stops it and removes
/// `dir`. Bridges with LOCAL netdevs (br-phy) need one namespace per xvsd.
pub fn xvsd_in_netns(ns: &Netns, dir: &Path) -> Result<Xvsd> {
    xvsd_in_netns_with(ns, dir, 8192)
}

/// [`xvsd_in_netns`] with `frames` UMEM frames (the lab sizes them to its ports).
pub fn xvsd_in_netns_with(ns: &Netns, dir: &Path, frames: u32) -> Result<Xvsd> {
    use std::os::unix::process::CommandExt as _;
    let exe = bin_dir().join("xvsd");
    if !exe.exists() {
        bail!("{} not built (run `cargo build --workspace --bins` first)", exe.display());
    }
    std::fs::create_dir_all(dir)?;
    let socket = dir.join("xvsd.sock");
    let log = std::fs::File::create(dir.join("xvsd.log"))?;
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.name])
        .arg(&exe)
        .arg("--socket")
        .arg(&socket)
        .args(["--no-state", "--poll", "adaptive", "--frames", &frames.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        // Its own process group: a Ctrl-C reaches the caller (the lab), which stops
        // the daemons itself after the step under way.
        .process_group(0)
        .spawn()
        .context("starting xvsd")?;
    let mut x = Xvsd { child, keep_dir: false, socket, dir: dir.to_path_buf() };
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(10) {
        if x.socket.exists() && x.alive() {
            return Ok(x);
        }
        if let Ok(Some(st)) = x.child.try_wait() {
            bail!("xvsd in {} exited ({st}): {}", ns.name, x.log().trim());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("xvsd in {} did not come up: {}", ns.name, x.log().trim())
}

/// A veth pair created directly in two namespaces (`a` in `a_ns`, `b` in `b_ns`; no name
/// ever exists in the root namespace, and deleting either namespace deletes the pair),
/// both ends up.
pub fn veth_between(a_ns: &Netns, a: &str, b_ns: &Netns, b: &str) -> Result<()> {
    sh(&["ip", "link", "add", a, "netns", &a_ns.name, "type", "veth", "peer", "name", b, "netns", &b_ns.name])?;
    a_ns.exec(&["ip", "link", "set", a, "up"])?;
    b_ns.exec(&["ip", "link", "set", b, "up"])?;
    Ok(())
}

/// Timeouts of a [`tcp_transfer`], in seconds.
#[derive(Clone, Copy, Debug)]
pub struct TcpTimeouts {
    /// The server waits this long for the connection.
    pub accept: u32,
    /// Each socket operation after that.
    pub io: u32,
    /// The whole of each side (`timeout(1)` around the scripts).
    pub total: u32,
    /// Pause between connection attempts of the client (50 attempts).
    pub retry: f64,
}

/// What a [`tcp_transfer`] saw: both sides print "size sha256".
#[derive(Clone, Debug)]
pub struct TcpOutcome {
    pub sent: String,
    pub received: String,
    pub client_ok: bool,
    pub client_stderr: String,
}

impl TcpOutcome {
    /// The transfer completed and both sides saw the same bytes.
    pub fn ok(&self) -> bool {
        self.client_ok && !self.sent.is_empty() && self.sent == self.received
    }

    pub fn sha256(&self) -> &str {
        self.sent.split_whitespace().nth(1).unwrap_or("")
    }
}

/// Send `bytes` random bytes over TCP from namespace `from` to `to_ip:port` (a server
/// in namespace `to`), with python3 on both sides; each side prints the size and
/// SHA-256 of what it sent or received. Errors are setup failures (the server did
/// not start); a failed transfer is an outcome whose `ok()` is false.
pub fn tcp_transfer(from: &Netns, to: &Netns, to_ip: &str, port: u16, bytes: usize, t: TcpTimeouts) -> Result<TcpOutcome> {
    use std::io::BufRead;
    let server = format!(
        r#"
import socket, hashlib
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", {port}))
s.listen(1)
s.settimeout({accept})
print("listening", flush=True)
c, _ = s.accept()
c.settimeout({io})
h = hashlib.sha256()
n = 0
while True:
    d = c.recv(65536)
    if not d:
        break
    h.update(d)
    n += len(d)
c.sendall(b"k")
c.close()
print(n, h.hexdigest(), flush=True)
"#,
        accept = t.accept,
        io = t.io
    );
    let client = format!(
        r#"
import socket, hashlib, os, time
data = os.urandom({bytes})
c = None
for i in range(50):
    try:
        c = socket.create_connection(("{to_ip}", {port}), timeout=5)
        break
    except OSError:
        time.sleep({retry})
c.settimeout({io})
c.sendall(data)
c.shutdown(socket.SHUT_WR)
c.recv(1)
c.close()
print(len(data), hashlib.sha256(data).hexdigest(), flush=True)
"#,
        retry = t.retry,
        io = t.io
    );
    let total = t.total.to_string();
    let mut srv = to.spawn(&["timeout", &total, "python3", "-c", &server])?;
    let stdout = srv.stdout.take().ok_or_else(|| anyhow!("server stdout"))?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let first = lines.next().transpose()?.unwrap_or_default();
    if first.trim() != "listening" {
        let _ = srv.kill();
        let _ = srv.wait();
        bail!("TCP server in {} did not start: {first}", to.name);
    }
    let cl = from.output(&["timeout", &total, "python3", "-c", &client]);
    let received = lines.next().transpose().unwrap_or_default().unwrap_or_default().trim().to_string();
    let _ = srv.kill();
    let _ = srv.wait();
    let cl = cl?;
    Ok(TcpOutcome {
        sent: String::from_utf8_lossy(&cl.stdout).trim().to_string(),
        received,
        client_ok: cl.status.success(),
        client_stderr: String::from_utf8_lossy(&cl.stderr).trim().to_string(),
    })
}
