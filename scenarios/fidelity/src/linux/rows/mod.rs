//! Each row's Linux driver: builds the row's lab, runs the row's client (and server) on the
//! kernel backend inside it, and turns what happened into an [`Obs`]. Lab failures become
//! an `Obs` without a value whose detail says what failed.

mod close;
mod connect;
mod latency;
mod partition;
mod ports;
mod udp;

use super::error::LabError;
use super::host::Serve;
use super::lab::{Lab, Topology};
use crate::row::{Obs, RowId};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use testbed_model::{Duration, Listener, Net, Runtime, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The port every row's server listens on.
pub(crate) const PORT: u16 = 7000;
/// Default connect timeout of the rows' clients.
pub(crate) const CONNECT: Duration = Duration::from_secs(10);

/// Measures `row` in a lab of its own on subnet 10.77.`pair`.0/24.
pub(crate) fn measure(row: RowId, pair: u8) -> Obs {
    let r = match row {
        RowId::PartitionHeal10s => partition::heal(pair, Duration::from_secs(10)),
        RowId::PartitionHeal30s => partition::heal(pair, Duration::from_secs(30)),
        RowId::UserTimeout => partition::user_timeout(pair),
        RowId::Keepalive => partition::keepalive(pair),
        RowId::SynRetries => connect::syn_retries(pair),
        RowId::ClosedPort => connect::closed_port(pair),
        RowId::Backlog => connect::backlog(pair),
        RowId::PeerExitClean => close::peer_exit(pair, false),
        RowId::PeerExitUnread => close::peer_exit(pair, true),
        RowId::CrashRestart => close::crash_restart(pair),
        RowId::WriteAfterClose => close::write_after_close(pair),
        RowId::TimeWait => ports::time_wait(pair),
        RowId::Nagle => latency::nagle(pair, false),
        RowId::NoDelay => latency::nagle(pair, true),
        RowId::Bulk0 => latency::bulk(pair, 0.0),
        RowId::Bulk1 => latency::bulk(pair, 0.01),
        RowId::UdpLoss => udp::loss(pair),
        RowId::UdpOversize => udp::oversize(pair),
        #[allow(unreachable_patterns)] // RowId is non_exhaustive for other crates only
        other => Err(LabError::Setup(format!(
            "{}: no Linux driver for this row",
            other.name()
        ))),
    };
    r.unwrap_or_else(|e| not_run(format!("linux lab failed: {e}")))
}

/// An observation.
pub(crate) fn obs(value: f64, outcome: &str, detail: String) -> Obs {
    Obs {
        value: Some(value),
        outcome: outcome.to_string(),
        detail,
    }
}

/// No value; `detail` says why.
pub(crate) fn not_run(detail: String) -> Obs {
    Obs {
        value: None,
        outcome: String::new(),
        detail,
    }
}

/// The errno name of an I/O error's kind, as the rows report outcomes.
pub(crate) fn kind_name(kind: io::ErrorKind) -> String {
    use io::ErrorKind as K;
    match kind {
        K::ConnectionReset => "ECONNRESET".into(),
        K::ConnectionAborted => "ECONNABORTED".into(),
        K::TimedOut => "ETIMEDOUT".into(),
        K::BrokenPipe => "EPIPE".into(),
        K::ConnectionRefused => "ECONNREFUSED".into(),
        K::AddrNotAvailable => "EADDRNOTAVAIL".into(),
        K::HostUnreachable => "EHOSTUNREACH".into(),
        K::NetworkUnreachable => "ENETUNREACH".into(),
        K::UnexpectedEof => "EOF".into(),
        K::InvalidInput => "EINVAL".into(),
        other => format!("{other:?}"),
    }
}

/// The errno name of an error (EMSGSIZE has no `ErrorKind` of its own).
pub(crate) fn err_name(e: &io::Error) -> String {
    // 90 is EMSGSIZE on Linux.
    if e.raw_os_error() == Some(90) {
        return "EMSGSIZE".into();
    }
    kind_name(e.kind())
}

/// Seconds as f64.
pub(crate) fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// A lab with a server already started.
pub(crate) fn lab_with(pair: u8, topology: Topology, serve: Option<Serve>) -> Result<Lab, LabError> {
    let lab = Lab::new(pair, topology)?;
    if let Some(s) = serve {
        lab.start_server(s)?;
    }
    Ok(lab)
}

/// An echo server on `addr`: every accepted stream gets its bytes back until EOF.
pub(crate) fn echo_server(addr: SocketAddr) -> Serve {
    Arc::new(move |w| {
        let l = w.listen(addr).map_err(|e| format!("listen {addr}: {e}"))?;
        let w2 = w.clone();
        Ok(Box::pin(async move {
            while let Ok((mut s, _)) = l.accept().await {
                w2.spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if s.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        }))
    })
}

/// Writes `msg` and reads as many bytes back.
pub(crate) async fn roundtrip<S: Stream>(s: &mut S, msg: &[u8]) -> io::Result<()> {
    s.write_all(msg).await?;
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got).await?;
    if got != msg {
        return Err(io::Error::other("echo differs"));
    }
    Ok(())
}

/// What a read ended with: "EOF", an errno name, or "data" when bytes came.
pub(crate) async fn read_outcome<S: Stream>(s: &mut S) -> String {
    let mut b = [0u8; 64];
    match s.read(&mut b).await {
        Ok(0) => "EOF".into(),
        Ok(_) => "data".into(),
        Err(e) => err_name(&e),
    }
}

/// `timeout` on the worker, with the elapsed case named.
pub(crate) async fn within<R: Runtime, F: std::future::Future>(
    rt: &R,
    d: Duration,
    fut: F,
) -> Result<F::Output, String> {
    testbed_model::timeout(rt, d, fut)
        .await
        .map_err(|_| format!("no result within {} s", d.as_secs()))
}
