//! Row 10: up to 30,000 short connections from one client address to one server port, the
//! client closing first each time (so the client holds TIME-WAIT): how many succeed before
//! the connect fails with EADDRNOTAVAIL, and which local ports were used (Linux: the
//! ephemeral range 32768–60999, 28,232 ports, each stuck in TIME-WAIT for 60 s).

use super::wait::{obs, within};
use super::{classify, Client, SERVER_PORT};
use crate::row::Obs;
use std::net::SocketAddr;
use testbed_model::{Duration, Net, Runtime, Stream};

/// Connections attempted.
pub(crate) const ATTEMPTS: u32 = 30_000;

pub(super) async fn run<R: Runtime, N: Net>(cx: &Client<'_, R, N>) -> Obs {
    let addr = SocketAddr::new(cx.server, SERVER_PORT);
    let (mut lo, mut hi) = (u16::MAX, 0u16);
    let mut ports = std::collections::BTreeSet::new();
    for i in 0..ATTEMPTS {
        match within(&cx.rt, Duration::from_secs(5), cx.net.connect(addr)).await {
            Some(Ok(s)) => {
                let p = s.local_addr().port();
                lo = lo.min(p);
                hi = hi.max(p);
                ports.insert(p);
                drop(s); // the client closes first
            }
            Some(Err(e)) => {
                let e: std::io::Error = e.into();
                return obs(
                    Some(f64::from(i)),
                    classify(&e),
                    format!(
                        "{i} connections, then {e}; local ports {lo}..={hi} ({} distinct)",
                        ports.len()
                    ),
                );
            }
            None => {
                return obs(
                    Some(f64::from(i)),
                    super::outcome::DEADLINE,
                    format!("{i} connections, then a connect hung 5 s; local ports {lo}..={hi}"),
                )
            }
        }
    }
    obs(
        Some(f64::from(ATTEMPTS)),
        "ok",
        format!(
            "all {ATTEMPTS} connections succeeded; local ports {lo}..={hi} ({} distinct)",
            ports.len()
        ),
    )
}
