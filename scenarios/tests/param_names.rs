//! Parameters are read by name (`params.int("clients")`), which panics at run time on a typo or
//! a kind mismatch. This test makes that a test failure instead: every name read anywhere in
//! this crate's sources must be declared by some catalogue (or test) scenario with that kind.
//! (Paths that only real backends run would otherwise find a typo only on a real machine.)

use std::collections::BTreeSet;
use std::path::Path;
use testbed_scenarios::params::Kind;
use testbed_scenarios::{catalogue, test_catalogue};

fn kind_of(k: &Kind) -> &'static str {
    match k {
        Kind::Int { .. } => "int",
        Kind::Real { .. } => "real",
        Kind::Duration => "duration",
        Kind::Choice(_) => "choice",
    }
}

/// Every `.int("x")`-style read in `text` as (accessor, name, line).
fn reads(text: &str) -> Vec<(&'static str, String, usize)> {
    let mut out = Vec::new();
    for acc in ["int", "real", "duration", "choice"] {
        let pat = format!(".{acc}(");
        let mut from = 0;
        while let Some(i) = text[from..].find(&pat) {
            let at = from + i + pat.len();
            from = at;
            let rest = text[at..].trim_start();
            let Some(rest) = rest.strip_prefix('"') else {
                continue; // not a literal name
            };
            let Some(end) = rest.find('"') else { continue };
            let name = &rest[..end];
            let after = rest[end + 1..].trim_start();
            let closes = after
                .strip_prefix(',')
                .unwrap_or(after)
                .trim_start()
                .starts_with(')');
            if closes
                && !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                let line = text[..at].lines().count();
                out.push((acc, name.to_string(), line));
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_parameter_read_is_declared_with_its_kind() {
    let declared: BTreeSet<(&'static str, &'static str)> = catalogue()
        .into_iter()
        .chain(test_catalogue())
        .flat_map(|s| s.params().iter().map(|p| (kind_of(&p.kind), p.name)))
        .collect();
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    files.sort();
    let mut checked = 0;
    let mut bad = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        // params.rs's own unit tests declare made-up parameters.
        if f.ends_with("params.rs") {
            continue;
        }
        for (acc, name, line) in reads(&text) {
            checked += 1;
            if !declared.contains(&(acc, name.as_str())) {
                bad.push(format!(
                    "{}:{line}: .{acc}({name:?}) is not declared as {acc} by any scenario",
                    f.display()
                ));
            }
        }
    }
    assert!(
        checked > 50,
        "found only {checked} parameter reads: the scan is broken"
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_scan_finds_reads_and_their_kinds() {
    let r = reads("let n = p.int(\"clients\"); let d = p.duration(\n    \"latency\",\n); x.int(v)");
    assert_eq!(
        r.iter()
            .map(|(a, n, _)| (*a, n.as_str()))
            .collect::<Vec<_>>(),
        vec![("int", "clients"), ("duration", "latency")]
    );
}
