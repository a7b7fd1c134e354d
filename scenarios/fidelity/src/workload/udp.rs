//! Row 14: UDP. Loss: 10,000 datagrams over a 1 % loss link, the server counts them (the
//! count comes back over the same link, asked up to 20 times): the fraction lost (%).
//! Oversize: one 2,000-byte datagram on a 1,500-byte MTU path: what send does and how many
//! bytes arrive (Linux fragments it: all 2,000).

use super::outcome::DEADLINE;
use super::servers::tag;
use super::wait::{obs, within};
use super::{classify, Client, SERVER_PORT};
use crate::row::Obs;
use std::net::{Ipv4Addr, SocketAddr};
use testbed_model::{DatagramSocket, Duration, Net, Runtime};

/// Datagrams sent by the loss row.
pub(crate) const DATAGRAMS: u32 = 10_000;
/// Size of the oversize row's datagram.
pub(crate) const OVERSIZE: usize = 2_000;

/// Sends `msg` and waits up to 300 ms for an answer starting with `want`, up to 20 times.
async fn ask<R: Runtime, D: DatagramSocket>(
    rt: &R,
    sock: &D,
    to: SocketAddr,
    msg: &[u8],
    want: u8,
) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 64];
    for _ in 0..20 {
        if sock.send_to(msg, to).await.is_err() {
            return None;
        }
        let t_end = rt.now() + Duration::from_millis(300);
        while let Some(Ok((n, _))) = within(
            rt,
            t_end.saturating_duration_since(rt.now()),
            sock.recv_from(&mut buf),
        )
        .await
        {
            if n > 0 && buf[0] == want {
                return Some(buf[1..n].to_vec());
            }
        }
    }
    None
}

fn bind<N: Net>(net: &N) -> Result<N::Datagram, Obs> {
    net.bind_datagram(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
        .map_err(|e| obs(None, classify(&e.into()), "bind failed".into()))
}

pub(super) async fn loss<R: Runtime, N: Net>(cx: &Client<'_, R, N>) -> Obs {
    let to = SocketAddr::new(cx.server, SERVER_PORT);
    let sock = match bind(&cx.net) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let mut msg = [0u8; 100];
    msg[0] = tag::DATA;
    let mut send_errors = 0u32;
    for i in 0..DATAGRAMS {
        if sock.send_to(&msg, to).await.is_err() {
            send_errors += 1;
        }
        // 10 datagrams per millisecond: well under what either side's socket buffers take.
        if i % 10 == 9 {
            cx.rt.sleep(Duration::from_millis(1)).await;
        }
    }
    cx.rt.sleep(Duration::from_millis(500)).await;
    let Some(answer) = ask(&cx.rt, &sock, to, &[tag::QUERY], tag::COUNT).await else {
        return obs(
            None,
            DEADLINE,
            "the server never answered the count query".into(),
        );
    };
    let Ok(bytes) = <[u8; 8]>::try_from(answer.as_slice()) else {
        return obs(None, "error", "malformed count answer".into());
    };
    let got = u64::from_le_bytes(bytes);
    let lost = 100.0 * (f64::from(DATAGRAMS) - got as f64) / f64::from(DATAGRAMS);
    obs(
        Some(lost),
        "ok",
        format!(
            "{got} of {DATAGRAMS} datagrams arrived ({lost:.2} % lost, {send_errors} send errors)"
        ),
    )
}

pub(super) async fn oversize<R: Runtime, N: Net>(cx: &Client<'_, R, N>) -> Obs {
    let to = SocketAddr::new(cx.server, SERVER_PORT);
    let sock = match bind(&cx.net) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let mut msg = vec![0u8; OVERSIZE];
    msg[0] = tag::SIZE;
    // One plain send first: its result is the row's outcome.
    if let Some(Err(e)) = within(&cx.rt, Duration::from_secs(1), sock.send_to(&msg, to)).await {
        return obs(
            Some(0.0),
            classify(&e),
            format!(
                "send of {OVERSIZE} bytes (MTU 1500, max datagram {}): {e}",
                sock.max_datagram_size()
            ),
        );
    }
    match ask(&cx.rt, &sock, to, &msg, tag::LEN).await {
        Some(a) if a.len() == 4 => {
            let n = u32::from_le_bytes([a[0], a[1], a[2], a[3]]);
            obs(
                Some(f64::from(n)),
                "ok",
                format!("sent {OVERSIZE} bytes; the server received {n}"),
            )
        }
        _ => obs(
            Some(0.0),
            "lost",
            format!("sent {OVERSIZE} bytes without error; nothing arrived"),
        ),
    }
}
