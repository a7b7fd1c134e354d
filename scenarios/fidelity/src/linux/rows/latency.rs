//! Rows that need a path with delay and a rate: Nagle + delayed ACK at 20 ms RTT, and bulk
//! goodput at 10 Mbit/s and 40 ms RTT with 0 % or 1 % loss. The hosts are joined through
//! the impairment bridge (AF_XDP ports and the seeded link model).

use super::{lab_with, not_run, obs, secs, within, CONNECT, PORT};
use crate::linux::error::LabError;
use crate::linux::host::Serve;
use crate::linux::lab::Topology;
use crate::row::Obs;
use std::net::SocketAddr;
use std::sync::Arc;
use testbed_model::{Duration, Listener, Net, Runtime, Stream};
use testbed_stack::bridge::{BridgeConfig, Latency, LinkConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Seed of the bridge's decisions (loss, jitter).
const SEED: u64 = 16;
const PIECE: usize = 100;
const ROUNDS: usize = 20;

fn link(one_way_ms: u64, rate: Option<u64>, loss: f64) -> BridgeConfig {
    let cfg = LinkConfig {
        latency: Latency::ms(one_way_ms),
        loss,
        bandwidth: rate,
        // 100 ms of queue at the rate (or the default when unlimited).
        queue_bytes: rate.map_or(1 << 20, |r| r / 10),
        ..LinkConfig::default()
    };
    BridgeConfig::symmetric(cfg, SEED)
}

/// Answers every request of 2 × 100 bytes with 100 bytes.
fn request_server(addr: SocketAddr) -> Serve {
    Arc::new(move |w| {
        let l = w.listen(addr).map_err(|e| format!("listen {addr}: {e}"))?;
        let w2 = w.clone();
        Ok(Box::pin(async move {
            while let Ok((mut s, _)) = l.accept().await {
                w2.spawn(async move {
                    let mut req = [0u8; 2 * PIECE];
                    while s.read_exact(&mut req).await.is_ok() {
                        if s.write_all(&[7u8; PIECE]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        }))
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Row 11: 20 requests written as two 100-byte writes, and 20 written as one 200-byte write
/// (the baseline), at 20 ms RTT. Value: median(two writes) − median(one write), in ms.
pub(crate) fn nagle(pair: u8, nodelay: bool) -> Result<Obs, LabError> {
    let lab = lab_with(pair, Topology::Bridged(link(10, None, 0.0)), None)?;
    let addr = lab.server_addr(PORT);
    lab.start_server(request_server(addr))?;
    let r = lab.run_client(CONNECT, move |w| async move {
        let mut s = w.connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        s.set_nodelay(nodelay).map_err(|e| format!("TCP_NODELAY: {e}"))?;
        let (mut split, mut whole) = (Vec::new(), Vec::new());
        let mut resp = [0u8; PIECE];
        for _ in 0..ROUNDS {
            for two in [true, false] {
                let t0 = w.now();
                let io = async {
                    if two {
                        s.write_all(&[1u8; PIECE]).await?;
                        s.write_all(&[2u8; PIECE]).await?;
                    } else {
                        s.write_all(&[3u8; 2 * PIECE]).await?;
                    }
                    s.read_exact(&mut resp).await.map(|_| ())
                };
                within(&w, Duration::from_secs(10), io)
                    .await?
                    .map_err(|e| format!("request: {e}"))?;
                let ms = secs(w.now().saturating_duration_since(t0)) * 1e3;
                if two { split.push(ms) } else { whole.push(ms) }
            }
        }
        let (ms_split, ms_whole) = (median(&mut split), median(&mut whole));
        Ok::<_, String>(obs(
            ms_split - ms_whole,
            "ok",
            format!(
                "TCP_NODELAY {}: write-write-read median {ms_split:.1} ms, one write {ms_whole:.1} ms ({ROUNDS} rounds each, RTT 20 ms); max write-write-read {:.1} ms",
                if nodelay { "on" } else { "off" },
                split.last().copied().unwrap_or(f64::NAN)
            ),
        ))
    })?;
    Ok(r.unwrap_or_else(not_run))
}

const BULK: usize = 3 << 20;

/// Counts bytes until EOF, then answers with the count (8 bytes, little endian).
fn sink_server(addr: SocketAddr) -> Serve {
    Arc::new(move |w| {
        let l = w.listen(addr).map_err(|e| format!("listen {addr}: {e}"))?;
        let w2 = w.clone();
        Ok(Box::pin(async move {
            while let Ok((mut s, _)) = l.accept().await {
                w2.spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut n = 0u64;
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) => break,
                            Ok(k) => n += k as u64,
                            Err(_) => return,
                        }
                    }
                    let _ = s.write_all(&n.to_le_bytes()).await;
                });
            }
        }))
    })
}

/// Row 12: 3 MiB to a sink at 10 Mbit/s, 40 ms RTT, `loss` each way. Value: goodput in
/// Mbit/s from the first write to the sink's answer.
pub(crate) fn bulk(pair: u8, loss: f64) -> Result<Obs, LabError> {
    let lab = lab_with(pair, Topology::Bridged(link(20, Some(1_250_000), loss)), None)?;
    let addr = lab.server_addr(PORT);
    lab.start_server(sink_server(addr))?;
    let r = lab.run_client(CONNECT, move |w| async move {
        let mut s = w.connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        let chunk = vec![0x5au8; 64 * 1024];
        let t0 = w.now();
        let io = async {
            let mut sent = 0;
            while sent < BULK {
                let n = chunk.len().min(BULK - sent);
                s.write_all(&chunk[..n]).await?;
                sent += n;
            }
            s.shutdown().await?;
            let mut ack = [0u8; 8];
            s.read_exact(&mut ack).await?;
            Ok::<u64, std::io::Error>(u64::from_le_bytes(ack))
        };
        let got = within(&w, Duration::from_secs(90), io)
            .await?
            .map_err(|e| format!("transfer: {e}"))?;
        let t = secs(w.now().saturating_duration_since(t0));
        let mbit = got as f64 * 8.0 / t / 1e6;
        Ok::<_, String>(obs(
            mbit,
            "ok",
            format!(
                "{got} bytes in {t:.2} s over 10 Mbit/s, RTT 40 ms, loss {}% each way: {mbit:.2} Mbit/s",
                loss * 100.0
            ),
        ))
    })?;
    let stats = lab.bridge_stats();
    Ok(match (r, stats) {
        (Ok(mut o), Some(Ok(st))) => {
            o.detail.push_str(&format!("; bridge a→b {:?}", st.a_to_b));
            o
        }
        (Ok(o), _) => o,
        (Err(e), _) => not_run(e),
    })
}
