//! xvs-lab: build a Neutron-style deployment in network namespaces from a TOML file
//! (see `xvs_tools::lab` and `labs/`), check it with real traffic, print what every
//! switch did, and remove it. Needs root.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use xvs_tools::lab;

#[derive(Parser, Debug)]
#[command(name = "xvs-lab", about = "Neutron-style xvs lab in network namespaces, from a TOML file")]
struct Args {
    /// Lab file (TOML); without it, the embedded default (labs/default.toml).
    file: Option<PathBuf>,
    /// Seconds of generated traffic (xvs-pktgen) between two VMs; 0 to skip.
    #[arg(long, default_value_t = 2)]
    burst: u32,
    /// Leave the lab running after the checks until Ctrl-C, SIGTERM or SIGHUP.
    #[arg(long)]
    keep: bool,
    /// Remove what killed labs left behind (namespaces, xvsd processes, run
    /// directories under /run/xvs-lab) and exit. Running labs are left alone.
    #[arg(long)]
    cleanup: bool,
    /// Check the file and print each host's commands and flows; build nothing.
    #[arg(long)]
    dry_run: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.cleanup {
        return match lab::rundir::cleanup_stale() {
            Ok(lines) => {
                if lines.is_empty() {
                    println!("xvs-lab: nothing to clean up");
                }
                for l in lines {
                    println!("xvs-lab: {l}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("xvs-lab: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let topo = match lab::load(args.file.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("xvs-lab: {e:#}");
            return ExitCode::from(2);
        }
    };
    if args.dry_run {
        print!("{}", lab::dry_run(&topo));
        return ExitCode::SUCCESS;
    }
    match lab::run(topo, &lab::Options { burst: args.burst, keep: args.keep }) {
        Ok(o) if o.failed().is_empty() => {
            println!("\nlab: all checks passed");
            ExitCode::SUCCESS
        }
        Ok(o) => {
            eprintln!("\nxvs-lab: {} check(s) failed:", o.failed().len());
            for c in o.failed() {
                eprintln!("  {}: {}", c.name, c.detail);
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("xvs-lab: {e:#}");
            ExitCode::FAILURE
        }
    }
}
