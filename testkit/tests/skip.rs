//! The skip contract, seen from outside: a child test process that skips logs a line and
//! passes, and fails under TESTBED_REQUIRE_ALL=1.

use std::process::Command;

/// Runs this test binary's `child` test with the given environment.
fn child(require_all: bool, log: &std::path::Path) -> std::process::Output {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--exact",
        "child_that_skips",
        "--include-ignored",
        "--nocapture",
    ])
    .env("TESTBED_SKIP_LOG", log)
    .env_remove("TESTBED_REQUIRE_ALL");
    if require_all {
        c.env("TESTBED_REQUIRE_ALL", "1");
    }
    c.output().unwrap()
}

#[test]
#[ignore = "run by skips_are_logged_and_fail_under_require_all as a child process"]
fn child_that_skips() {
    if !testbed_testkit::tool("no-such-tool-testbed-testkit", "it does not exist") {
        return;
    }
    unreachable!("the tool does not exist");
}

#[test]
fn skips_are_logged_and_fail_under_require_all() {
    let dir = std::env::temp_dir().join(format!("testkit-skip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("skips");
    let _ = std::fs::remove_file(&log);

    let out = child(false, &log);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SKIP child_that_skips: no-such-tool-testbed-testkit is not installed"),
        "{stderr}"
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logged.lines().count(), 1, "{logged}");
    assert!(
        logged.starts_with("testkit/tests/skip.rs:") || logged.contains("tests/skip.rs:"),
        "{logged}"
    );
    assert!(
        logged.contains("child_that_skips: no-such-tool"),
        "{logged}"
    );

    let out = child(true, &log);
    assert!(!out.status.success(), "{out:?}");
    let all =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        all.contains("TESTBED_REQUIRE_ALL=1: nothing may skip"),
        "{all}"
    );
    // A failure is not a skip: the log did not grow.
    assert_eq!(std::fs::read_to_string(&log).unwrap(), logged);
    std::fs::remove_dir_all(&dir).unwrap();
}
