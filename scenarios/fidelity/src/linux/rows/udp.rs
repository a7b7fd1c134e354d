//! UDP rows: loss on a 1 % link (an nft `numgen random` drop at the receiver), and a
//! datagram larger than the MTU.

use super::{err_name, lab_with, not_run, obs, PORT};
use crate::linux::error::LabError;
use crate::linux::host::Serve;
use crate::linux::lab::Topology;
use crate::row::Obs;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use testbed_model::{DatagramSocket, Duration, Net, Runtime};

const DATAGRAMS: u64 = 10_000;

/// Receives datagrams, counting them in `count` and keeping the largest size in `largest`.
fn counting_server(addr: SocketAddr, count: Arc<AtomicU64>, largest: Arc<AtomicU64>) -> Serve {
    Arc::new(move |w| {
        let sock = w
            .bind_datagram(addr)
            .map_err(|e| format!("bind {addr}: {e}"))?;
        let (count, largest) = (count.clone(), largest.clone());
        Ok(Box::pin(async move {
            let mut buf = vec![0u8; 65_536];
            while let Ok((n, _)) = sock.recv_from(&mut buf).await {
                count.fetch_add(1, Ordering::Relaxed);
                largest.fetch_max(n as u64, Ordering::Relaxed);
            }
        }))
    })
}

/// Row 14a: 10,000 datagrams of 100 bytes over a link that drops 1 % (paced, 10 per ms, so
/// the receiver's socket buffer does not overflow on a busy machine; overflows are counted
/// and reported). Value: the fraction not received.
pub(crate) fn loss(pair: u8) -> Result<Obs, LabError> {
    let lab = lab_with(pair, Topology::Direct, None)?;
    let addr = lab.server_addr(PORT);
    let (count, largest) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    lab.start_server(counting_server(addr, count.clone(), largest))?;
    lab.server_loss("udp", 1)?;
    let src = SocketAddr::new(lab.client_ip().into(), 0);
    let r = lab.run_client(super::CONNECT, move |w| async move {
        let sock = w.bind_datagram(src).map_err(|e| format!("bind: {e}"))?;
        let payload = [0u8; 100];
        let mut send_errors = 0u64;
        for i in 0..DATAGRAMS {
            if sock.send_to(&payload, addr).await.is_err() {
                send_errors += 1;
            }
            if i % 10 == 9 {
                w.sleep(Duration::from_millis(1)).await;
            }
        }
        w.sleep(Duration::from_millis(500)).await;
        Ok::<_, String>(send_errors)
    })?;
    let send_errors = match r {
        Ok(n) => n,
        Err(e) => return Ok(not_run(e)),
    };
    let got = count.load(Ordering::Relaxed);
    let dropped = lab.server_loss_dropped()?;
    let overflow = lab.server_udp_rcvbuf_errors()?;
    let frac = 1.0 - got as f64 / DATAGRAMS as f64;
    Ok(obs(
        frac,
        "ok",
        format!(
            "{got} of {DATAGRAMS} received ({:.2} % lost); the 1 % nft drop took {dropped}, receive-buffer overflows {overflow}; {send_errors} send errors",
            frac * 100.0
        ),
    ))
}

/// Row 14b: one 3000-byte datagram on a 1500-byte MTU path, then one of 65,508 bytes.
/// Value: the size of the largest datagram received (3000 when Linux fragments it);
/// outcome: "fragmented" or the send error.
pub(crate) fn oversize(pair: u8) -> Result<Obs, LabError> {
    let lab = lab_with(pair, Topology::Direct, None)?;
    let addr = lab.server_addr(PORT);
    let (count, largest) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    lab.start_server(counting_server(addr, count.clone(), largest.clone()))?;
    let src = SocketAddr::new(lab.client_ip().into(), 0);
    let r = lab.run_client(super::CONNECT, move |w| async move {
        let sock = w.bind_datagram(src).map_err(|e| format!("bind: {e}"))?;
        let big = match sock.send_to(&[1u8; 3000], addr).await {
            Ok(n) => format!("ok({n})"),
            Err(e) => err_name(&e),
        };
        // 65,508 bytes of payload exceed what one IPv4 datagram can carry (65,507).
        let huge = match sock.send_to(&vec![2u8; 65_508], addr).await {
            Ok(n) => format!("ok({n})"),
            Err(e) => err_name(&e),
        };
        w.sleep(Duration::from_millis(300)).await;
        Ok::<_, String>((big, huge))
    })?;
    let (big, huge) = match r {
        Ok(x) => x,
        Err(e) => return Ok(not_run(e)),
    };
    let got = largest.load(Ordering::Relaxed);
    let outcome = if !big.starts_with("ok") {
        big.clone()
    } else if got == 3000 {
        "fragmented".to_string()
    } else {
        "lost".to_string()
    };
    Ok(obs(
        got as f64,
        &outcome,
        format!(
            "send of 3000 bytes (MTU 1500): {big}, largest received {got} bytes ({} datagrams); send of 65508 bytes: {huge}",
            count.load(Ordering::Relaxed)
        ),
    ))
}
