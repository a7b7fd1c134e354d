//! `distributed::discovery::Discovery` on a real etcd (v3 API, through `etcd-client`).
//!
//! An instance is the key `<prefix>/<service>/<id>` under its own lease, its value JSON
//! (`{"addr": .., "metadata": {..}}`, readable with `etcdctl get --prefix`). Revisions are
//! etcd's. Differences from the simulated registry, by etcd's design:
//! - TTLs are whole seconds (rounded up here) and etcd silently raises a TTL below its
//!   minimum (about 2 s with default election settings); this adapter rejects TTLs below
//!   `ttl_min` with `TtlTooShort` instead, so the contract holds.
//! - etcd's lessor checks for expired leases every 500 ms and revokes them through raft, so
//!   the "tick" is about 500 ms plus a commit.
//! - Changes made in one transaction share a revision (a revoked lease with several keys);
//!   this adapter puts one key per lease, so each change has its own revision.

use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use testbed_distributed::discovery::{
    Change, Discovery, DiscoveryError, Instance, Lease, LeaseId, Resolved, Revision, Watch,
    WatchEvent,
};
use testbed_model::{timeout, Duration, Runtime};

/// The etcd implementation.
pub struct EtcdDiscovery<R: Runtime> {
    client: etcd_client::Client,
    rt: R,
    prefix: String,
    ttl_min: Duration,
    call_timeout: Duration,
}

fn unavailable(e: impl std::fmt::Display) -> DiscoveryError {
    DiscoveryError::Unavailable(e.to_string())
}

/// etcd's "requested lease not found" (a gRPC status on revoke; on the keepalive stream
/// `etcd-client` reports it as a keepalive error).
fn lease_error(e: etcd_client::Error) -> DiscoveryError {
    match &e {
        etcd_client::Error::GRpcStatus(s) if s.message().contains("lease not found") => {
            DiscoveryError::LeaseNotFound
        }
        etcd_client::Error::LeaseKeepAliveError(m) if m.contains("lease not found") => {
            DiscoveryError::LeaseNotFound
        }
        _ => unavailable(e),
    }
}

fn revision(h: Option<&etcd_client::ResponseHeader>) -> Result<Revision, DiscoveryError> {
    h.map(|h| Revision(h.revision() as u64))
        .ok_or_else(|| DiscoveryError::Protocol("etcd response without header".into()))
}

impl<R: Runtime> EtcdDiscovery<R> {
    /// Connects to etcd at `endpoints` (e.g. `http://127.0.0.1:2379`); keys live under
    /// `prefix`. `ttl_min` should match the server's minimum lease TTL (2 s by default).
    pub async fn connect(
        rt: R,
        endpoints: &[String],
        prefix: &str,
        ttl_min: Duration,
    ) -> Result<Self, DiscoveryError> {
        let opts = etcd_client::ConnectOptions::new()
            .with_connect_timeout(std::time::Duration::from_secs(2));
        let client = etcd_client::Client::connect(endpoints, Some(opts))
            .await
            .map_err(unavailable)?;
        Ok(EtcdDiscovery {
            client,
            rt,
            prefix: prefix.trim_end_matches('/').to_string(),
            ttl_min,
            call_timeout: Duration::from_secs(5),
        })
    }

    fn dir(&self, service: &str) -> String {
        format!("{}/{service}/", self.prefix)
    }

    async fn bounded<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, DiscoveryError>>,
    ) -> Result<T, DiscoveryError> {
        timeout(&self.rt, self.call_timeout, f)
            .await
            .map_err(|_| unavailable("etcd request timed out"))?
    }
}

fn encode_value(i: &Instance) -> String {
    json!({"addr": i.addr.to_string(), "metadata": i.metadata}).to_string()
}

fn decode_kv(prefix: &str, key: &[u8], value: &[u8]) -> Result<Instance, DiscoveryError> {
    let (service, id) = split_key(prefix, key)?;
    let v: Value =
        serde_json::from_slice(value).map_err(|e| DiscoveryError::Protocol(e.to_string()))?;
    let addr = v["addr"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| DiscoveryError::Protocol("instance value without addr".into()))?;
    let metadata: BTreeMap<String, String> = v["metadata"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    Ok(Instance {
        service,
        id,
        addr,
        metadata,
    })
}

fn split_key(prefix: &str, key: &[u8]) -> Result<(String, String), DiscoveryError> {
    let bad = || DiscoveryError::Protocol("key outside the discovery prefix".into());
    let k = std::str::from_utf8(key).map_err(|_| bad())?;
    let rest = k
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(bad)?;
    let (s, i) = rest.split_once('/').ok_or_else(bad)?;
    Ok((s.to_string(), i.to_string()))
}

impl<R: Runtime> Discovery for EtcdDiscovery<R> {
    type Watch = EtcdWatch;

    async fn register(&self, instance: &Instance, ttl: Duration) -> Result<Lease, DiscoveryError> {
        if ttl < self.ttl_min {
            return Err(DiscoveryError::TtlTooShort {
                asked: ttl,
                min: self.ttl_min,
            });
        }
        let limits = testbed_distributed::discovery::Limits::default();
        limits.check_instance(instance)?;
        let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        let mut c = self.client.clone();
        let key = format!("{}{}", self.dir(&instance.service), instance.id);
        let value = encode_value(instance);
        self.bounded(async move {
            let g = c
                .lease_grant(secs as i64, None)
                .await
                .map_err(unavailable)?;
            let opts = etcd_client::PutOptions::new().with_lease(g.id());
            match c.put(key, value, Some(opts)).await {
                Ok(p) => Ok(Lease {
                    id: LeaseId(g.id() as u64),
                    ttl: Duration::from_secs(g.ttl() as u64),
                    revision: revision(p.header())?,
                }),
                Err(e) => {
                    let _ = c.lease_revoke(g.id()).await;
                    Err(unavailable(e))
                }
            }
        })
        .await
    }

    async fn keepalive(&self, lease: LeaseId) -> Result<Duration, DiscoveryError> {
        let mut c = self.client.clone();
        self.bounded(async move {
            let (mut keeper, mut stream) = c
                .lease_keep_alive(lease.0 as i64)
                .await
                .map_err(lease_error)?;
            keeper.keep_alive().await.map_err(lease_error)?;
            match stream.message().await.map_err(lease_error)? {
                Some(r) if r.ttl() > 0 => Ok(Duration::from_secs(r.ttl() as u64)),
                Some(_) => Err(DiscoveryError::LeaseNotFound),
                None => Err(unavailable("keepalive stream closed")),
            }
        })
        .await
    }

    async fn deregister(&self, service: &str, id: &str) -> Result<Revision, DiscoveryError> {
        let mut c = self.client.clone();
        let key = format!("{}{id}", self.dir(service));
        self.bounded(async move {
            let d = c.delete(key, None).await.map_err(unavailable)?;
            if d.deleted() == 0 {
                return Err(DiscoveryError::NotFound);
            }
            revision(d.header())
        })
        .await
    }

    async fn revoke(&self, lease: LeaseId) -> Result<Revision, DiscoveryError> {
        let mut c = self.client.clone();
        self.bounded(async move {
            let r = c.lease_revoke(lease.0 as i64).await.map_err(lease_error)?;
            revision(r.header())
        })
        .await
    }

    async fn resolve(&self, service: &str) -> Result<Resolved, DiscoveryError> {
        let mut c = self.client.clone();
        let dir = self.dir(service);
        let prefix = self.prefix.clone();
        self.bounded(async move {
            let opts = etcd_client::GetOptions::new().with_prefix();
            let g = c.get(dir, Some(opts)).await.map_err(unavailable)?;
            let mut instances = g
                .kvs()
                .iter()
                .map(|kv| decode_kv(&prefix, kv.key(), kv.value()))
                .collect::<Result<Vec<_>, _>>()?;
            instances.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(Resolved {
                instances,
                revision: revision(g.header())?,
            })
        })
        .await
    }

    async fn watch(&self, service: &str, after: Revision) -> Result<EtcdWatch, DiscoveryError> {
        let mut c = self.client.clone();
        let opts = etcd_client::WatchOptions::new()
            .with_prefix()
            .with_progress_notify()
            .with_start_revision(after.0 as i64 + 1);
        let stream = self
            .bounded(async move {
                c.watch(self.dir(service), Some(opts))
                    .await
                    .map_err(unavailable)
            })
            .await?;
        Ok(EtcdWatch {
            stream,
            prefix: self.prefix.clone(),
            after,
            pending: VecDeque::new(),
            finished: false,
        })
    }
}

/// A watch on etcd.
pub struct EtcdWatch {
    stream: etcd_client::WatchStream,
    prefix: String,
    after: Revision,
    pending: VecDeque<WatchEvent>,
    finished: bool,
}

impl EtcdWatch {
    fn take(&mut self, resp: &etcd_client::WatchResponse) -> Result<(), DiscoveryError> {
        if resp.compact_revision() > 0 {
            return Err(DiscoveryError::Compacted {
                asked: self.after,
                oldest: Revision(resp.compact_revision() as u64),
            });
        }
        if resp.canceled() {
            return Err(unavailable(format!(
                "watch cancelled: {}",
                resp.cancel_reason()
            )));
        }
        for e in resp.events() {
            let kv = e
                .kv()
                .ok_or_else(|| DiscoveryError::Protocol("watch event without kv".into()))?;
            let change = match e.event_type() {
                etcd_client::EventType::Put => {
                    Change::Put(decode_kv(&self.prefix, kv.key(), kv.value())?)
                }
                etcd_client::EventType::Delete => {
                    let (service, id) = split_key(&self.prefix, kv.key())?;
                    Change::Delete { service, id }
                }
            };
            self.pending.push_back(WatchEvent {
                revision: Revision(kv.mod_revision() as u64),
                change,
            });
        }
        Ok(())
    }
}

impl Watch for EtcdWatch {
    async fn next(&mut self) -> Result<WatchEvent, DiscoveryError> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(e);
            }
            if self.finished {
                return Err(unavailable("watch finished"));
            }
            let r = match self.stream.message().await {
                Ok(Some(resp)) => self.take(&resp),
                Ok(None) => Err(unavailable("watch stream closed")),
                Err(e) => Err(unavailable(e)),
            };
            if let Err(e) = r {
                self.finished = true;
                return Err(e);
            }
        }
    }
}
