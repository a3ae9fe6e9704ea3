//! A private Open vSwitch for one test: `ovsdb-server` and
//! `ovs-vswitchd --enable-dummy --disable-system` with their database, sockets, pid
//! and log files in a fresh temporary directory, using the `dummy` datapath and
//! `dummy` ports only (no kernel module, no kernel devices, no network namespace
//! needed: the bridges' own internal ports are `dummy-internal`).
//!
//! Both daemons are children of the test process (not `--detach`ed) with
//! `PR_SET_PDEATHSIG`, so they also die if the test process is killed. Dropping an
//! [`Ovs`] (also while unwinding from a panic) stops them and removes the directory.
//!
//! `ofproto/trace`, `dpif/show` and `fdb/*` go through the daemon's unixctl socket as
//! JSON-RPC on one persistent connection (about 0.15 ms per trace, where spawning
//! `ovs-appctl` costs milliseconds); flows and the database go through `ovs-ofctl` and
//! `ovs-vsctl` with `OVS_RUNDIR` pointing at the private directory.

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// Where the OVS binaries are, or why the differential tests cannot run.
pub fn ovs_available() -> Result<(), String> {
    for bin in [
        "ovs-vswitchd",
        "ovsdb-server",
        "ovsdb-tool",
        "ovs-vsctl",
        "ovs-ofctl",
    ] {
        if find_bin(bin).is_none() {
            return Err(format!(
                "{bin} is not installed (Debian package openvswitch-switch)"
            ));
        }
    }
    if !Path::new(SCHEMA).exists() {
        return Err(format!("{SCHEMA} is missing"));
    }
    Ok(())
}

fn find_bin(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain([
            "/usr/sbin",
            "/usr/bin",
            "/sbin",
            "/usr/local/sbin",
            "/usr/local/bin",
        ])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    found
}

/// One kind of OVS port, as `ovs-vsctl add-port` creates it.
#[derive(Clone, Debug)]
pub enum OvsPortType {
    Dummy,
    Patch { peer: String },
    /// `type=vxlan|gre` with `options:k=v`.
    Tunnel {
        ty: String,
        options: Vec<(String, String)>,
    },
}

/// A port row for [`Ovs::add_bridge`].
#[derive(Clone, Debug)]
pub struct OvsPort {
    pub name: String,
    pub ofport: u32,
    pub ty: OvsPortType,
    pub tag: Option<u16>,
    pub trunks: Vec<u16>,
    pub vlan_mode: Option<String>,
}

pub struct Ovs {
    dir: PathBuf,
    ovsdb: Option<Child>,
    vswitchd: Option<Child>,
    ctl: Option<Unixctl>,
}

static INSTANCE: AtomicU32 = AtomicU32::new(0);

fn wait_for_path(p: &Path, what: &str, child: &mut Child) -> Result<(), String> {
    let t0 = Instant::now();
    while !p.exists() {
        if let Ok(Some(st)) = child.try_wait() {
            return Err(format!("{what} exited early ({st})"));
        }
        if t0.elapsed() > Duration::from_secs(20) {
            return Err(format!("{what}: {} did not appear", p.display()));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

impl Ovs {
    /// Start a private instance. Takes a few tens of milliseconds.
    pub fn start() -> Result<Ovs, String> {
        remove_stale_dirs();
        let n = INSTANCE.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("xvs-ovs-diff.{}.{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let mut ovs = Ovs {
            dir,
            ovsdb: None,
            vswitchd: None,
            ctl: None,
        };
        ovs.start_daemons()?;
        Ok(ovs)
    }

    fn cmd(&self, bin: &str) -> Command {
        let mut c = Command::new(find_bin(bin).unwrap_or_else(|| PathBuf::from(bin)));
        for var in ["OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"] {
            c.env(var, &self.dir);
        }
        c.current_dir(&self.dir);
        c
    }

    fn spawn_daemon(&self, bin: &str, args: &[String]) -> Result<Child, String> {
        let mut c = self.cmd(bin);
        c.args(args).stdin(Stdio::null()).stdout(Stdio::null());
        c.stderr(
            std::fs::File::create(self.dir.join(format!("{bin}.stderr")))
                .map_err(|e| e.to_string())?,
        );
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            c.pre_exec(|| {
                libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                );
                Ok(())
            });
        }
        c.spawn().map_err(|e| format!("spawn {bin}: {e}"))
    }

    fn start_daemons(&mut self) -> Result<(), String> {
        let d = self.dir.display().to_string();
        let db = format!("{d}/conf.db");
        self.run("ovsdb-tool", &["create", &db, SCHEMA])?;
        let mut server = self.spawn_daemon(
            "ovsdb-server",
            &[
                db.clone(),
                format!("--remote=punix:{d}/db.sock"),
                format!("--unixctl={d}/ovsdb-server.ctl"),
                format!("--pidfile={d}/ovsdb-server.pid"),
                format!("--log-file={d}/ovsdb-server.log"),
                "-vconsole:off".into(),
                "--no-chdir".into(),
            ],
        )?;
        let r = wait_for_path(&self.dir.join("db.sock"), "ovsdb-server", &mut server);
        self.ovsdb = Some(server);
        r?;
        self.vsctl(&["--no-wait", "init"])?;
        let mut vswitchd = self.spawn_daemon(
            "ovs-vswitchd",
            &[
                format!("unix:{d}/db.sock"),
                "--enable-dummy".into(),
                "--disable-system".into(),
                "--disable-system-route".into(),
                format!("--unixctl={d}/vswitchd.ctl"),
                format!("--pidfile={d}/ovs-vswitchd.pid"),
                format!("--log-file={d}/ovs-vswitchd.log"),
                "-vconsole:off".into(),
                "--no-chdir".into(),
            ],
        )?;
        let r = wait_for_path(
            &self.dir.join("vswitchd.ctl"),
            "ovs-vswitchd",
            &mut vswitchd,
        );
        self.vswitchd = Some(vswitchd);
        r?;
        self.ctl = Some(Unixctl::connect(&self.dir.join("vswitchd.ctl"))?);
        Ok(())
    }

    /// Run an OVS command line tool; Ok(stdout) or Err(stderr).
    pub fn run(&self, bin: &str, args: &[&str]) -> Result<String, String> {
        let out = self
            .cmd(bin)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{bin}: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "{bin} {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    pub fn vsctl(&self, args: &[&str]) -> Result<String, String> {
        let db = format!("--db=unix:{}/db.sock", self.dir.display());
        let mut a = vec![db.as_str(), "--timeout=30"];
        a.extend_from_slice(args);
        self.run("ovs-vsctl", &a)
    }

    pub fn ofctl(&self, args: &[&str]) -> Result<String, String> {
        self.run("ovs-ofctl", args)
    }

    /// One unixctl command on the persistent connection.
    pub fn appctl(&mut self, method: &str, params: &[&str]) -> Result<String, String> {
        self.ctl.as_mut().ok_or("not running")?.call(method, params)
    }

    /// Create a `fail_mode=secure` bridge on the dummy datapath with its ports (one
    /// `ovs-vsctl` transaction), and take the bridge's own LOCAL port out of flooding:
    /// xvs bridges have no LOCAL port, so NORMAL/FLOOD would otherwise always differ
    /// by one output.
    pub fn add_bridge(&mut self, name: &str, ports: &[OvsPort]) -> Result<(), String> {
        let mut a: Vec<String> = vec![
            "add-br".into(),
            name.into(),
            "--".into(),
            "set".into(),
            "bridge".into(),
            name.into(),
            "datapath_type=dummy".into(),
            "fail_mode=secure".into(),
            "protocols=OpenFlow10,OpenFlow13".into(),
        ];
        for p in ports {
            a.extend(["--".into(), "add-port".into(), name.into(), p.name.clone()]);
            a.extend([
                "--".into(),
                "set".into(),
                "interface".into(),
                p.name.clone(),
            ]);
            match &p.ty {
                OvsPortType::Dummy => a.push("type=dummy".into()),
                OvsPortType::Patch { peer } => {
                    a.push("type=patch".into());
                    a.push(format!("options:peer={peer}"));
                }
                OvsPortType::Tunnel { ty, options } => {
                    a.push(format!("type={ty}"));
                    for (k, v) in options {
                        a.push(format!("options:{k}={v}"));
                    }
                }
            }
            a.push(format!("ofport_request={}", p.ofport));
            if p.tag.is_some() || !p.trunks.is_empty() || p.vlan_mode.is_some() {
                a.extend(["--".into(), "set".into(), "port".into(), p.name.clone()]);
                if let Some(m) = &p.vlan_mode {
                    a.push(format!("vlan_mode={m}"));
                }
                if let Some(t) = p.tag {
                    a.push(format!("tag={t}"));
                }
                if !p.trunks.is_empty() {
                    let t: Vec<String> = p.trunks.iter().map(|t| t.to_string()).collect();
                    a.push(format!("trunks={}", t.join(",")));
                }
            }
        }
        let refs: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
        self.vsctl(&refs)?;
        self.ofctl(&["mod-port", name, name, "no-flood"])?;
        Ok(())
    }

    /// Datapath port number -> (bridge, port name, ofport), from `dpif/show`.
    pub fn dp_ports(&mut self) -> Result<BTreeMap<u32, (String, String, u32)>, String> {
        let text = self.appctl("dpif/show", &[])?;
        let mut m = BTreeMap::new();
        let mut bridge = String::new();
        for line in text.lines() {
            let t = line.trim();
            if line.starts_with("    ") {
                // "vm1 5/1: (dummy)" or "patch-tun 1/none: (patch: peer=...)"
                let mut it = t.split_whitespace();
                let (Some(name), Some(nums)) = (it.next(), it.next()) else {
                    continue;
                };
                let nums = nums.trim_end_matches(':');
                let Some((of, dp)) = nums.split_once('/') else {
                    continue;
                };
                if let (Ok(of), Ok(dp)) = (of.parse::<u32>(), dp.parse::<u32>()) {
                    m.insert(dp, (bridge.clone(), name.to_string(), of));
                }
            } else if line.starts_with("  ") && t.ends_with(':') {
                bridge = t.trim_end_matches(':').to_string();
            }
        }
        Ok(m)
    }

    /// Replace every flow of `br` with `flows`. Flows that need OpenFlow 1.1+ (see
    /// [`needs_of13`]) go in with `-O OpenFlow13`, the others in OpenFlow 1.0 + NXM,
    /// ovs-ofctl's default, so that e.g. `mod_vlan_vid` keeps its 1.0 meaning.
    pub fn replace_flows(&mut self, br: &str, flows: &[String]) -> Result<(), String> {
        self.ofctl(&["del-flows", br])?;
        let (of13, of10): (Vec<&String>, Vec<&String>) = flows.iter().partition(|f| needs_of13(f));
        for (set, proto) in [(of10, None), (of13, Some("OpenFlow13"))] {
            if set.is_empty() {
                continue;
            }
            let path = self.dir.join(format!("flows-{br}.txt"));
            let text: String = set.iter().map(|f| format!("{f}\n")).collect();
            std::fs::write(&path, text).map_err(|e| e.to_string())?;
            let p = path.display().to_string();
            let r = match proto {
                Some(v) => self.ofctl(&["-O", v, "add-flows", br, &p]),
                None => self.ofctl(&["add-flows", br, &p]),
            };
            if let Err(e) = r {
                // "FILE:N: message": name the flow.
                let n: Option<usize> = e
                    .rsplit(&format!("{p}:"))
                    .next()
                    .and_then(|t| t.split(':').next())
                    .and_then(|n| n.parse().ok());
                let line = n
                    .and_then(|n| set.get(n - 1))
                    .map(|l| format!("\nflow: {l}"))
                    .unwrap_or_default();
                return Err(format!("{e}{line}"));
            }
        }
        Ok(())
    }

    pub fn dump_flows(&self, br: &str, filter: &str) -> Result<Vec<String>, String> {
        let out = self.ofctl(&["dump-flows", br, filter])?;
        Ok(out
            .lines()
            .filter(|l| l.starts_with(' '))
            .map(|l| l.to_string())
            .collect())
    }

    /// `ofproto/trace BR FLOW` (no packet: no side effects, no MAC learning).
    pub fn trace(&mut self, br: &str, flow: &str) -> Result<String, String> {
        self.appctl("ofproto/trace", &[br, flow])
    }

    /// Stop both daemons and remove the directory. Idempotent.
    pub fn stop(&mut self) {
        self.ctl = None;
        for child in [self.vswitchd.take(), self.ovsdb.take()]
            .into_iter()
            .flatten()
        {
            stop_child(child);
        }
        if self.dir.exists() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// The tail of ovs-vswitchd's log (for failure messages).
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("ovs-vswitchd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// Directories left by test processes that were killed (SIGKILL skips `Drop`; their
/// daemons died with them through PR_SET_PDEATHSIG).
fn remove_stale_dirs() {
    let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("xvs-ovs-diff.") else {
            continue;
        };
        let Some(pid) = rest.split('.').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn stop_child(mut child: Child) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: signalling our own child by pid; it has not been reaped yet.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let t0 = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return,
            Ok(None) if t0.elapsed() > Duration::from_secs(3) => {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        self.stop();
    }
}

/// True if a flow line can only be added with OpenFlow 1.1+ (instructions, push_vlan,
/// OpenFlow 1.2+ `set_field` on the VLAN id, which in 1.0 would silently become
/// `mod_vlan_vid` and push a tag on untagged packets).
pub fn needs_of13(flow: &str) -> bool {
    let acts = flow.split_once("actions=").map(|(_, a)| a).unwrap_or("");
    [
        "goto_table",
        "push_vlan",
        "->vlan_vid",
        "->vlan_pcp",
        "write_metadata",
        "meter:",
        "write_actions",
        "clear_actions",
    ]
    .iter()
    .any(|k| acts.contains(k))
}

/// The unixctl JSON-RPC protocol: one JSON object per request and per reply, on a
/// stream socket, no framing.
struct Unixctl {
    w: UnixStream,
    r: serde_json::StreamDeserializer<
        'static,
        serde_json::de::IoRead<BufReader<UnixStream>>,
        Value,
    >,
    id: u64,
}

impl Unixctl {
    fn connect(path: &Path) -> Result<Unixctl, String> {
        let t0 = Instant::now();
        let s = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if t0.elapsed() > Duration::from_secs(10) => {
                    return Err(format!("connect {}: {e}", path.display()))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| e.to_string())?;
        let r = s.try_clone().map_err(|e| e.to_string())?;
        let r = serde_json::Deserializer::from_reader(BufReader::new(r)).into_iter::<Value>();
        Ok(Unixctl { w: s, r, id: 0 })
    }

    fn call(&mut self, method: &str, params: &[&str]) -> Result<String, String> {
        self.id += 1;
        let req = serde_json::json!({ "method": method, "params": params, "id": self.id });
        self.w
            .write_all(req.to_string().as_bytes())
            .map_err(|e| format!("unixctl write: {e}"))?;
        let v = self
            .r
            .next()
            .ok_or_else(|| "unixctl: connection closed".to_string())?
            .map_err(|e| format!("unixctl read: {e}"))?;
        if v.get("id").and_then(|i| i.as_u64()) != Some(self.id) {
            return Err(format!("unixctl: unexpected reply {v}"));
        }
        match v.get("error") {
            Some(e) if !e.is_null() => Err(e
                .as_str()
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.to_string())),
            _ => Ok(v
                .get("result")
                .and_then(|r| r.as_str())
                .unwrap_or("")
                .to_string()),
        }
    }
}
