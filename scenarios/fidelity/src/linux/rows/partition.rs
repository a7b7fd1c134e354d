//! Rows on an established connection whose path goes dark: recovery after a partition heals
//! (RTO backoff), TCP_USER_TIMEOUT with a pending write, keepalive against a silent peer.
//! The knobs are set with setsockopt on the kernel stream (socket2), which the model's
//! `Stream` does not expose.

use super::{
    echo_server, err_name, lab_with, not_run, obs, roundtrip, secs, within, CONNECT, PORT,
};
use crate::linux::error::LabError;
use crate::linux::lab::Topology;
use crate::row::Obs;
use crate::workload::Faults;
use socket2::{SockRef, TcpKeepalive};
use testbed_model::{Duration, Net, Runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Rows 1/2: echo, partition both ways, write during the partition, heal after `part`:
/// seconds from the heal to the echo of that write.
pub(crate) fn heal(pair: u8, part: Duration) -> Result<Obs, LabError> {
    let lab = lab_with(pair, Topology::Direct, None)?;
    let addr = lab.server_addr(PORT);
    lab.start_server(echo_server(addr))?;
    let lab_ref = &lab;
    let r = lab.run_client(CONNECT, move |w| async move {
        let mut s = w.connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        roundtrip(&mut s, b"before").await.map_err(|e| format!("echo: {e}"))?;
        lab_ref.partition();
        s.write_all(b"during").await.map_err(|e| format!("write: {e}"))?;
        w.sleep(part).await;
        lab_ref.heal();
        let healed = w.now();
        let mut got = [0u8; 6];
        within(&w, Duration::from_secs(120), s.read_exact(&mut got))
            .await?
            .map_err(|e| format!("read after heal: {}", err_name(&e)))?;
        let d = w.now().saturating_duration_since(healed);
        Ok::<_, String>(obs(
            secs(d),
            "ok",
            format!(
                "partition {} s, write sent at its start; answer {:.2} s after the heal",
                part.as_secs(),
                secs(d)
            ),
        ))
    })?;
    lab.check_faults()?;
    Ok(r.unwrap_or_else(not_run))
}

/// Row 3: TCP_USER_TIMEOUT = 5 s, partition, one pending write: seconds from the write to
/// the error a read returns, and its kind.
pub(crate) fn user_timeout(pair: u8) -> Result<Obs, LabError> {
    let lab = lab_with(pair, Topology::Direct, None)?;
    let addr = lab.server_addr(PORT);
    lab.start_server(echo_server(addr))?;
    let lab_ref = &lab;
    let r = lab.run_client(CONNECT, move |w| async move {
        let mut s = w.connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        SockRef::from(s.tcp())
            .set_tcp_user_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| format!("TCP_USER_TIMEOUT: {e}"))?;
        roundtrip(&mut s, b"before").await.map_err(|e| format!("echo: {e}"))?;
        lab_ref.partition();
        let t0 = w.now();
        s.write_all(b"pending").await.map_err(|e| format!("write: {e}"))?;
        let mut b = [0u8; 16];
        let res = within(&w, Duration::from_secs(60), s.read(&mut b)).await?;
        let d = w.now().saturating_duration_since(t0);
        let outcome = match res {
            Ok(0) => "EOF".to_string(),
            Ok(_) => "data".to_string(),
            Err(e) => err_name(&e),
        };
        Ok::<_, String>(obs(
            secs(d),
            &outcome,
            format!("user timeout 5 s: read returned {outcome} {:.2} s after the write", secs(d)),
        ))
    })?;
    lab.check_faults()?;
    Ok(r.unwrap_or_else(not_run))
}

/// Row 13: keepalive idle 1 s, interval 1 s, 3 probes; the peer goes silent (partition both
/// ways) right after an echo: seconds from then to the read's error, and its kind.
pub(crate) fn keepalive(pair: u8) -> Result<Obs, LabError> {
    let lab = lab_with(pair, Topology::Direct, None)?;
    let addr = lab.server_addr(PORT);
    lab.start_server(echo_server(addr))?;
    let lab_ref = &lab;
    let r = lab.run_client(CONNECT, move |w| async move {
        let mut s = w.connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        let ka = TcpKeepalive::new()
            .with_time(Duration::from_secs(1))
            .with_interval(Duration::from_secs(1))
            .with_retries(3);
        SockRef::from(s.tcp())
            .set_tcp_keepalive(&ka)
            .map_err(|e| format!("keepalive: {e}"))?;
        roundtrip(&mut s, b"before").await.map_err(|e| format!("echo: {e}"))?;
        lab_ref.partition();
        let t0 = w.now();
        let mut b = [0u8; 16];
        let res = within(&w, Duration::from_secs(60), s.read(&mut b)).await?;
        let d = w.now().saturating_duration_since(t0);
        let outcome = match res {
            Ok(0) => "EOF".to_string(),
            Ok(_) => "data".to_string(),
            Err(e) => err_name(&e),
        };
        Ok::<_, String>(obs(
            secs(d),
            &outcome,
            format!("keepalive 1/1/3: idle read returned {outcome} {:.2} s after the peer went silent", secs(d)),
        ))
    })?;
    lab.check_faults()?;
    Ok(r.unwrap_or_else(not_run))
}
