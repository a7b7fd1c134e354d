//! [`Connector`]: dials model streams for hyper-util's `Client` and tonic's `Channel`.

use crate::io::Io;
use http::Uri;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use testbed_model::{Duration, Net, Runtime};
use tokio::sync::oneshot;

/// Why [`Connector`] could not produce a stream.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URI names no host, or the resolver knows no address for it.
    #[error("cannot resolve {uri:?} to an address")]
    Unresolved {
        /// The URI as given.
        uri: String,
    },
    /// The network refused, reset or timed out the connection.
    #[error("connect to {addr} failed: {source}")]
    Connect {
        /// Where.
        addr: SocketAddr,
        /// The network's error.
        source: testbed_model::ConnectError,
    },
    /// No connection within the connector's deadline.
    #[error("connect to {addr} exceeded its {limit:?} deadline")]
    Deadline {
        /// Where.
        addr: SocketAddr,
        /// The deadline.
        limit: Duration,
    },
    /// The connecting task was dropped (its host crashed or the runtime stopped).
    #[error("connect to {addr} was cancelled (host crashed or runtime stopped)")]
    Cancelled {
        /// Where.
        addr: SocketAddr,
    },
}

type Resolve = Arc<dyn Fn(&str) -> Option<IpAddr> + Send + Sync>;

/// A `tower::Service<Uri>` that opens model streams: the connector for
/// `hyper_util::client::legacy::Client::builder(..).build(connector)` and for
/// `tonic::transport::Endpoint::connect_with_connector` (see [`crate::tonic::channel`]).
///
/// Host names go through the resolver given to [`Connector::resolve`] (in the simulator, e.g.
/// `move |name| host.lookup(name)`); IP literals need none. The port defaults to 80 (443 for
/// `https`). Each connect is spawned on the runtime and bounded by a deadline (10 s unless
/// [`Connector::deadline`] says otherwise).
#[derive(Clone)]
pub struct Connector<N, R> {
    net: N,
    rt: R,
    resolve: Option<Resolve>,
    deadline: Duration,
}

impl<N, R> std::fmt::Debug for Connector<N, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("deadline", &self.deadline)
            .field("resolver", &self.resolve.is_some())
            .finish()
    }
}

impl<N: Net, R: Runtime> Connector<N, R> {
    /// Dials through `net`, spawning on and timing with `rt` (often the same handle).
    pub fn new(net: N, rt: R) -> Connector<N, R> {
        Connector {
            net,
            rt,
            resolve: None,
            deadline: Duration::from_secs(10),
        }
    }

    /// Resolves host names with `f`.
    pub fn resolve(mut self, f: impl Fn(&str) -> Option<IpAddr> + Send + Sync + 'static) -> Self {
        self.resolve = Some(Arc::new(f));
        self
    }

    /// Bounds each connect by `d` on the runtime's clock.
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self
    }

    /// The socket address `uri` names.
    pub fn address(&self, uri: &Uri) -> Result<SocketAddr, ConnectError> {
        let unresolved = || ConnectError::Unresolved {
            uri: uri.to_string(),
        };
        let host = uri.host().ok_or_else(unresolved)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip = match host.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => self
                .resolve
                .as_ref()
                .and_then(|f| f(host))
                .ok_or_else(unresolved)?,
        };
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        Ok(SocketAddr::new(ip, port))
    }
}

/// The future of one connect: resolves when the spawned connecting task reports.
pub struct Connecting<S> {
    state: ConnectingState<S>,
}

enum ConnectingState<S> {
    Failed(Option<ConnectError>),
    Waiting {
        addr: SocketAddr,
        rx: oneshot::Receiver<Result<S, ConnectError>>,
    },
}

impl<S> Future for Connecting<S> {
    type Output = Result<Io<S>, ConnectError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            ConnectingState::Failed(e) => {
                Poll::Ready(Err(e.take().expect("Connecting polled after completion")))
            }
            ConnectingState::Waiting { addr, rx } => match Pin::new(rx).poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(r)) => Poll::Ready(r.map(Io::new)),
                Poll::Ready(Err(_)) => Poll::Ready(Err(ConnectError::Cancelled { addr: *addr })),
            },
        }
    }
}

impl<S> Unpin for Connecting<S> {}

impl<N, R> tower_service::Service<Uri> for Connector<N, R>
where
    N: Net,
    N::Stream: Send,
    R: Runtime,
{
    type Response = Io<N::Stream>;
    type Error = ConnectError;
    type Future = Connecting<N::Stream>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let addr = match self.address(&uri) {
            Ok(a) => a,
            Err(e) => {
                return Connecting {
                    state: ConnectingState::Failed(Some(e)),
                }
            }
        };
        let (tx, rx) = oneshot::channel();
        let (net, rt, limit) = (self.net.clone(), self.rt.clone(), self.deadline);
        // Spawned so that the returned future is `Send` whatever the network's connect future
        // is; dropping the caller's future lets the connect finish and drops the stream.
        drop(self.rt.spawn(async move {
            let r = match testbed_model::timeout(&rt, limit, net.connect(addr)).await {
                Ok(Ok(s)) => Ok(s),
                Ok(Err(source)) => Err(ConnectError::Connect { addr, source }),
                Err(_) => Err(ConnectError::Deadline { addr, limit }),
            };
            let _ = tx.send(r);
        }));
        Connecting {
            state: ConnectingState::Waiting { addr, rx },
        }
    }
}
