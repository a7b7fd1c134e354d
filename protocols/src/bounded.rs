//! The bounded-server policy every protocol server here shares: a connection cap (over-cap
//! connections are closed at once and counted), a deadline for every stage of a connection's
//! life, caps on bodies and outboxes, and an accept loop that backs off on errors such as
//! EMFILE instead of spinning. Deadlines are on the injected [`Runtime`] clock, so the same
//! policy holds in the simulator.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use testbed_model::{AcceptError, Duration, Listener, Net, Runtime};

/// Limits and deadlines for a server's connections (see `docs/serve.md` for how the defaults
/// compare with nginx and hyper).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Open connections at once (all workers together); more are closed at accept.
    pub max_connections: usize,
    /// The TLS handshake, from accept to its end.
    pub tls_handshake: Duration,
    /// HTTP/2: the client preface and the SETTINGS exchange, from accept (or TLS).
    pub h2_preface: Duration,
    /// HTTP/2: a connection with no open stream and no frame for this long is closed (GOAWAY).
    pub h2_idle: Duration,
    /// WebSocket: the upgrade request, from accept (or TLS) to its complete head.
    pub ws_upgrade: Duration,
    /// WebSocket: after this long without a frame from the client the server sends a ping...
    pub ws_ping_interval: Duration,
    /// ...and closes the connection if nothing (a pong or anything else) arrives within this.
    pub ws_pong_timeout: Duration,
    /// HTTP/1.1: from a request's first byte to its complete head (408 and close).
    pub header_read: Duration,
    /// HTTP/1.1: the lowest average request-body rate, bytes per second, after
    /// [`ServerLimits::body_rate_grace`] (a client trickling a body is closed).
    pub body_min_rate: u64,
    /// HTTP/1.1: the time a body may take before the minimum rate applies.
    pub body_rate_grace: Duration,
    /// HTTP/1.1: from a request's first byte to its complete body.
    pub request_total: Duration,
    /// HTTP/1.1 keep-alive: waiting for the next request (silent close).
    pub idle: Duration,
    /// HTTP/1.1: writing one response, head and body (a client that does not read is
    /// closed).
    pub send_timeout: Duration,
    /// Largest request body (HTTP/1.1, h2), bytes: larger ones get 413.
    pub max_body: u64,
    /// RPC: from a frame's first byte to its last.
    pub rpc_frame_read: Duration,
    /// RPC: no frame at all for this long closes the connection.
    pub rpc_idle: Duration,
    /// RPC: reply bytes queued but not yet written; past it the server stops reading
    /// requests until the client reads its replies.
    pub rpc_outbox_bytes: usize,
    /// RPC: calls running at once on one connection; at this many the server stops reading.
    /// With `rpc_outbox_bytes` this bounds a connection's reply memory by
    /// `rpc_outbox_bytes + rpc_max_in_flight × 4 MiB` (the largest payload).
    pub rpc_max_in_flight: usize,
    /// Accept errors (EMFILE, ENFILE, ...): the first retry waits this long, doubling...
    pub accept_backoff_min: Duration,
    /// ...up to this.
    pub accept_backoff_max: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections: 10_240,
            tls_handshake: Duration::from_secs(10),
            h2_preface: Duration::from_secs(10),
            h2_idle: Duration::from_secs(60),
            ws_upgrade: Duration::from_secs(10),
            ws_ping_interval: Duration::from_secs(30),
            ws_pong_timeout: Duration::from_secs(10),
            header_read: Duration::from_secs(10),
            body_min_rate: 240,
            body_rate_grace: Duration::from_secs(5),
            request_total: Duration::from_secs(60),
            idle: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            max_body: 16 << 20,
            rpc_frame_read: Duration::from_secs(10),
            rpc_idle: Duration::from_secs(60),
            rpc_outbox_bytes: 8 << 20,
            rpc_max_in_flight: 32,
            accept_backoff_min: Duration::from_millis(5),
            accept_backoff_max: Duration::from_secs(1),
        }
    }
}

/// Counts open connections against a cap; shared by all workers (clones share it).
#[derive(Clone, Debug)]
pub struct ConnGate(Arc<GateInner>);

#[derive(Debug)]
struct GateInner {
    cap: usize,
    open: AtomicUsize,
    refused: AtomicU64,
    accept_errors: AtomicU64,
}

impl ConnGate {
    /// A gate admitting at most `cap` connections at once.
    pub fn new(cap: usize) -> ConnGate {
        ConnGate(Arc::new(GateInner {
            cap,
            open: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
        }))
    }
    /// A permit if fewer than the cap are open (counted as refused otherwise).
    pub fn try_enter(&self) -> Option<Permit> {
        let admitted = self
            .0
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.0.cap).then_some(n + 1)
            })
            .is_ok();
        if admitted {
            Some(Permit(self.clone()))
        } else {
            self.0.refused.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
    /// Connections open now.
    pub fn open(&self) -> usize {
        self.0.open.load(Ordering::Acquire)
    }
    /// Connections refused over the cap so far.
    pub fn refused(&self) -> u64 {
        self.0.refused.load(Ordering::Relaxed)
    }
    /// Accept errors (other than a closed listener) so far.
    pub fn accept_errors(&self) -> u64 {
        self.0.accept_errors.load(Ordering::Relaxed)
    }
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Permit(ConnGate);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0 .0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// [`accept_loop`] under the default policy with a gate of its own: the accept loop of the
/// protocol modules' own `serve` functions and of the scenario servers.
pub async fn accept_loop_default<H, F>(host: &H, listener: &H::Listener, conn: F)
where
    H: Net + Runtime,
    F: FnMut(H::Stream, Permit),
{
    let lim = ServerLimits::default();
    accept_loop(
        host,
        listener,
        &ConnGate::new(lim.max_connections),
        &lim,
        conn,
    )
    .await
}

/// Accepts until the listener closes: each admitted connection goes to `conn` with its
/// permit (spawn a task that holds it for the connection's life); over-cap connections are
/// closed at once. After an accept error the loop sleeps (doubling from
/// `accept_backoff_min` to `accept_backoff_max`, reset by the next success), so a full
/// descriptor table costs a few wake-ups per second, not a core.
pub async fn accept_loop<H, F>(
    host: &H,
    listener: &H::Listener,
    gate: &ConnGate,
    lim: &ServerLimits,
    mut conn: F,
) where
    H: Net + Runtime,
    F: FnMut(H::Stream, Permit),
{
    let mut backoff = lim.accept_backoff_min;
    loop {
        match listener.accept().await {
            Ok((s, _)) => {
                backoff = lim.accept_backoff_min;
                match gate.try_enter() {
                    Some(p) => conn(s, p),
                    None => drop(s), // closes it: the client sees EOF before any byte
                }
            }
            Err(AcceptError::Closed) => return,
            Err(_) => {
                gate.0.accept_errors.fetch_add(1, Ordering::Relaxed);
                host.sleep(backoff).await;
                backoff = backoff.saturating_mul(2).min(lim.accept_backoff_max);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_caps_and_frees() {
        let g = ConnGate::new(2);
        let a = g.try_enter().expect("first");
        let b = g.try_enter().expect("second");
        assert!(g.try_enter().is_none());
        assert_eq!((g.open(), g.refused()), (2, 1));
        drop(a);
        let c = g.try_enter().expect("a place was freed");
        drop((b, c));
        assert_eq!(g.open(), 0);
    }
}
