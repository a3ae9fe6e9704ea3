//! xvsctl: command-line client of xvsd's control socket.
//!
//! The daemon parses and validates every command, so this client only ships the words
//! (and, for `add-flows`, the file's contents) and prints the answer.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use xvs::control::proto::{call, Request, DEFAULT_SOCKET};

const HELP: &str = "usage: xvsctl [--socket PATH] [--timeout SECS] COMMAND [ARGS...]";

fn main() -> ExitCode {
    // Like any Unix filter: a closed pipe (`xvsctl dump-flows br0 | head`) ends us
    // quietly instead of a panic on the next print.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut socket = std::env::var("XVS_SOCKET").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from(DEFAULT_SOCKET));
    let mut timeout = Some(Duration::from_secs(60));
    loop {
        match args.first().map(|s| s.as_str()) {
            Some("--socket") if args.len() > 1 => {
                socket = PathBuf::from(&args[1]);
                args.drain(..2);
            }
            Some(a) if a.starts_with("--socket=") => {
                socket = PathBuf::from(&a["--socket=".len()..]);
                args.remove(0);
            }
            Some("--timeout") if args.len() > 1 => {
                let secs: u64 = match args[1].parse() {
                    Ok(s) => s,
                    Err(_) => {
                        eprintln!("xvsctl: bad --timeout '{}'", args[1]);
                        return ExitCode::from(2);
                    }
                };
                timeout = if secs == 0 { None } else { Some(Duration::from_secs(secs)) };
                args.drain(..2);
            }
            Some("-h") | Some("--help") | None => {
                // The command list is compiled in: it needs no running daemon.
                println!("{HELP}\n\n{}", xvs::control::commands::USAGE);
                println!("\noptions: --socket PATH (or XVS_SOCKET; default {DEFAULT_SOCKET}), --timeout SECS (0: none)");
                let _ = timeout;
                return ExitCode::SUCCESS;
            }
            _ => break,
        }
    }
    // capture ... FILE: the daemon writes the file; give it an absolute path.
    if args[0] == "capture" {
        if let Some(last) = args.last_mut() {
            let p = std::path::Path::new(last.as_str());
            if !p.is_absolute() && !last.starts_with("--") {
                if let Ok(cwd) = std::env::current_dir() {
                    *last = cwd.join(p).display().to_string();
                }
            }
        }
        timeout = None;
    }
    // add-flows BR FILE: read the file here (the daemon may not see our files).
    let mut input = None;
    if args[0] == "add-flows" {
        if args.len() != 3 {
            eprintln!("xvsctl: usage: add-flows BR FILE   (FILE '-' reads stdin)");
            return ExitCode::from(2);
        }
        let file = args.pop().unwrap();
        let text = if file == "-" {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map(|_| s)
        } else {
            std::fs::read_to_string(&file)
        };
        match text {
            Ok(t) => input = Some(t),
            Err(e) => {
                eprintln!("xvsctl: {file}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    match call(&socket, &Request { args, input }, timeout) {
        Ok(r) if r.ok => {
            print!("{}", r.output);
            ExitCode::SUCCESS
        }
        Ok(r) => {
            eprintln!("xvsctl: {}", r.output.trim_end());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("xvsctl: {e:#}");
            ExitCode::from(1)
        }
    }
}
