//! xvs-lab: run the default Neutron-style lab (see `xvs_tools::lab`) and print what
//! happened. Needs root; removes everything it created when it ends.

use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "xvs-lab", about = "Neutron-style xvs lab in network namespaces")]
struct Args {
    /// Seconds of generated traffic (xvs-pktgen) between two VMs; 0 to skip.
    #[arg(long, default_value_t = 2)]
    burst: u32,
    /// Leave the lab running after the checks until Ctrl-C.
    #[arg(long)]
    keep: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match xvs_tools::lab::run_default(args.burst, args.keep) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xvs-lab: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
