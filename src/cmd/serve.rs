//! `testbed serve`: a protocol server on its own for real clients, under the bounded-server
//! policy (every limit a flag; `serve --help` prints the defaults, docs/serve.md explains them).

use super::args::{ProtocolArg, ServeBackendArg};
use std::process::ExitCode;
use std::time::Duration;
use testbed_protocols::bounded::ServerLimits;
use testbed_protocols::stop::Stop;
use testbed_serve::{Protocol, ServeBackend, ServeOptions, TlsFiles};

/// Run a protocol server on its own for real clients (curl, wrk, browsers, Autobahn).
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// http1, h2, h3, ws or rpc.
    #[arg(value_enum)]
    protocol: ProtocolArg,
    /// kernel or uring (h3: kernel).
    #[arg(long, value_enum, default_value = "kernel")]
    backend: ServeBackendArg,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// Serve static files from this directory (http1, h2, h3; nothing outside it, symlinks
    /// included, is ever served).
    #[arg(long)]
    root: Option<std::path::PathBuf>,
    /// Worker threads sharing the port (SO_REUSEPORT).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Serve over TLS with this certificate chain and key (PEM files; `testbed cert` makes
    /// test ones). HTTP/1.1 and HTTP/2 then share the port by ALPN.
    #[arg(long, num_args = 2, value_names = ["CERT", "KEY"])]
    tls: Option<Vec<std::path::PathBuf>>,
    #[command(flatten)]
    limits: LimitArgs,
}

/// The bounded-server policy; durations in seconds (fractions allowed).
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Limits (every stage has a deadline)")]
struct LimitArgs {
    /// Open connections at once, all workers together; more are closed at accept and counted.
    #[arg(long, default_value_t = ServerLimits::default().max_connections)]
    max_connections: usize,
    /// Largest request body, bytes (413 beyond).
    #[arg(long, default_value_t = ServerLimits::default().max_body)]
    max_body: u64,
    /// TLS handshake deadline.
    #[arg(long, value_name = "SECS", default_value_t = secs(ServerLimits::default().tls_handshake))]
    tls_handshake_timeout: f64,
    /// HTTP/1.1: from a request's first byte to its complete head (408).
    #[arg(long, value_name = "SECS", default_value_t = secs(ServerLimits::default().header_read))]
    header_timeout: f64,
    /// HTTP/1.1: lowest average body rate, bytes/s, after the grace period (408).
    #[arg(long, value_name = "BYTES_PER_SEC", default_value_t = ServerLimits::default().body_min_rate)]
    body_min_rate: u64,
    /// HTTP/1.1: seconds a body may take before the minimum rate applies.
    #[arg(long, value_name = "SECS", default_value_t = secs(ServerLimits::default().body_rate_grace))]
    body_rate_grace: f64,
    /// HTTP/1.1: from a request's first byte to its complete body (408); HTTP/2: a request
    /// body's deadline from its HEADERS.
    #[arg(long, value_name = "SECS", default_value_t = secs(ServerLimits::default().request_total))]
    request_timeout: f64,
    /// HTTP/1.1 keep-alive: waiting for the next request.
    #[arg(long, value_name = "SECS", default_value_t = secs(ServerLimits::default().idle))]
    idle_timeout: f64,
    /// HTTP/1.1: writing one response, head and body (a client that does not read is closed).
    #[arg(long, value_name = "SECS", default_value_t = secs(ServerLimits::default().send_timeout))]
    send_timeout: f64,
    /// HTTP/2: the client preface and SETTINGS.
    #[arg(long, value_name = "SECS", default_value_t = secs(ServerLimits::default().h2_preface))]
    h2_preface_timeout: f64,
    /// HTTP/2: no stream open and no frame received (GOAWAY).
    #[arg(long, value_name = "SECS", default_value_t = secs(ServerLimits::default().h2_idle))]
    h2_idle_timeout: f64,
    /// WebSocket: the upgrade request.
    #[arg(long, value_name = "SECS", default_value_t = secs(ServerLimits::default().ws_upgrade))]
    ws_upgrade_timeout: f64,
    /// WebSocket: silence before the server pings.
    #[arg(long, value_name = "SECS", default_value_t = secs(ServerLimits::default().ws_ping_interval))]
    ws_ping_interval: f64,
    /// WebSocket: silence after the ping before the server closes.
    #[arg(long, value_name = "SECS", default_value_t = secs(ServerLimits::default().ws_pong_timeout))]
    ws_pong_timeout: f64,
    /// RPC: from a frame's first byte to its last.
    #[arg(long, value_name = "SECS", default_value_t = secs(ServerLimits::default().rpc_frame_read))]
    rpc_frame_timeout: f64,
    /// RPC: no frame at all.
    #[arg(long, value_name = "SECS", default_value_t = secs(ServerLimits::default().rpc_idle))]
    rpc_idle_timeout: f64,
    /// RPC: reply bytes queued before the server stops reading requests.
    #[arg(long, value_name = "BYTES", default_value_t = ServerLimits::default().rpc_outbox_bytes)]
    rpc_outbox_bytes: usize,
    /// RPC: calls running at once on one connection before the server stops reading.
    #[arg(long, default_value_t = ServerLimits::default().rpc_max_in_flight)]
    rpc_max_in_flight: usize,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl LimitArgs {
    fn limits(&self) -> Result<ServerLimits, String> {
        let d = |name: &str, v: f64| {
            Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| format!("--{name}: {v} is not a positive number of seconds"))
        };
        Ok(ServerLimits {
            max_connections: self.max_connections.max(1),
            max_body: self.max_body,
            tls_handshake: d("tls-handshake-timeout", self.tls_handshake_timeout)?,
            header_read: d("header-timeout", self.header_timeout)?,
            body_min_rate: self.body_min_rate.max(1),
            body_rate_grace: d("body-rate-grace", self.body_rate_grace)?,
            request_total: d("request-timeout", self.request_timeout)?,
            idle: d("idle-timeout", self.idle_timeout)?,
            send_timeout: d("send-timeout", self.send_timeout)?,
            h2_preface: d("h2-preface-timeout", self.h2_preface_timeout)?,
            h2_idle: d("h2-idle-timeout", self.h2_idle_timeout)?,
            ws_upgrade: d("ws-upgrade-timeout", self.ws_upgrade_timeout)?,
            ws_ping_interval: d("ws-ping-interval", self.ws_ping_interval)?,
            ws_pong_timeout: d("ws-pong-timeout", self.ws_pong_timeout)?,
            rpc_frame_read: d("rpc-frame-timeout", self.rpc_frame_timeout)?,
            rpc_idle: d("rpc-idle-timeout", self.rpc_idle_timeout)?,
            rpc_outbox_bytes: self.rpc_outbox_bytes.max(1),
            rpc_max_in_flight: self.rpc_max_in_flight.max(1),
            ..ServerLimits::default()
        })
    }
}

/// Runs `testbed serve`.
pub fn run(a: ServeArgs) -> ExitCode {
    let usage = |e: &dyn std::fmt::Display| {
        eprintln!("testbed: {e}");
        ExitCode::from(2)
    };
    let backend = ServeBackend::from(a.backend);
    let proto = Protocol::from(a.protocol);
    let limits = match a.limits.limits() {
        Ok(l) => l,
        Err(e) => return usage(&e),
    };
    let stop = stop_signal();
    let opts = ServeOptions {
        proto,
        backend,
        listen: a.listen,
        workers: a.workers,
        root: a.root,
        tls: a.tls.map(|v| TlsFiles {
            cert: v[0].clone(),
            key: v[1].clone(),
        }),
        limits,
        bound: None,
    };
    match testbed_serve::serve(opts, || stop.wait()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("testbed: {e}");
            ExitCode::from(1)
        }
    }
}

/// Ctrl-C (or SIGTERM) as a [`Stop`] every worker waits on (one waker slot per worker,
/// however often its task is polled): a watcher thread runs its own small tokio runtime for
/// the signals.
fn stop_signal() -> &'static Stop {
    static S: std::sync::OnceLock<Stop> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        std::thread::spawn(|| {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                use std::future::Future;
                let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut term) => {
                        std::future::poll_fn(|cx| {
                            if ctrl_c.as_mut().poll(cx).is_ready() || term.poll_recv(cx).is_ready()
                            {
                                return std::task::Poll::Ready(());
                            }
                            std::task::Poll::Pending
                        })
                        .await
                    }
                    Err(_) => {
                        let _ = ctrl_c.await;
                    }
                }
            });
            stop_signal().trigger(); // waits for the initialisation to finish
        });
        Stop::new()
    })
}
