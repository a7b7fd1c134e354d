//! Rows about the peer going away: its process exits (with or without unread data), it
//! closes before we write, its host crashes and comes back.

use super::{echo_server, err_name, lab_with, not_run, obs, read_outcome, roundtrip, secs, within, CONNECT, PORT};
use crate::linux::error::LabError;
use crate::linux::host::Serve;
use crate::linux::lab::Topology;
use crate::row::Obs;
use crate::workload::Faults;
use std::net::SocketAddr;
use std::sync::Arc;
use testbed_model::{Duration, Listener, Net, Runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server that accepts one stream, reads `read` bytes of it, then holds it open.
fn holding_server(addr: SocketAddr, read: usize) -> Serve {
    Arc::new(move |w| {
        let l = w.listen(addr).map_err(|e| format!("listen {addr}: {e}"))?;
        let w2 = w.clone();
        Ok(Box::pin(async move {
            if let Ok((mut s, _)) = l.accept().await {
                let mut b = vec![0u8; read];
                let _ = s.read_exact(&mut b).await;
                loop {
                    w2.sleep(Duration::from_secs(3600)).await;
                }
            }
        }))
    })
}

/// Row 6: the client sends 4 bytes; the server reads them (`unread` false) or not, then its
/// process exits. Value: ms from the exit to what the client's read returns.
pub(crate) fn peer_exit(pair: u8, unread: bool) -> Result<Obs, LabError> {
    let lab = lab_with(pair, Topology::Direct, None)?;
    let addr = lab.server_addr(PORT);
    lab.start_server(holding_server(addr, if unread { 0 } else { 4 }))?;
    let lab_ref = &lab;
    let r = lab.run_client(CONNECT, move |w| async move {
        let mut s = w.connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        s.write_all(b"data").await.map_err(|e| format!("write: {e}"))?;
        w.sleep(Duration::from_millis(200)).await;
        lab_ref.stop_server();
        let t0 = w.now();
        let outcome = within(&w, Duration::from_secs(30), read_outcome(&mut s)).await?;
        let ms = secs(w.now().saturating_duration_since(t0)) * 1e3;
        Ok::<_, String>(obs(
            ms,
            &outcome,
            format!(
                "peer exited with {} unread bytes; read returned {outcome} after {ms:.2} ms",
                if unread { 4 } else { 0 }
            ),
        ))
    })?;
    Ok(r.unwrap_or_else(not_run))
}

/// A server that accepts and closes at once (nothing unread: it sends FIN).
fn closing_server(addr: SocketAddr) -> Serve {
    Arc::new(move |w| {
        let l = w.listen(addr).map_err(|e| format!("listen {addr}: {e}"))?;
        Ok(Box::pin(async move {
            while let Ok((s, _)) = l.accept().await {
                drop(s);
            }
        }))
    })
}

/// Row 8: the peer closed; the client waits 200 ms, writes, waits 200 ms, writes again.
/// Value: writes that succeeded before the first error; outcome: that error.
pub(crate) fn write_after_close(pair: u8) -> Result<Obs, LabError> {
    let lab = lab_with(pair, Topology::Direct, None)?;
    let addr = lab.server_addr(PORT);
    lab.start_server(closing_server(addr))?;
    let r = lab.run_client(CONNECT, move |w| async move {
        let mut s = w.connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        let mut results = Vec::new();
        let mut ok = 0u32;
        let mut first_err = None;
        for _ in 0..3 {
            w.sleep(Duration::from_millis(200)).await;
            match s.write(b"x").await {
                Ok(n) => {
                    results.push(format!("ok({n})"));
                    if first_err.is_none() {
                        ok += 1;
                    }
                }
                Err(e) => {
                    let name = err_name(&e);
                    results.push(name.clone());
                    first_err.get_or_insert(name);
                }
            }
        }
        let outcome = first_err.unwrap_or_else(|| "ok".into());
        Ok::<_, String>(obs(
            ok.into(),
            &outcome,
            format!("writes 200 ms apart after the peer closed: {}", results.join(", ")),
        ))
    })?;
    Ok(r.unwrap_or_else(not_run))
}

/// Row 7: echo, the server host crashes (state destroyed) and restarts 1 s later with the
/// same address; the client then writes and reads. Value: seconds from that write to the
/// error; outcome: its kind.
pub(crate) fn crash_restart(pair: u8) -> Result<Obs, LabError> {
    let lab = lab_with(pair, Topology::Direct, None)?;
    let addr = lab.server_addr(PORT);
    lab.start_server(echo_server(addr))?;
    let lab_ref = &lab;
    let r = lab.run_client(CONNECT, move |w| async move {
        let mut s = w.connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        roundtrip(&mut s, b"before").await.map_err(|e| format!("echo: {e}"))?;
        lab_ref.crash_server();
        w.sleep(Duration::from_secs(1)).await;
        lab_ref.restart_server();
        let t0 = w.now();
        let first = match s.write(b"after").await {
            Ok(n) => format!("ok({n})"),
            Err(e) => err_name(&e),
        };
        let outcome = if first.starts_with("ok") {
            within(&w, Duration::from_secs(60), read_outcome(&mut s)).await?
        } else {
            first.clone()
        };
        let d = secs(w.now().saturating_duration_since(t0));
        Ok::<_, String>(obs(
            d,
            &outcome,
            format!("after the restart: write {first}, then read {outcome}, {:.2} ms after the write", d * 1e3),
        ))
    })?;
    lab.check_faults()?;
    Ok(r.unwrap_or_else(not_run))
}
