//! The control protocol: one JSON request line, one JSON response line, per
//! connection, over a Unix stream socket.
//!
//! Requests carry the command line as words (the daemon parses them, so errors read
//! the same whatever the client) plus optional `input` (the contents of a flow file
//! for `add-flows`). A request is executed only once its terminating newline has
//! arrived: a client that disconnects mid-request changes nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

pub const DEFAULT_SOCKET: &str = "/run/xvs/xvsd.sock";
/// Upper bound of a request line (a flow file of a few hundred thousand flows).
pub const MAX_REQUEST: usize = 256 << 20;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Request {
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Response {
    pub ok: bool,
    /// Text to print on stdout (success) or stderr (error).
    pub output: String,
}

impl Response {
    pub fn ok(output: impl Into<String>) -> Response {
        Response { ok: true, output: output.into() }
    }
    pub fn err(msg: impl Into<String>) -> Response {
        Response { ok: false, output: msg.into() }
    }
}

/// Send one request to the daemon at `socket` and wait for its response.
pub fn call(socket: &Path, req: &Request, timeout: Option<Duration>) -> Result<Response> {
    let mut s = UnixStream::connect(socket)
        .with_context(|| format!("cannot connect to xvsd at {} (is it running?)", socket.display()))?;
    s.set_read_timeout(timeout)?;
    let mut line = serde_json::to_vec(req)?;
    line.push(b'\n');
    s.write_all(&line)?;
    s.flush()?;
    let mut r = BufReader::new(s.take(MAX_REQUEST as u64));
    let mut buf = String::new();
    r.read_line(&mut buf).context("reading the response from xvsd")?;
    if buf.is_empty() {
        bail!("xvsd closed the connection without answering");
    }
    serde_json::from_str(&buf).context("bad response from xvsd")
}
