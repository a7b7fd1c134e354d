//! Tasks and run outcomes: abort, cancellation by crash, deadlock detection, client errors,
//! panics, the seed helper.

mod common;

use common::*;
use testbed_model::{Duration, JoinError, Runtime};
use testbed_sim::{check_seeds, LinkConfig, SimError};

#[test]
fn abort_and_crash_end_tasks_with_typed_errors() {
    let mut sim = sim(1, LinkConfig::default());
    sim.host("victim", |h| async move {
        h.sleep(Duration::from_secs(3600)).await;
    });
    sim.client("c", |h| async move {
        let h2 = h.clone();
        let t = h.spawn(async move { h2.sleep(Duration::from_secs(60)).await });
        t.abort();
        assert_eq!(t.await, Err(JoinError::Aborted));
        let v = h.other("victim").unwrap();
        let v2 = v.clone();
        let t = v.spawn(async move { v2.sleep(Duration::from_secs(60)).await });
        h.control().crash("victim");
        assert_eq!(t.await, Err(JoinError::Cancelled));
        assert_eq!(h.spawn(async { 5 }).await, Ok(5));
        Ok(())
    });
    sim.run().unwrap();
    assert_eq!(sim.task_count(), 0, "crashed host's tasks are gone");
}

#[test]
fn a_client_waiting_on_nothing_is_a_deadlock_not_a_hang() {
    let mut sim = sim(2, LinkConfig::default());
    sim.client("stuck", |_h| async move {
        std::future::pending::<()>().await;
        Ok(())
    });
    match sim.run() {
        Err(SimError::Deadlock { pending, seed, .. }) => {
            assert_eq!(pending, vec!["stuck".to_string()]);
            assert_eq!(seed, 2);
        }
        other => panic!("expected a deadlock, got {other:?}"),
    }
}

#[test]
fn a_client_error_names_the_seed_and_replay() {
    let mut sim = sim(42, LinkConfig::default());
    sim.client("c", |h| async move {
        h.sleep(Duration::from_millis(5)).await;
        Err("boom".into())
    });
    let e = sim.run().unwrap_err();
    assert!(
        matches!(&e, SimError::Client { host, message, .. } if host == "c" && message == "boom"),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("seed 42") && text.contains("replay"),
        "{text}"
    );
}

#[test]
fn the_time_limit_stops_a_run_that_never_ends() {
    let mut sim = testbed_sim::Sim::new(testbed_sim::SimConfig {
        seed: 3,
        time_limit: Duration::from_secs(5),
        ..Default::default()
    });
    sim.client("slow", |h| async move {
        loop {
            h.sleep(Duration::from_secs(1)).await;
        }
    });
    assert!(matches!(sim.run(), Err(SimError::TimeLimit { .. })));
}

#[test]
fn a_panicking_task_fails_the_run() {
    let r = std::panic::catch_unwind(|| {
        let mut sim = sim(4, LinkConfig::default());
        sim.client("c", |_h| async move { panic!("bug in user code") });
        let _ = sim.run();
    });
    assert!(r.is_err());
}

#[test]
fn check_seeds_reports_the_failing_seed() {
    let r = std::panic::catch_unwind(|| {
        check_seeds(|seed| if seed == 3 { Err("planted") } else { Ok(()) })
    });
    let msg = r.unwrap_err().downcast::<String>().unwrap();
    assert!(
        msg.contains("seed 3") && msg.contains("planted") && msg.contains("TESTBED_SEED=3"),
        "{msg}"
    );
}

#[test]
fn handles_are_send_and_sync_as_quinn_requires() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<testbed_sim::Host>();
    send_sync::<testbed_sim::Control>();
    send_sync::<testbed_sim::Sleep>();
    send_sync::<testbed_sim::SimStream>();
    send_sync::<testbed_sim::SimListener>();
    send_sync::<testbed_sim::SimDatagram>();
}
