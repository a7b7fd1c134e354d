//! Helpers for testing your own code in the simulator: run a check over many seeds and print
//! the failing seed with its replay command; run a scenario twice and find where two runs of
//! the same seed diverge.

use crate::sim::Report;
use crate::trace::{first_difference, Event};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Display;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Once;

/// Seeds to run: `TESTBED_SEED=n` runs only seed `n` (replay); otherwise `TESTBED_SEEDS`
/// seeds (default `default_count`) starting at `TESTBED_SEED_START` (default 0).
pub fn seeds(default_count: u64) -> std::ops::Range<u64> {
    let var = |k: &str| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(s) = var("TESTBED_SEED") {
        return s..s + 1;
    }
    let start = var("TESTBED_SEED_START").unwrap_or(0);
    start..start + var("TESTBED_SEEDS").unwrap_or(default_count)
}

/// Runs `check` for each seed of [`seeds`]`(32)` and panics at the first failure, once, with
/// the seed, what failed (for a panic: its message and location) and the command that replays
/// it. The panic points at the caller's line.
///
/// ```
/// testbed_sim::check_seeds(|seed| if seed < 1000 { Ok(()) } else { Err("too big") });
/// ```
#[track_caller]
pub fn check_seeds<E: Display>(mut check: impl FnMut(u64) -> Result<(), E>) {
    for seed in seeds(32) {
        let failure = match catch_quietly(|| check(seed)) {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e.to_string(),
            Err(panic) => panic,
        };
        let hint = replay_command(seed);
        // A `SimError` already names the seed and this replay command: say it once.
        let failure = failure.replace(&format!(" (seed {seed}; replay: {hint})"), "");
        panic!("seed {seed} failed: {failure}\nreplay: {hint}");
    }
}

/// Runs `f` on this thread with the panic hook and the simulator's run-failure line silenced,
/// as [`check_seeds`] runs each seed: a panic comes back as `Err` with its message and where it
/// happened. For harnesses that run many seeds and report one failure themselves.
pub fn catch_quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    quietly(|| std::panic::catch_unwind(AssertUnwindSafe(f))).map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into());
        match LAST_PANIC.with(|l| l.take()) {
            Some(at) => format!("{msg}\n  (panicked at {at})"),
            None => msg,
        }
    })
}

thread_local! {
    /// Set while `check_seeds` runs a check: the simulator and the panic hook stay silent.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// Where the last silenced panic happened.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn quietly<T>(f: impl FnOnce() -> T) -> T {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                let at = info.location().map(|l| l.to_string()).unwrap_or_default();
                LAST_PANIC.with(|l| *l.borrow_mut() = Some(at));
            } else {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    LAST_PANIC.with(|l| l.take());
    let r = f();
    QUIET.with(|q| q.set(was));
    r
}

/// Prints a run failure to stderr unless [`check_seeds`] is about to report it.
pub(crate) fn report_failure(msg: std::fmt::Arguments<'_>) {
    if !QUIET.with(Cell::get) {
        eprintln!("{msg}");
    }
}

/// The command that re-runs the current test with `seed` only:
/// `TESTBED_SEED=<seed> cargo test -p <package> --test <target> -- --exact <test>`. The test is
/// the libtest thread's name; the target is the test binary's name without cargo's hash (or
/// `--lib` for a crate's unit tests); the package comes from `CARGO_PKG_NAME`, which cargo sets
/// when it runs tests. Outside libtest: `re-run with seed <seed>`.
pub fn replay_command(seed: u64) -> String {
    let test = match std::thread::current().name() {
        Some(name) if name != "main" => name.to_string(),
        _ => return format!("re-run with seed {seed}"),
    };
    let mut cmd = format!("TESTBED_SEED={seed} cargo test");
    let package = std::env::var("CARGO_PKG_NAME").ok();
    if let Some(p) = &package {
        cmd += &format!(" -p {p}");
    }
    if let Some(target) = test_target() {
        let lib = package.is_some_and(|p| p.replace('-', "_") == target);
        if lib {
            cmd += " --lib";
        } else if target != "rust_out" {
            cmd += &format!(" --test {target}");
        }
    }
    cmd + &format!(" -- --exact {test}")
}

/// The current test binary's target name: `hyper_glue-0123456789abcdef` → `hyper_glue`.
fn test_target() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let stem = exe.file_stem()?.to_str()?;
    Some(match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            name.to_string()
        }
        _ => stem.to_string(),
    })
}

/// Pins trace hashes to a golden file so that drift between processes and machines (a hasher
/// seeded per process, a wall-clock read, a changed default) fails a test, not only drift
/// between two runs in one process (which [`check_determinism`] catches).
///
/// The file holds one `<key> <hash as 16 hex digits>` line per entry (`#` starts a comment).
/// With `TESTBED_UPDATE_HASHES=1` the given entries are written into the file instead (others
/// kept, keys sorted) and nothing fails. Otherwise every entry must match; the panic lists each
/// mismatch and the command that rewrites the file. Use one file per test: tests run in
/// parallel and two tests updating one file would race.
///
/// ```no_run
/// let report_hash = 0x1234_u64; // e.g. `sim.run()?.trace_hash`
/// testbed_sim::assert_golden_hashes("tests/golden/my_service.txt", &[("seed-0".into(), report_hash)]);
/// ```
#[track_caller]
pub fn assert_golden_hashes(path: impl AsRef<Path>, entries: &[(String, u64)]) {
    let path = path.as_ref();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => panic!("golden hashes {}: {e}", path.display()),
    };
    let mut pinned = parse_golden(&text)
        .unwrap_or_else(|line| panic!("golden hashes {}: bad line {line:?}", path.display()));
    if std::env::var("TESTBED_UPDATE_HASHES").is_ok_and(|v| v == "1") {
        for (k, h) in entries {
            pinned.insert(k.clone(), *h);
        }
        let mut out = String::from(
            "# Golden trace hashes: <key> <hash>. Rewrite with TESTBED_UPDATE_HASHES=1.\n",
        );
        for (k, h) in &pinned {
            out += &format!("{k} {h:016x}\n");
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| panic!("golden hashes {}: {e}", dir.display()));
        }
        std::fs::write(path, out)
            .unwrap_or_else(|e| panic!("golden hashes {}: {e}", path.display()));
        return;
    }
    let mut wrong = Vec::new();
    for (k, h) in entries {
        match pinned.get(k) {
            Some(p) if p == h => {}
            Some(p) => wrong.push(format!("  {k}: pinned {p:016x}, this run {h:016x}")),
            None => wrong.push(format!("  {k}: not pinned, this run {h:016x}")),
        }
    }
    if !wrong.is_empty() {
        panic!(
            "{} trace hash(es) differ from {}:\n{}\nIf the change is intended, rewrite the file: \
             TESTBED_UPDATE_HASHES=1 {}",
            wrong.len(),
            path.display(),
            wrong.join("\n"),
            replay_command(0)
                .split(" -- --exact")
                .next()
                .unwrap_or("cargo test")
                .trim_start_matches("TESTBED_SEED=0 ")
        );
    }
}

/// `key → hash` from a golden file's text, or the first malformed line.
fn parse_golden(text: &str) -> Result<BTreeMap<String, u64>, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (k, h) = line
            .split_once(char::is_whitespace)
            .ok_or(line.to_string())?;
        let h = u64::from_str_radix(h.trim(), 16).map_err(|_| line.to_string())?;
        out.insert(k.to_string(), h);
    }
    Ok(out)
}

/// Two runs of one seed differed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("seed {seed}: runs diverge at event #{index}: first run {first}, second run {second}")]
pub struct Divergence {
    /// The seed.
    pub seed: u64,
    /// Index of the first differing event.
    pub index: usize,
    /// That event in the first run (or "end of trace").
    pub first: String,
    /// That event in the second run (or "end of trace").
    pub second: String,
}

fn show(e: Option<Event>) -> String {
    e.map(|e| e.to_string())
        .unwrap_or_else(|| "end of trace".into())
}

/// Runs `run(seed)` twice (it must build its `Sim` with `record_trace: true`) and compares the
/// traces event by event. Returns the trace hash when they match.
pub fn check_determinism(seed: u64, mut run: impl FnMut(u64) -> Report) -> Result<u64, Divergence> {
    let a = run(seed);
    let b = run(seed);
    let (ea, eb) = (a.events.unwrap_or_default(), b.events.unwrap_or_default());
    if let Some((index, x, y)) = first_difference(&ea, &eb) {
        return Err(Divergence {
            seed,
            index,
            first: show(x),
            second: show(y),
        });
    }
    if a.trace_hash != b.trace_hash {
        return Err(Divergence {
            seed,
            index: ea.len(),
            first: format!("hash {:016x}", a.trace_hash),
            second: format!("hash {:016x}", b.trace_hash),
        });
    }
    Ok(a.trace_hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_files_parse_and_reject_garbage() {
        let m = parse_golden("# c\nb 00000000000000ff\n\na 0000000000000001 # note\n").unwrap();
        assert_eq!(
            m.into_iter().collect::<Vec<_>>(),
            vec![("a".into(), 1), ("b".into(), 255)]
        );
        assert_eq!(parse_golden("a zz").unwrap_err(), "a zz");
        assert_eq!(parse_golden("lonely").unwrap_err(), "lonely");
    }

    #[test]
    fn the_replay_command_names_this_target_and_test() {
        let cmd = replay_command(7);
        assert!(cmd.starts_with("TESTBED_SEED=7 cargo test"), "{cmd}");
        assert!(
            cmd.ends_with(
                "-- --exact testing::tests::the_replay_command_names_this_target_and_test"
            ),
            "{cmd}"
        );
        // Unit tests of this crate: the binary is `testbed_sim-<hash>`.
        assert!(cmd.contains(" --lib") || !cmd.contains("-p "), "{cmd}");
    }
}
