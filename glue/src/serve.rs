//! [`serve`]: runs any tower HTTP service (axum `Router`, tonic `Routes`, a hyper service
//! wrapped in `tower::service_fn`) on a model listener, HTTP/1.1 and h2 on the same port,
//! with a connection cap, deadlines and graceful shutdown. Replaces `axum::serve` and tonic's
//! `Server`, which accept on tokio sockets.

use crate::date::DateLayer;
use crate::exec::Exec;
use crate::io::Io;
use crate::timer::Timer;
use hyper::body::Incoming;
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::cell::Cell;
use std::error::Error as StdError;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use testbed_model::{AcceptError, Duration, Listener, Runtime};
use tokio::sync::watch;
use tower_layer::Layer;

/// Limits and deadlines of [`serve`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeConfig {
    /// Connections served at once; further accepted connections are closed at once.
    pub max_connections: usize,
    /// HTTP/1: deadline for a request's header to arrive (slowloris bound).
    pub header_read_timeout: Duration,
    /// HTTP/2: concurrent streams per connection.
    pub max_concurrent_streams: u32,
    /// HTTP/2: ping interval on idle connections; a peer silent for `keep_alive_timeout`
    /// after a ping is disconnected.
    pub keep_alive_interval: Duration,
    /// HTTP/2: how long to wait for a ping's answer.
    pub keep_alive_timeout: Duration,
    /// After shutdown is signalled: how long in-flight requests may take before the remaining
    /// connections are dropped.
    pub drain_deadline: Duration,
    /// Add `Date` from the host's clock ([`crate::http_date`]) instead of hyper's, which reads
    /// `SystemTime`. `false` sends no `Date` (hyper's own stays off either way).
    pub date_header: bool,
}

impl Default for ServeConfig {
    fn default() -> ServeConfig {
        ServeConfig {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(30),
            max_concurrent_streams: 200,
            keep_alive_interval: Duration::from_secs(20),
            keep_alive_timeout: Duration::from_secs(20),
            drain_deadline: Duration::from_secs(30),
            date_header: true,
        }
    }
}

/// Why [`serve`] stopped without being asked to.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The listener closed (its host crashed or it was shut down).
    #[error("listener closed")]
    ListenerClosed,
}

/// What [`serve`] did, returned after a graceful shutdown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServeStats {
    /// Connections accepted and served.
    pub accepted: u64,
    /// Connections closed at once because `max_connections` were being served.
    pub refused_over_cap: u64,
    /// Accept errors that were skipped (the loop pauses 10 ms after each, then continues).
    pub accept_errors: u64,
    /// Whether every connection finished within `drain_deadline` after shutdown.
    pub drained: bool,
}

/// The sending side of a graceful shutdown: [`ShutdownTrigger::trigger`] makes every
/// [`Shutdown`] made from it complete.
#[derive(Clone, Debug)]
pub struct ShutdownTrigger {
    tx: std::sync::Arc<watch::Sender<bool>>,
}

/// A future that completes when its [`ShutdownTrigger`] fires (or is dropped).
#[derive(Debug)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

impl ShutdownTrigger {
    /// A new, unfired trigger.
    pub fn new() -> ShutdownTrigger {
        ShutdownTrigger {
            tx: std::sync::Arc::new(watch::channel(false).0),
        }
    }
    /// A signal for [`serve`]'s `shutdown` argument.
    pub fn signal(&self) -> Shutdown {
        Shutdown {
            rx: self.tx.subscribe(),
        }
    }
    /// Fires: every signal completes.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }
}

impl Default for ShutdownTrigger {
    fn default() -> Self {
        ShutdownTrigger::new()
    }
}

impl Shutdown {
    /// Completes once triggered (or once the trigger is gone).
    pub async fn wait(mut self) {
        // Err: every trigger dropped, which also means "stop".
        let _ = self.rx.wait_for(|fired| *fired).await;
    }
}

type BoxError = Box<dyn StdError + Send + Sync>;

/// How long `serve` pauses after a failed accept.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(10);

/// Serves `service` on `listener` until `shutdown` completes, then stops accepting, asks
/// every connection to finish (HTTP/1 closes after its current response, h2 sends GOAWAY) and
/// waits up to `cfg.drain_deadline` for them.
///
/// Runs on any model runtime (the simulator's `Host`, the kernel backend's `Worker`): hyper's
/// executor and timer are [`Exec`] and [`Timer`] over `rt`, so nothing touches tokio's reactor.
/// Connections speak HTTP/1.1 or h2 (prior knowledge), detected from the first bytes.
///
/// ```no_run
/// # async fn doc(host: testbed_sim::Host) {
/// use testbed_model::Net;
/// let app = axum::Router::new().route("/", axum::routing::get(|| async { "hi" }));
/// let listener = host.listen("0.0.0.0:80".parse().unwrap()).unwrap();
/// let stop = testbed_glue::ShutdownTrigger::new();
/// let cfg = testbed_glue::ServeConfig::default();
/// let stats = testbed_glue::serve(host.clone(), listener, app, cfg, stop.signal().wait()).await;
/// # drop(stats);
/// # }
/// ```
pub async fn serve<R, L, S, B, Sig>(
    rt: R,
    listener: L,
    service: S,
    cfg: ServeConfig,
    shutdown: Sig,
) -> Result<ServeStats, ServeError>
where
    R: Runtime + Send + Sync,
    R::Sleep: Send + Sync,
    L: Listener,
    S: tower_service::Service<http::Request<Incoming>, Response = http::Response<B>>
        + Clone
        + 'static,
    S::Future: 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + 'static,
    B::Error: Into<BoxError>,
    Sig: Future<Output = ()>,
{
    let mut builder = auto::Builder::new(Exec::new(rt.clone()));
    builder
        .http1()
        .timer(Timer::new(rt.clone()))
        .header_read_timeout(cfg.header_read_timeout)
        .auto_date_header(false);
    builder
        .http2()
        .timer(Timer::new(rt.clone()))
        .max_concurrent_streams(cfg.max_concurrent_streams)
        .keep_alive_interval(cfg.keep_alive_interval)
        .keep_alive_timeout(cfg.keep_alive_timeout)
        .auto_date_header(false);
    let date = cfg.date_header.then(|| DateLayer::new(rt.clone()));
    let graceful = GracefulShutdown::new();
    let active = Rc::new(Cell::new(0usize));
    let mut stats = ServeStats::default();
    let mut shutdown = pin!(shutdown);

    loop {
        let next = std::future::poll_fn(|cx| {
            if shutdown.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            listener.poll_accept(cx).map(Some)
        })
        .await;
        let (stream, _peer) = match next {
            None => break,
            Some(Ok(accepted)) => accepted,
            Some(Err(AcceptError::Closed)) => return Err(ServeError::ListenerClosed),
            Some(Err(_)) => {
                // EMFILE and friends: the next accept may succeed, but not at once; pause so
                // a persistent error does not spin.
                stats.accept_errors += 1;
                rt.sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        if active.get() >= cfg.max_connections {
            stats.refused_over_cap += 1;
            drop(stream);
            continue;
        }
        stats.accepted += 1;
        active.set(active.get() + 1);
        let svc = match &date {
            Some(layer) => Either::Dated(layer.layer(service.clone())),
            None => Either::Plain(service.clone()),
        };
        let conn = builder
            .serve_connection(Io::new(stream), TowerToHyperService::new(svc))
            .into_owned();
        let conn = graceful.watch(conn);
        let active = active.clone();
        drop(rt.spawn(async move {
            // A connection error (reset, timeout, protocol violation) ends that connection only.
            let _ = conn.await;
            active.set(active.get() - 1);
        }));
    }
    drop(listener);
    stats.drained = testbed_model::timeout(&rt, cfg.drain_deadline, graceful.shutdown())
        .await
        .is_ok();
    Ok(stats)
}

/// The service with or without the Date layer, as one type.
#[derive(Clone)]
enum Either<A, B> {
    Dated(A),
    Plain(B),
}

impl<A, B, Req, Res, E> tower_service::Service<Req> for Either<A, B>
where
    A: tower_service::Service<Req, Response = Res, Error = E>,
    B: tower_service::Service<Req, Response = Res, Error = E>,
    A::Future: 'static,
    B::Future: 'static,
{
    type Response = Res;
    type Error = E;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Res, E>>>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<(), E>> {
        match self {
            Either::Dated(a) => a.poll_ready(cx),
            Either::Plain(b) => b.poll_ready(cx),
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self {
            Either::Dated(a) => Box::pin(a.call(req)),
            Either::Plain(b) => Box::pin(b.call(req)),
        }
    }
}
