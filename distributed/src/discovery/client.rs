//! The client of the simulated registry: [`Discovery`] over model's `Net`, one request per
//! pooled connection at a time, a dedicated connection per watch. Every call has a deadline,
//! so a partition turns into `Unavailable` instead of a hang.

use super::api::{Discovery, Watch};
use super::codec::Msg;
use super::io::FramedStream;
use super::types::{DiscoveryError, Instance, Lease, LeaseId, Resolved, Revision, WatchEvent};
use std::cell::RefCell;
use std::net::SocketAddr;
use testbed_model::{timeout, Duration, Net, Runtime};

/// Client settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Deadline of one request (connect included).
    pub call_timeout: Duration,
    /// A watch silent for this long (no change, no progress note) is reported `Unavailable`.
    /// Keep it above the server's `watch_progress`.
    pub watch_idle_timeout: Duration,
    /// Idle connections kept for reuse.
    pub pool_max: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            call_timeout: Duration::from_secs(1),
            watch_idle_timeout: Duration::from_millis(1500),
            pool_max: 2,
        }
    }
}

/// A registry client on `N`.
pub struct RegistryClient<N: Net + Runtime> {
    net: N,
    addr: SocketAddr,
    cfg: ClientConfig,
    idle: RefCell<Vec<FramedStream<N::Stream>>>,
}

fn unavailable(e: impl std::fmt::Display) -> DiscoveryError {
    DiscoveryError::Unavailable(e.to_string())
}

impl<N: Net + Runtime> RegistryClient<N> {
    /// A client of the registry at `addr` (connections are opened on demand).
    pub fn new(net: N, addr: SocketAddr, cfg: ClientConfig) -> Self {
        RegistryClient {
            net,
            addr,
            cfg,
            idle: RefCell::new(Vec::new()),
        }
    }

    async fn exchange(
        &self,
        mut fs: FramedStream<N::Stream>,
        req: &Msg,
    ) -> Result<(FramedStream<N::Stream>, Msg), DiscoveryError> {
        fs.send(req).await?;
        let resp = fs.recv().await?;
        Ok((fs, resp))
    }

    /// Sends `req` and returns the answer (an error frame becomes `Err`).
    async fn call(&self, req: Msg) -> Result<Msg, DiscoveryError> {
        let attempt = async {
            // A pooled connection may have died while idle (registry restarted): one retry on
            // a fresh connection.
            let pooled = self.idle.borrow_mut().pop();
            if let Some(fs) = pooled {
                if let Ok(r) = self.exchange(fs, &req).await {
                    return Ok(r);
                }
            }
            let s = self.net.connect(self.addr).await.map_err(unavailable)?;
            self.exchange(FramedStream::new(s), &req).await
        };
        let (fs, resp) = timeout(&self.net, self.cfg.call_timeout, attempt)
            .await
            .map_err(|_| unavailable("request timed out"))??;
        // An early close (buggify): the next call opens a fresh connection.
        let mut idle = self.idle.borrow_mut();
        if idle.len() < self.cfg.pool_max && !self.net.buggify("discovery.close_pooled") {
            idle.push(fs);
        }
        match resp {
            Msg::Error(e) => Err(e),
            m => Ok(m),
        }
    }
}

fn unexpected(m: Msg) -> DiscoveryError {
    DiscoveryError::Protocol(format!("unexpected answer {m:?}"))
}

impl<N: Net + Runtime> Discovery for RegistryClient<N> {
    type Watch = RegistryWatch<N>;

    async fn register(&self, instance: &Instance, ttl: Duration) -> Result<Lease, DiscoveryError> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let (lease, ttl_ms) = match self.call(Msg::Grant { ttl_ms }).await? {
            Msg::Granted { lease, ttl_ms, .. } => (lease, ttl_ms),
            m => return Err(unexpected(m)),
        };
        let put = Msg::Put {
            lease,
            instance: instance.clone(),
        };
        match self.call(put).await {
            Ok(Msg::Done { revision }) => Ok(Lease {
                id: LeaseId(lease),
                ttl: Duration::from_millis(ttl_ms),
                revision: Revision(revision),
            }),
            other => {
                // Do not leave an empty lease behind (best effort: it expires anyway).
                let _ = self.call(Msg::Revoke { lease }).await;
                Err(match other {
                    Err(e) => e,
                    Ok(m) => unexpected(m),
                })
            }
        }
    }

    async fn keepalive(&self, lease: LeaseId) -> Result<Duration, DiscoveryError> {
        match self.call(Msg::KeepAlive { lease: lease.0 }).await? {
            Msg::KeptAlive { ttl_ms } => Ok(Duration::from_millis(ttl_ms)),
            m => Err(unexpected(m)),
        }
    }

    async fn deregister(&self, service: &str, id: &str) -> Result<Revision, DiscoveryError> {
        let req = Msg::Delete {
            service: service.into(),
            id: id.into(),
        };
        match self.call(req).await? {
            Msg::Done { revision } => Ok(Revision(revision)),
            m => Err(unexpected(m)),
        }
    }

    async fn revoke(&self, lease: LeaseId) -> Result<Revision, DiscoveryError> {
        match self.call(Msg::Revoke { lease: lease.0 }).await? {
            Msg::Done { revision } => Ok(Revision(revision)),
            m => Err(unexpected(m)),
        }
    }

    async fn resolve(&self, service: &str) -> Result<Resolved, DiscoveryError> {
        let req = Msg::Resolve {
            service: service.into(),
        };
        match self.call(req).await? {
            Msg::Resolved {
                revision,
                instances,
            } => Ok(Resolved {
                instances,
                revision: Revision(revision),
            }),
            m => Err(unexpected(m)),
        }
    }

    async fn watch(&self, service: &str, after: Revision) -> Result<Self::Watch, DiscoveryError> {
        let open = async {
            let s = self.net.connect(self.addr).await.map_err(unavailable)?;
            let mut fs = FramedStream::new(s);
            fs.send(&Msg::Watch {
                service: service.into(),
                after: after.0,
            })
            .await?;
            Ok::<_, DiscoveryError>(fs)
        };
        let fs = timeout(&self.net, self.cfg.call_timeout, open)
            .await
            .map_err(|_| unavailable("watch connect timed out"))??;
        Ok(RegistryWatch {
            rt: self.net.clone(),
            fs,
            idle_timeout: self.cfg.watch_idle_timeout,
            last: after,
            finished: false,
        })
    }
}

/// A watch on the simulated registry.
pub struct RegistryWatch<N: Net + Runtime> {
    rt: N,
    fs: FramedStream<N::Stream>,
    idle_timeout: Duration,
    last: Revision,
    finished: bool,
}

impl<N: Net + Runtime> Watch for RegistryWatch<N> {
    async fn next(&mut self) -> Result<WatchEvent, DiscoveryError> {
        if self.finished {
            return Err(unavailable("watch finished"));
        }
        let r = loop {
            // An early close (buggify): the watch's connection drops, as in a partition; the
            // follower re-watches after the last revision it saw.
            if self.rt.buggify("discovery.watch_drop") {
                break Err(unavailable("watch connection dropped"));
            }
            let m = match timeout(&self.rt, self.idle_timeout, self.fs.recv()).await {
                Err(_) => break Err(unavailable("watch silent past its idle timeout")),
                Ok(Err(e)) => break Err(e),
                Ok(Ok(m)) => m,
            };
            match m {
                Msg::Event(e) if e.revision > self.last => {
                    self.last = e.revision;
                    return Ok(e);
                }
                Msg::Event(e) => {
                    break Err(DiscoveryError::Protocol(format!(
                        "watch event {:?} not after {:?}",
                        e.revision, self.last
                    )))
                }
                Msg::Progress { .. } => continue,
                Msg::Error(e) => break Err(e),
                m => break Err(unexpected(m)),
            }
        };
        self.finished = true;
        r
    }
}
