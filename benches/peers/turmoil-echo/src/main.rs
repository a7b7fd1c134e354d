//! The sim-echo workload on turmoil: 2 hosts, a 16-byte request echoed over TCP, 1 ms one-way
//! latency. `--case A`: 1 client × 100,000 round trips; `--case B`: 100 clients × 1,000.
//! Prints {"impl":"turmoil","case":..,"round_trips":..,"wall_s":..,"rt_s":..}.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::{TcpListener, TcpStream};

fn main() {
    let case = std::env::args().skip_while(|a| a != "--case").nth(1).unwrap_or_else(|| "A".into());
    let (clients, rts): (u64, u64) = match case.as_str() {
        "A" => (1, 100_000),
        "B" => (100, 1_000),
        other => panic!("unknown case {other}"),
    };
    let wall0 = std::time::Instant::now();
    let mut sim = turmoil::Builder::new()
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(1))
        .tick_duration(Duration::from_millis(1))
        .simulation_duration(Duration::from_secs(rts * 3 / 1000 + 60))
        .tcp_capacity(1 << 16)
        .rng_seed(1)
        .build();
    sim.host("server", || async {
        let l = TcpListener::bind("0.0.0.0:7000").await?;
        loop {
            let (mut s, _) = l.accept().await?;
            tokio::spawn(async move {
                let mut buf = [0u8; 16];
                while s.read_exact(&mut buf).await.is_ok() {
                    if s.write_all(&buf).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    sim.client("client", async move {
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                tokio::spawn(async move {
                    let mut s = TcpStream::connect("server:7000").await.unwrap();
                    let msg = [c as u8; 16];
                    let mut buf = [0u8; 16];
                    for _ in 0..rts {
                        s.write_all(&msg).await.unwrap();
                        s.read_exact(&mut buf).await.unwrap();
                        assert_eq!(buf, msg);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        Ok(())
    });
    sim.run().unwrap();
    let sim_elapsed = sim.elapsed();
    let wall = wall0.elapsed().as_secs_f64();
    let total = clients * rts;
    eprintln!("turmoil case {case}: sim time {:.3} s (expected ≈ {:.3} s)", sim_elapsed.as_secs_f64(), rts as f64 * 2e-3);
    println!("{{\"impl\":\"turmoil\",\"case\":\"{case}\",\"round_trips\":{total},\"wall_s\":{wall:.6},\"rt_s\":{:.0}}}", total as f64 / wall);
}
