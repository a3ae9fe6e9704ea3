//! Builds the XDP steering program (bpf/xvs_xdp.bpf.c) with clang through libbpf-cargo;
//! `io::xdp` embeds the object with `include_bytes!`, so there is no .o file to install
//! next to xvsd. (The object is opened with libbpf-rs' `ObjectBuilder`, which owns its
//! maps and programs without the skeleton's borrowed storage.)
use libbpf_cargo::SkeletonBuilder;
use std::{env, path::PathBuf, process::Command};

fn main() {
    let src = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../bpf/xvs_xdp.bpf.c");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("xvs_xdp.bpf.o");
    // <asm/types.h> lives in the multiarch include directory on Debian.
    let multiarch = Command::new("gcc")
        .arg("-dumpmachine")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| format!("-I/usr/include/{}", s.trim()))
        .unwrap_or_else(|| "-I/usr/include/x86_64-linux-gnu".into());
    SkeletonBuilder::new()
        .source(&src)
        .clang_args([multiarch.as_str(), "-Wall", "-O2"])
        .obj(&out)
        .build()
        .expect("building bpf/xvs_xdp.bpf.c (needs clang and libbpf headers: apt-get install clang libbpf-dev)");
    println!("cargo:rerun-if-changed={}", src.display());
}
