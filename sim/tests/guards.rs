//! What a user sees when a run goes wrong: one failure message from `check_seeds` with a
//! replay command naming this test target, the deadlock's exact times, the refusal to run
//! inside a tokio runtime, and golden trace hashes.

use testbed_model::{Duration, Instant, Runtime};
use testbed_sim::{assert_golden_hashes, check_seeds, Sim, SimConfig, SimError};

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>().cloned().unwrap_or_default()
}

#[test]
fn check_seeds_reports_once_with_a_replay_naming_the_target() {
    let p = std::panic::catch_unwind(|| {
        check_seeds(|seed| {
            let mut sim = Sim::new(SimConfig {
                seed,
                ..Default::default()
            });
            sim.client("c", |h| async move {
                h.sleep(Duration::from_millis(3)).await;
                Err("boom".into())
            });
            sim.run().map(|_| ())
        })
    })
    .expect_err("the check fails");
    let msg = panic_text(p);
    let test = "check_seeds_reports_once_with_a_replay_naming_the_target";
    assert!(
        msg.starts_with("seed 0 failed: client \"c\" failed at t=0.003000000s: boom\n"),
        "{msg}"
    );
    assert!(
        msg.ends_with(&format!("--test guards -- --exact {test}")),
        "{msg}"
    );
    assert_eq!(msg.matches("replay:").count(), 1, "{msg}");
    assert_eq!(msg.matches("seed 0").count(), 1, "{msg}");
}

#[test]
fn a_panicking_check_names_where_it_panicked() {
    let p = std::panic::catch_unwind(|| {
        check_seeds(|seed| -> Result<(), String> {
            assert!(seed > 0, "seed was {seed}");
            Ok(())
        })
    })
    .expect_err("seed 0 fails");
    let msg = panic_text(p);
    assert!(
        msg.starts_with("seed 0 failed: seed was 0\n  (panicked at sim/tests/guards.rs:"),
        "{msg}"
    );
}

#[test]
fn a_deadlock_says_when_the_clients_blocked_and_when_events_ran_out() {
    let mut sim = Sim::new(SimConfig {
        seed: 1,
        ..Default::default()
    });
    sim.host("ticker", |h| async move {
        h.sleep(Duration::from_secs(1)).await;
    });
    sim.client("stuck", |h| async move {
        h.sleep(Duration::from_millis(2)).await;
        std::future::pending::<()>().await;
        Ok(())
    });
    match sim.run() {
        Err(e @ SimError::Deadlock { .. }) => {
            let SimError::Deadlock {
                time,
                blocked_since,
                ..
            } = &e
            else {
                unreachable!()
            };
            assert_eq!(*blocked_since, Instant::from_millis(2));
            assert_eq!(*time, Instant::from_secs(1));
            assert!(
                e.to_string()
                    .starts_with("deadlock: clients [\"stuck\"] blocked at t=0.002000000s"),
                "{e}"
            );
        }
        other => panic!("expected a deadlock, got {other:?}"),
    }
}

#[test]
fn sim_run_refuses_to_run_inside_a_tokio_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let r = rt.block_on(async {
        let mut sim = Sim::new(SimConfig {
            seed: 3,
            ..Default::default()
        });
        sim.client("c", |h| async move {
            h.sleep(Duration::from_millis(1)).await;
            Ok(())
        });
        sim.run()
    });
    match r {
        Err(e @ SimError::InsideTokio { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("CurrentThread") && text.contains("h.sleep(d)"),
                "{text}"
            );
        }
        other => panic!("expected InsideTokio, got {other:?}"),
    }
}

/// One test (not several) because it sets `TESTBED_UPDATE_HASHES` for the process.
#[test]
fn golden_hashes_pin_rewrite_and_report_drift() {
    let dir = std::env::temp_dir().join(format!("testbed-golden-{}", std::process::id()));
    let file = dir.join("hashes.txt");
    let entries = vec![("seed-0".to_string(), 0xabcu64), ("seed-1".to_string(), 7)];
    // Nothing pinned yet: fails and says how to pin.
    let p =
        std::panic::catch_unwind(|| assert_golden_hashes(&file, &entries)).expect_err("unpinned");
    let msg = panic_text(p);
    assert!(
        msg.contains("seed-0: not pinned") && msg.contains("TESTBED_UPDATE_HASHES=1 cargo test"),
        "{msg}"
    );
    std::env::set_var("TESTBED_UPDATE_HASHES", "1");
    assert_golden_hashes(&file, &entries);
    std::env::remove_var("TESTBED_UPDATE_HASHES");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.ends_with("seed-0 0000000000000abc\nseed-1 0000000000000007\n"),
        "{text}"
    );
    assert_golden_hashes(&file, &entries);
    let drifted = vec![("seed-1".to_string(), 8u64)];
    let p = std::panic::catch_unwind(|| assert_golden_hashes(&file, &drifted)).expect_err("drift");
    let msg = panic_text(p);
    assert!(
        msg.contains("seed-1: pinned 0000000000000007, this run 0000000000000008"),
        "{msg}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
