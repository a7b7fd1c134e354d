//! Rows about the handshake: SYNs to a partitioned address, a closed port, and a small
//! listen backlog under a burst of clients. The backlog server is Linux-specific (the
//! kernel backend listens with a fixed backlog of 1024; here it must be 8), the SYN times
//! come from an nft counter of the SYNs the client sends, sampled while connect waits.

use super::{lab_with, not_run, obs, secs, PORT};
use crate::linux::error::LabError;
use crate::linux::host::Serve;
use crate::linux::lab::Topology;
use crate::row::Obs;
use crate::workload::Faults;
use std::net::SocketAddr;
use std::sync::Arc;
use testbed_model::{Duration, Net, Runtime};

/// Row 4: the server's address is partitioned; connect with a 20 s timeout. Value: SYNs
/// the client sent before the timeout; detail: when each left, and the error.
pub(crate) fn syn_retries(pair: u8) -> Result<Obs, LabError> {
    let lab = lab_with(pair, Topology::Direct, None)?;
    let addr = lab.server_addr(PORT);
    lab.partition();
    let lab_ref = &lab;
    let r = lab.run_client(Duration::from_secs(20), move |w| async move {
        let t0 = w.now();
        let w2 = w.clone();
        let conn = w.spawn(async move { w2.connect(addr).await.map(|_| ()) });
        let (mut seen, mut times) = (0u64, Vec::new());
        while !conn.is_finished() {
            // Blocks this worker a few ms per sample; connect is driven by the kernel.
            if let Ok(n) = lab_ref.client_syns() {
                if n > seen {
                    let at = secs(w.now().saturating_duration_since(t0));
                    times.extend(std::iter::repeat_n(at, (n - seen) as usize));
                    seen = n;
                }
            }
            w.sleep(Duration::from_millis(25)).await;
        }
        let ended = secs(w.now().saturating_duration_since(t0));
        let res = conn.await.map_err(|e| format!("connect task: {e}"))?;
        let outcome = match res {
            Ok(()) => "ok".to_string(),
            Err(e) => super::kind_name(e.kind()),
        };
        let list: Vec<String> = times.iter().map(|t| format!("{t:.1}")).collect();
        Ok::<_, String>(obs(
            times.len() as f64,
            &outcome,
            format!(
                "SYNs at [{}] s (25 ms sampling); connect ended {outcome} after {ended:.1} s (20 s connect timeout)",
                list.join(", ")
            ),
        ))
    })?;
    lab.check_faults()?;
    Ok(r.unwrap_or_else(not_run))
}

/// Row 5: connect to a port nobody listens on: milliseconds to the error, and its kind.
pub(crate) fn closed_port(pair: u8) -> Result<Obs, LabError> {
    let lab = lab_with(pair, Topology::Direct, None)?;
    let addr = lab.server_addr(PORT + 1);
    let r = lab.run_client(super::CONNECT, move |w| async move {
        let t0 = w.now();
        let res = w.connect(addr).await;
        let ms = secs(w.now().saturating_duration_since(t0)) * 1e3;
        let outcome = match res {
            Ok(_) => "ok".to_string(),
            Err(e) => super::kind_name(e.kind()),
        };
        obs(ms, &outcome, format!("connect to a closed port: {outcome} after {ms:.2} ms"))
    })?;
    Ok(r)
}

/// A server whose listener has a backlog of 8, accepting in a loop and keeping every stream.
fn backlog_server(addr: SocketAddr) -> Serve {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    Arc::new(move |_w| {
        let bind = || -> std::io::Result<tokio::net::TcpListener> {
            let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
            s.set_reuse_address(true)?;
            s.set_nonblocking(true)?;
            s.bind(&SockAddr::from(addr))?;
            s.listen(8)?;
            tokio::net::TcpListener::from_std(s.into())
        };
        let l = bind().map_err(|e| format!("listen {addr} backlog 8: {e}"))?;
        Ok(Box::pin(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                if held.len() < 1024 {
                    held.push(s);
                }
            }
        }))
    })
}

/// Row 9: 64 clients connect at once to a listener with backlog 8. Value: how many
/// connected; detail: the distribution of connect times.
pub(crate) fn backlog(pair: u8) -> Result<Obs, LabError> {
    const CLIENTS: usize = 64;
    let lab = lab_with(pair, Topology::Direct, None)?;
    let addr = lab.server_addr(PORT);
    lab.start_server(backlog_server(addr))?;
    let r = lab.run_client(Duration::from_secs(20), move |w| async move {
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let w2 = w.clone();
                w.spawn(async move {
                    let t0 = w2.now();
                    let r = w2.connect(addr).await;
                    let ms = secs(w2.now().saturating_duration_since(t0)) * 1e3;
                    // Keep the stream open until every client is done.
                    (ms, r.map_err(|e| super::kind_name(e.kind())))
                })
            })
            .collect();
        let mut times = Vec::new();
        let mut errors = Vec::new();
        let mut streams = Vec::new();
        for t in tasks {
            match t.await {
                Ok((ms, Ok(s))) => {
                    times.push(ms);
                    streams.push(s);
                }
                Ok((_, Err(e))) => errors.push(e),
                Err(e) => errors.push(e.to_string()),
            }
        }
        times.sort_by(f64::total_cmp);
        let pct = |p: f64| -> f64 {
            if times.is_empty() {
                return f64::NAN;
            }
            times[((times.len() - 1) as f64 * p).round() as usize]
        };
        let slow = times.iter().filter(|&&t| t > 500.0).count();
        let outcome = if errors.is_empty() { "ok".to_string() } else { errors[0].clone() };
        obs(
            times.len() as f64,
            &outcome,
            format!(
                "{}/{CLIENTS} connected; connect ms p50 {:.1} p90 {:.1} max {:.1}; {slow} took > 500 ms (a SYN or ACK retried); errors {:?}",
                times.len(),
                pct(0.5),
                pct(0.9),
                pct(1.0),
                errors
            ),
        )
    })?;
    Ok(r)
}
