//! Row 10: ephemeral-port exhaustion by TIME-WAIT. One client address, one server port,
//! short connections the client closes first (so the client holds TIME-WAIT).

use super::{lab_with, obs, PORT};
use crate::linux::error::LabError;
use crate::linux::host::Serve;
use crate::linux::lab::Topology;
use crate::row::Obs;
use std::net::SocketAddr;
use std::sync::Arc;
use testbed_model::{ConnectError, Listener, Net, Runtime};
use tokio::io::AsyncReadExt;

const ATTEMPTS: u32 = 30_000;

/// Accepts in a loop; each stream is read until the client's FIN, then closed.
fn drain_server(addr: SocketAddr) -> Serve {
    Arc::new(move |w| {
        let l = w.listen(addr).map_err(|e| format!("listen {addr}: {e}"))?;
        let w2 = w.clone();
        Ok(Box::pin(async move {
            while let Ok((mut s, _)) = l.accept().await {
                w2.spawn(async move {
                    let mut b = [0u8; 64];
                    while let Ok(n) = s.read(&mut b).await {
                        if n == 0 {
                            break;
                        }
                    }
                });
            }
        }))
    })
}

/// Value: connections made before the first EADDRNOTAVAIL (or all 30,000).
pub(crate) fn time_wait(pair: u8) -> Result<Obs, LabError> {
    let lab = lab_with(pair, Topology::Direct, None)?;
    let addr = lab.server_addr(PORT);
    lab.start_server(drain_server(addr))?;
    let range = lab.client_sysctl("net.ipv4.ip_local_port_range")?;
    let reuse = lab.client_sysctl("net.ipv4.tcp_tw_reuse")?;
    let r = lab.run_client(super::CONNECT, move |w| async move {
        let t0 = w.now();
        let mut made = 0u32;
        let mut end = "ok".to_string();
        for _ in 0..ATTEMPTS {
            match w.connect(addr).await {
                Ok(s) => {
                    made += 1;
                    drop(s);
                }
                Err(ConnectError::AddrNotAvailable) => {
                    end = "EADDRNOTAVAIL".into();
                    break;
                }
                Err(e) => {
                    end = super::kind_name(e.kind());
                    break;
                }
            }
        }
        let took = super::secs(w.now().saturating_duration_since(t0));
        (made, end, took)
    })?;
    let (made, end, took) = r;
    Ok(obs(
        made.into(),
        &end,
        format!(
            "{made} connections then {end} ({took:.1} s); ip_local_port_range {range} ({} ports), tcp_tw_reuse {reuse}",
            port_count(&range).map_or("?".into(), |n| n.to_string())
        ),
    ))
}

/// Ports in an `ip_local_port_range` value ("32768 60999").
fn port_count(range: &str) -> Option<u32> {
    let mut it = range.split_whitespace().map(|s| s.parse::<u32>().ok());
    let (lo, hi) = (it.next()??, it.next()??);
    hi.checked_sub(lo).map(|d| d + 1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn port_count_of_the_default_range() {
        assert_eq!(super::port_count("32768 60999"), Some(28232));
        assert_eq!(super::port_count("bad"), None);
    }
}
