//! testbed-testkit: the one way a test that needs something from its environment (root, BPF,
//! a peer tool, a browser, DPDK) skips. It names what is missing on stderr, appends one line to
//! the file `TESTBED_SKIP_LOG` names (when set), and panics instead when `TESTBED_REQUIRE_ALL=1`.
//!
//! Tests only: it reads the environment and the clock-free PATH, never decides anything a
//! simulated run depends on.
//!
//! ```
//! fn needs_a_tool() {
//!     if !testbed_testkit::tool("a-tool-nobody-has", "apt-get install a-tool") {
//!         return; // skipped, and said why (or panicked under TESTBED_REQUIRE_ALL=1)
//!     }
//!     unreachable!();
//! }
//! # if std::env::var("TESTBED_REQUIRE_ALL").as_deref() != Ok("1") { needs_a_tool(); }
//! ```

use std::fmt::Display;
use std::io::Write;
use std::panic::Location;
use std::path::Path;

/// Set to `1` (CI as root, after installing everything): a skip is a failure.
pub const REQUIRE_ALL: &str = "TESTBED_REQUIRE_ALL";
/// A file every skip appends one line to: `<file>:<line> <test>: <what is missing>`.
pub const SKIP_LOG: &str = "TESTBED_SKIP_LOG";

/// Whether skips are failures here (`TESTBED_REQUIRE_ALL=1`).
pub fn require_all() -> bool {
    std::env::var(REQUIRE_ALL).is_ok_and(|v| v == "1")
}

/// The running test, as libtest names its thread ("module::test"); the caller's location when
/// the test runs on the main thread.
fn test_name(at: &Location<'_>) -> String {
    match std::thread::current().name() {
        Some(n) if n != "main" => n.to_string(),
        _ => format!("{}:{}", at.file(), at.line()),
    }
}

/// The current test cannot run because `missing` (say what, and how to get it). Prints
/// `SKIP <test>: <missing>` and logs it; panics when `TESTBED_REQUIRE_ALL=1`. The caller returns.
#[track_caller]
pub fn skip(missing: impl Display) {
    let at = Location::caller();
    let test = test_name(at);
    if require_all() {
        panic!("{test}: {missing} (and {REQUIRE_ALL}=1: nothing may skip)");
    }
    eprintln!("SKIP {test}: {missing}");
    if let Some(log) = std::env::var_os(SKIP_LOG) {
        let line = format!("{}:{} {test}: {missing}\n", at.file(), at.line());
        // One write of one short line with O_APPEND: lines from parallel test processes do
        // not interleave.
        let wrote = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = wrote {
            eprintln!(
                "(could not append to {SKIP_LOG}={}: {e})",
                Path::new(&log).display()
            );
        }
    }
}

/// `Some(v)` when `r` is `Ok(v)`; otherwise skips with the error as the reason and is `None`.
#[track_caller]
pub fn require<T, E: Display>(r: Result<T, E>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            skip(e);
            None
        }
    }
}

/// `true` when `cond`; otherwise skips with `missing` as the reason and is `false`.
#[track_caller]
pub fn check(cond: bool, missing: impl Display) -> bool {
    if !cond {
        skip(missing);
    }
    cond
}

/// Whether `name` is an executable on PATH (or a path to one).
pub fn on_path(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let exec = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.contains('/') {
        return exec(Path::new(name));
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| exec(&d.join(name))))
}

/// `true` when `name` is on PATH; otherwise skips ("`name` is not installed (`install`)").
#[track_caller]
pub fn tool(name: &str, install: &str) -> bool {
    check(
        on_path(name),
        format_args!("{name} is not installed ({install})"),
    )
}

/// Whether this process runs as root (effective uid 0, read from /proc/self/status).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

/// `true` as root; otherwise skips ("needs root: `why`").
#[track_caller]
pub fn root(why: &str) -> bool {
    check(is_root(), format_args!("needs root: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_shell_and_not_a_made_up_tool() {
        assert!(on_path("sh"));
        assert!(on_path("/bin/sh"));
        assert!(!on_path("no-such-tool-testbed-testkit"));
        assert!(!on_path("/no/such/tool"));
    }

    #[test]
    fn the_test_is_named_by_its_thread() {
        let name = test_name(Location::caller());
        assert!(
            name.ends_with("the_test_is_named_by_its_thread") || name.contains("lib.rs"),
            "{name}"
        );
    }
}
