//! Builds xvs-pktgen's BPF programs (bpf/xvs_gen.bpf.c, the fast generator, and
//! bpf/xvs_sink.bpf.c, the fast sink) with clang through libbpf-cargo. The tool embeds
//! the objects with `include_bytes!` and opens them with libbpf-rs' `ObjectBuilder`.
use libbpf_cargo::SkeletonBuilder;
use std::{env, path::PathBuf, process::Command};

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../bpf");
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    // <asm/types.h> lives in the multiarch include directory on Debian.
    let multiarch = Command::new("gcc")
        .arg("-dumpmachine")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| format!("-I/usr/include/{}", s.trim()))
        .unwrap_or_else(|| "-I/usr/include/x86_64-linux-gnu".into());
    for name in ["xvs_gen", "xvs_sink"] {
        let src = root.join(format!("{name}.bpf.c"));
        let out = out_dir.join(format!("{name}.bpf.o"));
        SkeletonBuilder::new()
            .source(&src)
            .clang_args([multiarch.as_str(), "-Wall", "-O2"])
            .obj(&out)
            .build()
            .unwrap_or_else(|e| {
                panic!(
                    "building {} (needs clang and libbpf headers: apt-get install clang libbpf-dev): {e:#}",
                    src.display()
                )
            });
        println!("cargo:rerun-if-changed={}", src.display());
    }
}
