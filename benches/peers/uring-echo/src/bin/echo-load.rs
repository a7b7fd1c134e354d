//! The common load client: one tokio thread (pin it with taskset), `--conns` connections
//! each doing request/response round trips of `--size` bytes back to back (the echo loop of
//! the `echo` scenario: write the message, read it back whole, check it). After `--warmup`
//! seconds it counts round trips for `--secs` seconds and prints one JSON line (with the
//! round trips since the start too, warmup included), and each CPU's `/proc/stat` ticks at the
//! start and the end of the counted window (`cpu_ticks_before`, `cpu_ticks_after`: per CPU
//! user, nice, system, idle, iowait, irq, softirq, steal), so CPU use is measured over exactly
//! the window the round trips were counted in (connecting 1000 streams can take seconds).

#![allow(clippy::disallowed_methods)] // a load client reads the wall clock

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uring_echo::{addr, arg};

fn main() {
    let conns: usize = arg("--conns", 100);
    let size: usize = arg("--size", 64);
    let warmup: f64 = arg("--warmup", 1.0);
    let secs: f64 = arg("--secs", 10.0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let addr = addr();
        let count = Rc::new(Cell::new(0u64));
        let mut streams = Vec::with_capacity(conns);
        for _ in 0..conns {
            let mut tries = 0;
            let s = loop {
                match tokio::net::TcpStream::connect(addr).await {
                    Ok(s) => break s,
                    Err(e) if tries < 200 => {
                        tries += 1;
                        let _ = e;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => panic!("connect {addr}: {e}"),
                }
            };
            s.set_nodelay(true).expect("nodelay");
            streams.push(s);
        }
        for (id, mut s) in streams.into_iter().enumerate() {
            let count = count.clone();
            tokio::task::spawn_local(async move {
                let mut msg = vec![0u8; size];
                let mut back = vec![0u8; size];
                let mut i = 0u64;
                loop {
                    let tag = ((id as u64) << 32 | i).to_le_bytes();
                    for (j, b) in msg.iter_mut().enumerate() {
                        *b = tag[j % 8] ^ (j as u8);
                    }
                    if s.write_all(&msg).await.is_err() || s.read_exact(&mut back).await.is_err()
                    {
                        eprintln!("connection {id} failed");
                        std::process::exit(2);
                    }
                    assert_eq!(back, msg, "connection {id}: echo differs");
                    count.set(count.get() + 1);
                    i += 1;
                }
            });
        }
        tokio::time::sleep(Duration::from_secs_f64(warmup)).await;
        let (c0, ticks0) = (count.get(), cpu_ticks());
        let t0 = std::time::Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        let (c1, ticks1, dt) = (count.get(), cpu_ticks(), t0.elapsed().as_secs_f64());
        println!(
            "{{\"conns\":{conns},\"size\":{size},\"secs\":{dt:.3},\"round_trips\":{},\"total_round_trips\":{c1},\"rt_per_s\":{:.1},\"cpu_ticks_before\":{ticks0},\"cpu_ticks_after\":{ticks1}}}",
            c1 - c0,
            (c1 - c0) as f64 / dt
        );
        std::process::exit(0);
    });
}

/// Each CPU's first eight `/proc/stat` counters as a JSON object `{"0": [..], "1": [..]}`
/// (`{}` where /proc/stat cannot be read).
fn cpu_ticks() -> String {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpus: Vec<String> = stat
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let cpu = f.next()?.strip_prefix("cpu")?;
            if cpu.is_empty() || !cpu.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let t: Vec<u64> = f.take(8).filter_map(|x| x.parse().ok()).collect();
            (t.len() == 8).then(|| format!("\"{cpu}\":{t:?}"))
        })
        .collect();
    format!("{{{}}}", cpus.join(","))
}
