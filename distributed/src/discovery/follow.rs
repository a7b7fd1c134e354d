//! What services built on discovery run: an instance's agent that keeps it registered
//! ([`keep_registered`]), and a client's live view of a service ([`ServiceView`] kept current
//! by [`follow`]: resolve, then watch, re-watching after the last revision seen and
//! re-resolving when the history is gone). Both work over any [`Discovery`].

use super::api::{Discovery, Watch};
use super::types::{Change, DiscoveryError, Instance, LeaseId, Resolved, Revision, WatchEvent};
use std::cell::RefCell;
use std::collections::BTreeMap;
use testbed_model::{Duration, Runtime};

/// A service's instances as last resolved and watched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceView {
    instances: BTreeMap<String, Instance>,
    revision: Revision,
}

impl ServiceView {
    /// Replaces the view with a resolve's answer.
    pub fn reset(&mut self, r: Resolved) {
        self.instances = r.instances.into_iter().map(|i| (i.id.clone(), i)).collect();
        self.revision = r.revision;
    }

    /// Applies a change; changes at or below the view's revision are ignored (a resumed
    /// watch never applies one twice). Returns whether the view changed.
    pub fn apply(&mut self, e: &WatchEvent) -> bool {
        if e.revision <= self.revision {
            return false;
        }
        self.revision = e.revision;
        match &e.change {
            Change::Put(i) => self.instances.insert(i.id.clone(), i.clone()).as_ref() != Some(i),
            Change::Delete { id, .. } => self.instances.remove(id).is_some(),
        }
    }

    /// The instances, sorted by id.
    pub fn instances(&self) -> impl Iterator<Item = &Instance> {
        self.instances.values()
    }

    /// Whether instance `id` is listed.
    pub fn contains(&self, id: &str) -> bool {
        self.instances.contains_key(id)
    }

    /// The revision the view is current at.
    pub fn revision(&self) -> Revision {
        self.revision
    }
}

/// Keeps `view` current for `service` forever: resolve, watch after the view's revision,
/// re-watch after transient errors (waiting `retry`), re-resolve after `Compacted`.
/// While the registry is unreachable the view keeps its last contents. `changed` runs after
/// every change to the view.
pub async fn follow<D: Discovery, R: Runtime>(
    d: &D,
    rt: &R,
    service: &str,
    retry: Duration,
    view: &RefCell<ServiceView>,
    mut changed: impl FnMut(&ServiceView),
) {
    loop {
        match d.resolve(service).await {
            Ok(r) => {
                let differs = {
                    let v = view.borrow();
                    v.instances.values().ne(r.instances.iter())
                };
                view.borrow_mut().reset(r);
                if differs {
                    changed(&view.borrow());
                }
            }
            Err(_) => {
                rt.sleep(retry).await;
                continue;
            }
        }
        // Watch until the history is gone.
        loop {
            let after = view.borrow().revision();
            let mut w = match d.watch(service, after).await {
                Ok(w) => w,
                Err(DiscoveryError::Compacted { .. }) => break,
                Err(_) => {
                    rt.sleep(retry).await;
                    continue;
                }
            };
            let e = loop {
                match w.next().await {
                    Ok(e) => {
                        let did = view.borrow_mut().apply(&e);
                        if did {
                            changed(&view.borrow());
                        }
                    }
                    Err(e) => break e,
                }
            };
            if matches!(e, DiscoveryError::Compacted { .. }) {
                break;
            }
            rt.sleep(retry).await;
        }
    }
}

/// How an agent keeps its instance registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The lease TTL.
    pub ttl: Duration,
    /// Keepalive period (etcd's client uses TTL/3).
    pub every: Duration,
    /// Wait before retrying a failed registration.
    pub retry: Duration,
}

/// What an agent did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AgentStats {
    /// Successful registrations (the first one and every re-registration).
    pub registered: u64,
    /// Keepalives answered.
    pub keepalives_ok: u64,
    /// Keepalives that failed for want of an answer.
    pub keepalives_failed: u64,
    /// Times the lease was found gone (expired or lost) and the instance re-registered.
    pub leases_lost: u64,
    /// The current lease.
    pub lease: Option<LeaseId>,
}

/// Registers `instance` and keeps it registered forever: keepalives every `reg.every`,
/// re-registration when the lease is gone (expired while partitioned, registry restarted).
pub async fn keep_registered<D: Discovery, R: Runtime>(
    d: &D,
    rt: &R,
    instance: &Instance,
    reg: Registration,
    stats: &RefCell<AgentStats>,
) {
    loop {
        let lease = match d.register(instance, reg.ttl).await {
            Ok(l) => l,
            Err(_) => {
                rt.sleep(reg.retry).await;
                continue;
            }
        };
        {
            let mut s = stats.borrow_mut();
            s.registered += 1;
            s.lease = Some(lease.id);
        }
        loop {
            rt.sleep(reg.every).await;
            match d.keepalive(lease.id).await {
                Ok(_) => stats.borrow_mut().keepalives_ok += 1,
                Err(DiscoveryError::LeaseNotFound) => {
                    let mut s = stats.borrow_mut();
                    s.leases_lost += 1;
                    s.lease = None;
                    break;
                }
                Err(_) => stats.borrow_mut().keepalives_failed += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(rev: u64, id: &str) -> WatchEvent {
        WatchEvent {
            revision: Revision(rev),
            change: Change::Put(Instance::new("s", id, "10.0.0.1:1".parse().unwrap())),
        }
    }

    #[test]
    fn a_view_applies_each_change_once() {
        let mut v = ServiceView::default();
        v.reset(Resolved {
            instances: vec![Instance::new("s", "a", "10.0.0.1:1".parse().unwrap())],
            revision: Revision(5),
        });
        assert!(
            !v.apply(&put(5, "b")),
            "at the resolve's revision: already in"
        );
        assert!(v.apply(&put(6, "b")));
        assert!(!v.apply(&put(6, "b")), "duplicate");
        assert!(!v.apply(&put(7, "b")), "same instance again is no change");
        let del = WatchEvent {
            revision: Revision(8),
            change: Change::Delete {
                service: "s".into(),
                id: "a".into(),
            },
        };
        assert!(v.apply(&del));
        assert_eq!(
            v.instances().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
        assert_eq!(v.revision(), Revision(8));
        assert!(v.contains("b") && !v.contains("a"));
    }
}
