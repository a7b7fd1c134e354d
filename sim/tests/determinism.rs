//! Same seed ⇒ same trace; different seeds ⇒ different traces when randomness is in play.

mod common;

use common::*;
use proptest::prelude::*;
use testbed_model::{DatagramSocket, Duration, Net, Rng, Runtime};
use testbed_sim::{check_determinism, Latency, LinkConfig, Report, Sim, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn noisy_link() -> LinkConfig {
    LinkConfig {
        latency: Latency::Uniform {
            min: Duration::from_micros(500),
            max: Duration::from_millis(3),
        },
        jitter: Duration::from_micros(200),
        loss: 0.05,
        duplicate: 0.05,
        reorder: 0.1,
        ..LinkConfig::default()
    }
}

/// Three clients doing echo round trips and datagrams over a noisy network.
fn workload(seed: u64, record: bool) -> Report {
    let mut sim = Sim::new(SimConfig {
        seed,
        default_link: noisy_link(),
        record_trace: record,
        ..SimConfig::default()
    });
    echo_server(&mut sim, "server");
    for c in 0..3 {
        sim.client(&format!("c{c}"), move |h| async move {
            let server = addr(&h, "server", 7);
            let mut s = h.connect(server).await?;
            let mut rng = h.rng();
            for i in 0..20u64 {
                let msg = pattern(seed ^ i, 1 + rng.below(3000) as usize);
                s.write_all(&msg).await?;
                let mut back = vec![0u8; msg.len()];
                s.read_exact(&mut back).await?;
                assert_eq!(back, msg);
                h.sleep(Duration::from_micros(rng.below(1000))).await;
            }
            let u = h.bind_datagram("0.0.0.0:0".parse().unwrap())?;
            for _ in 0..10 {
                u.send_to(b"x", addr(&h, "server", 9)).await?;
            }
            Ok(())
        });
    }
    sim.run().expect("workload runs")
}

proptest! {
    #![proptest_config(cases(16))]

    #[test]
    fn same_seed_same_trace(seed: u64) {
        let (a, b) = (workload(seed, false), workload(seed, false));
        prop_assert_eq!(a.trace_hash, b.trace_hash);
        prop_assert_eq!(a.trace_events, b.trace_events);
        prop_assert_eq!(a.end_time, b.end_time);
    }

    #[test]
    fn different_seeds_different_traces(seed in 0u64..u64::MAX - 1) {
        let (a, b) = (workload(seed, false), workload(seed + 1, false));
        prop_assert_ne!(a.trace_hash, b.trace_hash);
    }
}

#[test]
fn check_determinism_compares_events() {
    let hash = check_determinism(11, |s| workload(s, true)).expect("deterministic");
    assert_eq!(
        hash,
        workload(11, false).trace_hash,
        "recording does not change the run"
    );
    let events = workload(11, true).events.unwrap();
    assert!(
        events.len() > 100,
        "the trace records the run ({} events)",
        events.len()
    );
}

#[test]
fn check_determinism_reports_a_divergence() {
    // A "scenario" that leaks outside state into the run: the second run differs.
    let mut calls = 0u64;
    let err = check_determinism(3, |s| {
        calls += 1;
        workload(s + calls, true)
    })
    .unwrap_err();
    assert_eq!(err.seed, 3);
    assert!(err.to_string().contains("diverge"), "{err}");
}
