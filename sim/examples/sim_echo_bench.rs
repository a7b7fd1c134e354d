//! The sim-echo benchmark workload (ours): 2 hosts, 16-byte request echoed over TCP with 1 ms
//! one-way latency. Case A: 1 client × 100,000 round trips; case B: 100 clients × 1,000.
//! Prints one JSON line: {"impl":"ours","case":..,"round_trips":..,"wall_s":..,"rt_s":..}.
//! `--fidelity packet` runs the same workload over smoltcp TCP per host (impl "ours-packet").
//! Driven by scripts/bench-sim-echo, which runs turmoil and madsim on the same workload.
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time

use std::time::Instant as WallInstant;
use testbed_model::{Listener, Net, Runtime};
use testbed_sim::{Fidelity, Latency, LinkConfig, Sim, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn run(clients: usize, round_trips: usize, fidelity: Fidelity) -> (f64, u64) {
    let cfg = SimConfig {
        seed: 1,
        fidelity,
        default_link: LinkConfig {
            latency: Latency::ms(1),
            ..LinkConfig::default()
        },
        ..SimConfig::default()
    };
    let start = WallInstant::now(); // allow-nondeterminism: a benchmark measures wall time
    let mut sim = Sim::new(cfg);
    sim.host("server", |h| async move {
        let l = h.listen("0.0.0.0:7000".parse().unwrap()).unwrap();
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            h.spawn(async move {
                let mut buf = [0u8; 16];
                loop {
                    if s.read_exact(&mut buf).await.is_err() {
                        break;
                    }
                    s.write_all(&buf).await.unwrap();
                }
            });
        }
    });
    sim.client("client", move |h| async move {
        let server = h.lookup("server").unwrap();
        let mut joins = Vec::new();
        for c in 0..clients {
            let hc = h.clone();
            joins.push(h.spawn(async move {
                let mut s = hc.connect((server, 7000).into()).await.unwrap();
                let msg = [c as u8; 16];
                let mut buf = [0u8; 16];
                for _ in 0..round_trips {
                    s.write_all(&msg).await.unwrap();
                    s.read_exact(&mut buf).await.unwrap();
                    assert_eq!(buf, msg);
                }
            }));
        }
        for j in joins {
            j.await?;
        }
        Ok(())
    });
    let report = sim.run().expect("bench run");
    (start.elapsed().as_secs_f64(), report.end_time.as_nanos())
}

fn main() {
    let case = std::env::args()
        .skip_while(|a| a != "--case")
        .nth(1)
        .unwrap_or_else(|| "A".into());
    let (clients, rts) = match case.as_str() {
        "A" => (1, 100_000),
        "B" => (100, 1_000),
        other => panic!("unknown case {other}; use A or B"),
    };
    let packet = std::env::args().any(|a| a == "packet");
    let (fidelity, name) = if packet {
        (Fidelity::Packet, "ours-packet")
    } else {
        (Fidelity::Stream, "ours")
    };
    let (wall, sim_ns) = run(clients, rts, fidelity);
    let total = clients * rts;
    eprintln!(
        "case {case}: sim time {:.3} s (expected ≈ {:.3} s)",
        sim_ns as f64 / 1e9,
        (rts as f64 * 2e-3) + 2e-3
    );
    println!(
        "{{\"impl\":\"{name}\",\"case\":\"{case}\",\"round_trips\":{total},\"wall_s\":{wall:.6},\"rt_s\":{:.0}}}",
        total as f64 / wall
    );
}
