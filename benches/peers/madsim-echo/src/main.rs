//! The sim-echo workload on madsim: 2 nodes, a 16-byte request echoed over TCP, 1 ms one-way
//! latency. `--case A`: 1 client × 100,000 round trips; `--case B`: 100 clients × 1,000.
//! Prints {"impl":"madsim","case":..,"round_trips":..,"wall_s":..,"rt_s":..}.
#[cfg(not(madsim))]
compile_error!("build with RUSTFLAGS=\"--cfg madsim\" so madsim's simulator is used");

use madsim::net::{TcpListener, TcpStream};
use madsim::runtime::Runtime;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    let case = std::env::args().skip_while(|a| a != "--case").nth(1).unwrap_or_else(|| "A".into());
    let (clients, rts): (u64, u64) = match case.as_str() {
        "A" => (1, 100_000),
        "B" => (100, 1_000),
        other => panic!("unknown case {other}"),
    };
    let wall0 = std::time::Instant::now();
    let mut cfg = madsim::Config::default();
    // madsim draws latency from a half-open range; this makes it 1 ms (+ at most 1 ns).
    cfg.net.send_latency = Duration::from_millis(1)..Duration::from_millis(1) + Duration::from_nanos(1);
    let rt = Runtime::with_seed_and_config(1, cfg);
    let server = rt.create_node().name("server").ip("10.0.0.1".parse().unwrap()).build();
    let client = rt.create_node().name("client").ip("10.0.0.2".parse().unwrap()).build();
    let _server_task = server.spawn(async {
        let l = TcpListener::bind("10.0.0.1:7000").await.unwrap();
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            madsim::task::spawn(async move {
                let mut buf = [0u8; 16];
                while s.read_exact(&mut buf).await.is_ok() {
                    // madsim's TcpStream buffers writes until flush.
                    if s.write_all(&buf).await.is_err() || s.flush().await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let sim_elapsed = rt.block_on(client.spawn(async move {
        madsim::time::sleep(Duration::from_millis(10)).await; // let the server bind
        let t0 = madsim::time::Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                madsim::task::spawn(async move {
                    let mut s = TcpStream::connect("10.0.0.1:7000").await.unwrap();
                    let msg = [c as u8; 16];
                    let mut buf = [0u8; 16];
                    for _ in 0..rts {
                        s.write_all(&msg).await.unwrap();
                        s.flush().await.unwrap();
                        s.read_exact(&mut buf).await.unwrap();
                        assert_eq!(buf, msg);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        t0.elapsed()
    }))
    .unwrap();
    let wall = wall0.elapsed().as_secs_f64();
    let total = clients * rts;
    eprintln!("madsim case {case}: sim time {:.3} s (expected ≈ {:.3} s)", sim_elapsed.as_secs_f64(), rts as f64 * 2e-3);
    println!("{{\"impl\":\"madsim\",\"case\":\"{case}\",\"round_trips\":{total},\"wall_s\":{wall:.6},\"rt_s\":{:.0}}}", total as f64 / wall);
}
