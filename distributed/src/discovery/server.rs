//! The registry server: a [`Registry`] behind the wire format of [`super::codec`], generic over
//! model's `Net` and `Runtime` so it runs as a simulated host (which can be partitioned,
//! crashed and restarted) and on real backends.
//!
//! State lives in memory only: a restarted server starts empty (instances come back as their
//! agents re-register; watchers resuming from an old revision get `Compacted`).

use super::codec::{Msg, INSTANCES_MAX};
use super::io::FramedStream;
use super::notify::Notify;
use super::registry::{Registry, RegistryConfig};
use super::types::{DiscoveryError, LeaseId, Revision};
use std::cell::{Cell, Ref, RefCell};
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use testbed_model::{AcceptError, Duration, Instant, Listener, Net, Runtime, Stream};

/// Server settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    /// The registry's settings.
    pub registry: RegistryConfig,
    /// A watch with nothing to say sends a progress note this often (clients treat a longer
    /// silence as a lost connection).
    pub watch_progress: Duration,
    /// Connections served at once; more are closed on accept.
    pub connections_max: usize,
    /// Changes sent per history read on a watch.
    pub watch_batch: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            registry: RegistryConfig::default(),
            watch_progress: Duration::from_millis(500),
            connections_max: 1024,
            watch_batch: 64,
        }
    }
}

/// A registry shared by a server's connection tasks.
pub struct RegistryServer {
    reg: RefCell<Registry>,
    changed: Notify,
    connections: Cell<usize>,
    cfg: ServerConfig,
}

impl RegistryServer {
    /// A server whose registry starts at `now`.
    pub fn new(now: Instant, cfg: ServerConfig) -> Rc<RegistryServer> {
        Rc::new(RegistryServer {
            reg: RefCell::new(Registry::new(now, cfg.registry.clone())),
            changed: Notify::default(),
            connections: Cell::new(0),
            cfg,
        })
    }

    /// The registry (for inspection and metrics).
    pub fn registry(&self) -> Ref<'_, Registry> {
        self.reg.borrow()
    }

    /// Answers one unary request at `now`.
    pub fn handle(&self, now: Instant, req: Msg) -> Msg {
        let mut reg = self.reg.borrow_mut();
        let before = (reg.revision(), reg.lease_count());
        let r = match req {
            Msg::Grant { ttl_ms } => {
                reg.handle_grant(now, Duration::from_millis(ttl_ms))
                    .map(|l| Msg::Granted {
                        lease: l.id.0,
                        ttl_ms: l.ttl.as_millis() as u64,
                        revision: l.revision.0,
                    })
            }
            Msg::KeepAlive { lease } => {
                reg.handle_keepalive(now, LeaseId(lease))
                    .map(|ttl| Msg::KeptAlive {
                        ttl_ms: ttl.as_millis() as u64,
                    })
            }
            Msg::Put { lease, instance } => reg.handle_put(now, LeaseId(lease), instance).map(done),
            Msg::Delete { service, id } => reg.handle_delete(now, &service, &id).map(done),
            Msg::Revoke { lease } => reg.handle_revoke(now, LeaseId(lease)).map(done),
            Msg::Resolve { service } => reg
                .config()
                .limits
                .check_name(&service)
                .map(|_| reg.resolve(&service))
                .and_then(|r| {
                    if r.instances.len() > INSTANCES_MAX {
                        return Err(DiscoveryError::Limit("instances per resolve".into()));
                    }
                    Ok(Msg::Resolved {
                        revision: r.revision.0,
                        instances: r.instances,
                    })
                }),
            other => Err(DiscoveryError::Protocol(format!(
                "not a unary request: {}",
                kind(&other)
            ))),
        };
        let after = (reg.revision(), reg.lease_count());
        drop(reg);
        if before != after {
            self.changed.notify();
        }
        r.unwrap_or_else(Msg::Error)
    }

    /// Runs the reaper at the instants the registry asks for.
    async fn reap<R: Runtime>(self: Rc<Self>, rt: R) {
        loop {
            let seen = self.changed.generation();
            let next = self.reg.borrow().poll_timeout();
            let mut sleep = pin!(rt.sleep_until(next.unwrap_or(Instant::MAX)));
            poll_fn(|cx| {
                if self.changed.poll_changed(cx, seen).is_ready() {
                    return Poll::Ready(());
                }
                if next.is_some() {
                    return sleep.as_mut().poll(cx);
                }
                Poll::Pending
            })
            .await;
            let mut reg = self.reg.borrow_mut();
            let before = (reg.revision(), reg.lease_count());
            reg.handle_timeout(rt.now());
            let changed = before != (reg.revision(), reg.lease_count());
            drop(reg);
            if changed {
                self.changed.notify();
            }
        }
    }

    async fn conn<R: Runtime, S: Stream>(self: Rc<Self>, rt: R, stream: S) {
        let _slot = ConnSlot::take(&self);
        let mut fs = FramedStream::new(stream);
        while let Ok(m) = fs.recv().await {
            if let Msg::Watch { service, after } = m {
                self.watch(&rt, &mut fs, &service, Revision(after)).await;
                return;
            }
            let resp = self.handle(rt.now(), m);
            if fs.send(&resp).await.is_err() {
                return;
            }
        }
    }

    async fn watch<R: Runtime, S: Stream>(
        &self,
        rt: &R,
        fs: &mut FramedStream<S>,
        service: &str,
        after: Revision,
    ) {
        let valid = self.reg.borrow().config().limits.check_name(service);
        if let Err(e) = valid {
            let _ = fs.send(&Msg::Error(e)).await;
            return;
        }
        let mut cursor = after;
        loop {
            let seen = self.changed.generation();
            let read = {
                let reg = self.reg.borrow();
                reg.changes_since(service, cursor, self.cfg.watch_batch)
                    .map(|evs| (evs, reg.revision()))
            };
            let (evs, current) = match read {
                Ok(x) => x,
                Err(e) => {
                    let _ = fs.send(&Msg::Error(e)).await;
                    return;
                }
            };
            let full = evs.len() == self.cfg.watch_batch;
            for e in evs {
                cursor = e.revision;
                if fs.send(&Msg::Event(e)).await.is_err() {
                    return;
                }
            }
            if full {
                continue;
            }
            // Caught up: nothing for this service up to `current`.
            cursor = cursor.max(current);
            let mut sleep = pin!(rt.sleep(self.cfg.watch_progress));
            let woke = poll_fn(|cx| {
                if self.changed.poll_changed(cx, seen).is_ready() {
                    return Poll::Ready(true);
                }
                sleep.as_mut().poll(cx).map(|_| false)
            })
            .await;
            if !woke
                && fs
                    .send(&Msg::Progress { revision: cursor.0 })
                    .await
                    .is_err()
            {
                return;
            }
        }
    }
}

fn done(r: Revision) -> Msg {
    Msg::Done { revision: r.0 }
}

fn kind(m: &Msg) -> &'static str {
    match m {
        Msg::Granted { .. } => "granted",
        Msg::KeptAlive { .. } => "kept-alive",
        Msg::Done { .. } => "done",
        Msg::Resolved { .. } => "resolved",
        Msg::Event(_) => "event",
        Msg::Progress { .. } => "progress",
        Msg::Error(_) => "error",
        _ => "request",
    }
}

/// Counts a connection while it is served.
struct ConnSlot(Rc<RegistryServer>);

impl ConnSlot {
    fn take(s: &Rc<RegistryServer>) -> ConnSlot {
        s.connections.set(s.connections.get() + 1);
        ConnSlot(s.clone())
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.0.connections.set(self.0.connections.get() - 1);
    }
}

/// Serves the registry on `listener` until the listener closes (or the host crashes).
/// Returns nothing; inspect `server` for state.
pub async fn serve<H: Net + Runtime>(h: H, listener: H::Listener, server: Rc<RegistryServer>) {
    let reaper = h.spawn(server.clone().reap(h.clone()));
    loop {
        match listener.accept().await {
            Ok((s, _)) => {
                if server.connections.get() >= server.cfg.connections_max {
                    drop(s);
                    continue;
                }
                drop(h.spawn(server.clone().conn(h.clone(), s)));
            }
            Err(AcceptError::Closed) => break,
            Err(_) => continue,
        }
    }
    reaper.abort();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::Instance;

    #[test]
    fn unary_requests_are_answered_and_server_messages_refused() {
        let s = RegistryServer::new(Instant::ZERO, ServerConfig::default());
        let now = Instant::from_millis(1);
        let Msg::Granted { lease, ttl_ms, .. } = s.handle(now, Msg::Grant { ttl_ms: 1000 }) else {
            panic!("no grant");
        };
        assert_eq!(ttl_ms, 1000);
        let put = Msg::Put {
            lease,
            instance: Instance::new("svc", "a", "10.0.0.1:80".parse().unwrap()),
        };
        assert!(matches!(s.handle(now, put), Msg::Done { .. }));
        let Msg::Resolved { instances, .. } = s.handle(
            now,
            Msg::Resolve {
                service: "svc".into(),
            },
        ) else {
            panic!("no resolve");
        };
        assert_eq!(instances.len(), 1);
        assert_eq!(
            s.handle(now, Msg::Grant { ttl_ms: 10 }),
            Msg::Error(DiscoveryError::TtlTooShort {
                asked: Duration::from_millis(10),
                min: Duration::from_millis(500)
            })
        );
        assert_eq!(
            s.handle(now, Msg::KeepAlive { lease: lease + 1 }),
            Msg::Error(DiscoveryError::LeaseNotFound)
        );
        assert!(matches!(
            s.handle(now, Msg::Progress { revision: 1 }),
            Msg::Error(DiscoveryError::Protocol(_))
        ));
        assert!(matches!(
            s.handle(
                now,
                Msg::Resolve {
                    service: "a/b".into()
                }
            ),
            Msg::Error(DiscoveryError::Limit(_))
        ));
        assert_eq!(s.registry().lease_count(), 1);
    }
}
