//! Compiles every XDP program under bpf/ with clang (`-O2 -g -target bpf`) into OUT_DIR.
//! Without clang the objects are left empty and loading one fails with a clear message, so the
//! rest of the workspace still builds.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    println!("cargo:rerun-if-changed=bpf");
    println!("cargo:rerun-if-env-changed=CLANG");
    let mut sources: Vec<PathBuf> = std::fs::read_dir("bpf")
        .expect("backends/xdp/bpf exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    for src in sources {
        println!("cargo:rerun-if-changed={}", src.display());
        let stem = src
            .file_stem()
            .expect("a file name")
            .to_string_lossy()
            .to_string();
        let obj = out.join(format!("{stem}.o"));
        let built = Command::new(&clang)
            .args([
                "-O2",
                "-g",
                "-target",
                "bpf",
                "-I/usr/include/x86_64-linux-gnu",
                "-c",
            ])
            .arg(&src)
            .arg("-o")
            .arg(&obj)
            .status();
        match built {
            Ok(s) if s.success() => {}
            Ok(s) => panic!("clang failed on {} ({s})", src.display()),
            Err(e) => {
                println!(
                    "cargo:warning=XDP program {stem} not built ({clang}: {e}); install clang and libbpf-dev to load XDP programs"
                );
                std::fs::write(&obj, b"").expect("write an empty object");
            }
        }
    }
}
