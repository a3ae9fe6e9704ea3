//! The control socket: a Unix stream socket (mode 0600) on which each connection
//! carries one request and one response.
//!
//! A request is read completely (up to its newline, with a size cap and a read
//! timeout) before anything is executed, so a client that disconnects or stalls
//! mid-request changes nothing. Commands run one at a time against the datapath.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};

use super::commands;
use super::proto::{Request, Response, MAX_REQUEST};
use crate::daemon::Datapath;

pub struct Server {
    pub path: PathBuf,
    listener: UnixListener,
}

impl Server {
    pub fn bind(path: &Path) -> Result<Server> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        if path.exists() {
            // A live daemon answers; a stale socket file from a crash does not.
            if UnixStream::connect(path).is_ok() {
                anyhow::bail!("another xvsd is already listening on {}", path.display());
            }
            let _ = std::fs::remove_file(path);
        }
        let listener = UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        Ok(Server { path: path.to_path_buf(), listener })
    }

    /// Accept connections until `stop` is set. Each connection gets its own thread for
    /// reading (so a slow client cannot block others); execution is serialized.
    pub fn run(&self, dp: Arc<Mutex<Datapath>>, stop: Arc<AtomicBool>) {
        self.listener.set_nonblocking(true).ok();
        let fd = self.listener.as_raw_fd();
        while !stop.load(Ordering::Relaxed) {
            // Wait for a connection in poll(2) (woken at once when a client connects,
            // every 100 ms to look at `stop`), then accept without blocking.
            let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd for the duration of the call.
            if unsafe { libc::poll(&mut pfd, 1, 100) } <= 0 {
                continue;
            }
            match self.listener.accept() {
                Ok((s, _)) => {
                    let dp = dp.clone();
                    let _ = std::thread::Builder::new().name("xvs-ctl".into()).spawn(move || handle(s, dp));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    tracing::warn!("control socket accept: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn read_request(s: &UnixStream) -> Result<Option<Request>> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut r = BufReader::new(s.take(MAX_REQUEST as u64 + 1));
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        // EOF (or the size cap) before the end of the request: nothing to do.
        return Ok(None);
    }
    Ok(Some(serde_json::from_slice(&line).context("request is not valid JSON")?))
}

fn handle(mut s: UnixStream, dp: Arc<Mutex<Datapath>>) {
    let resp = match read_request(&s) {
        // A capture collects frames for a while: it must not hold the datapath lock.
        Ok(Some(req)) if req.args.first().map(|a| a.as_str()) == Some("capture") => {
            match super::capture::run(&dp, &req.args[1..]) {
                Ok(out) => Response::ok(out),
                Err(e) => Response::err(format!("{e:#}")),
            }
        }
        Ok(Some(req)) => {
            let mut guard = match dp.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            // A bug in a command must not take the daemon down with it.
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| commands::execute(&mut guard, &req))) {
                Ok(r) => r,
                Err(_) => Response::err("internal error while executing the command (see the xvsd log)"),
            }
        }
        Ok(None) => return,
        Err(e) => Response::err(format!("bad request: {e:#}")),
    };
    let mut out = serde_json::to_vec(&resp).unwrap_or_default();
    out.push(b'\n');
    // The client may be gone already; that is fine.
    let _ = s.write_all(&out);
}
