//! Replays, on stable, every input committed for every cargo-fuzz target: `fuzz/seeds/<t>/`
//! (starting corpus) and `fuzz/regressions/<t>/` (minimized crashes, each one a bug that was
//! fixed), plus any local crash artifacts in `fuzz/artifacts/<t>/` (not committed) — through
//! the same function the fuzz target runs. Also checks every target in `fuzz/fuzz_targets/`
//! is in the table and has seeds, so a new target cannot skip this.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use testbed_scenarios::fuzzing::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn every_fuzz_target_is_replayed_and_has_seeds() {
    let on_disk: BTreeSet<String> = files(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_string()))
        .collect();
    let table: BTreeSet<String> = TARGETS.iter().map(|t| t.0.to_string()).collect();
    assert_eq!(
        on_disk, table,
        "fuzz/fuzz_targets vs testbed_scenarios::fuzzing::TARGETS"
    );
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for t in &table {
        assert!(
            manifest.contains(&format!("name = \"{t}\"")),
            "fuzz/Cargo.toml has no [[bin]] {t}"
        );
        assert!(
            !files(&fuzz_dir().join("seeds").join(t)).is_empty(),
            "fuzz/seeds/{t} is empty"
        );
    }
}

#[test]
fn seeds_regressions_and_artifacts_replay_cleanly() {
    let mut replayed = 0;
    for (name, run) in TARGETS {
        for sub in ["seeds", "regressions", "artifacts"] {
            for f in files(&fuzz_dir().join(sub).join(name)) {
                let data = std::fs::read(&f).unwrap();
                let r = std::panic::catch_unwind(|| run(&data));
                assert!(
                    r.is_ok(),
                    "{name}: {} fails (replay: cargo +nightly fuzz run {name} {})",
                    f.display(),
                    f.display()
                );
                replayed += 1;
            }
        }
    }
    assert!(replayed >= 30, "only {replayed} inputs");
}
