//! The registry core: leases, instances, revisions and the reaper, as a sans-IO state
//! machine. Inputs are `handle_*(now, ...)`; the reaper runs on `handle_timeout(now)` at the
//! instants `poll_timeout()` names.
//!
//! Lease semantics follow etcd: a lease expires `ttl` after its last keepalive, and the
//! reaper, which runs at every multiple of `tick` since the epoch, deletes an expired
//! lease's instances at its first run at or after the expiry, so an instance disappears
//! within `ttl + tick` of its last keepalive. Revoking a lease deletes its instances at once.
//! Every change gets the next revision and goes into the watch history.
//!
//! A fresh registry numbers its revisions and lease ids from its start time in nanoseconds,
//! so both keep growing across a restart that lost the state: an old lease is never
//! mistaken for a new one, and a watcher resuming from an old revision is told `Compacted`.

use super::history::History;
use super::limits::Limits;
use super::preservation::SelfPreservation;
use super::types::{
    Change, DiscoveryError, Instance, Lease, LeaseId, Resolved, Revision, WatchEvent,
};
use std::collections::{BTreeMap, BTreeSet};
use testbed_model::{Duration, Instant};

/// The `tracing` target of registrations, deregistrations and lease expiries (INFO events).
pub const TRACE_TARGET: &str = "testbed_distributed::discovery";

/// Registry settings.
#[derive(Clone, Debug, PartialEq)]
pub struct RegistryConfig {
    /// Size limits and the TTL range.
    pub limits: Limits,
    /// The reaper's period (etcd checks expired leases every 500 ms).
    pub tick: Duration,
    /// Eureka-style self-preservation (off by default, as in etcd).
    pub self_preservation: Option<SelfPreservation>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            limits: Limits::default(),
            tick: Duration::from_millis(100),
            self_preservation: None,
        }
    }
}

#[derive(Clone, Debug)]
struct LeaseState {
    ttl: Duration,
    last_renewal: Instant,
    keys: BTreeSet<(String, String)>,
}

impl LeaseState {
    fn expiry(&self) -> Instant {
        self.last_renewal.saturating_add(self.ttl)
    }
}

/// Counters for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegistryStats {
    /// Leases granted.
    pub granted: u64,
    /// Keepalives accepted.
    pub renewed: u64,
    /// Leases the reaper expired.
    pub expired: u64,
    /// Leases revoked by their owners.
    pub revoked: u64,
    /// Reaper runs that found self-preservation on (expiry suspended).
    pub protected_ticks: u64,
    /// Expired leases kept because of self-preservation (counted per reaper run).
    pub expiries_suspended: u64,
}

/// The registry state machine.
#[derive(Clone, Debug)]
pub struct Registry {
    cfg: RegistryConfig,
    leases: BTreeMap<LeaseId, LeaseState>,
    instances: BTreeMap<(String, String), (Instance, LeaseId)>,
    revision: Revision,
    next_lease: u64,
    history: History,
    next_tick: Instant,
    protected: bool,
    stats: RegistryStats,
}

impl Registry {
    /// A registry starting at `now`.
    ///
    /// # Panics
    /// If `cfg.tick` is zero.
    pub fn new(now: Instant, cfg: RegistryConfig) -> Registry {
        assert!(!cfg.tick.is_zero(), "registry tick must be positive");
        let base = Revision(now.as_nanos());
        Registry {
            history: History::new(cfg.limits.history_max.max(1), base),
            next_tick: align_after(now, cfg.tick),
            cfg,
            leases: BTreeMap::new(),
            instances: BTreeMap::new(),
            revision: base,
            next_lease: now.as_nanos() + 1,
            protected: false,
            stats: RegistryStats::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &RegistryConfig {
        &self.cfg
    }

    /// The revision of the latest change.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// Counters.
    pub fn stats(&self) -> RegistryStats {
        self.stats
    }

    /// Whether self-preservation suspended expiry at the last reaper run.
    pub fn is_protected(&self) -> bool {
        self.protected
    }

    /// Live leases.
    pub fn lease_count(&self) -> usize {
        self.leases.len()
    }

    /// Grants a lease of `ttl`, renewed as of `now`.
    pub fn handle_grant(&mut self, now: Instant, ttl: Duration) -> Result<Lease, DiscoveryError> {
        self.cfg.limits.check_ttl(ttl)?;
        if self.leases.len() >= self.cfg.limits.leases_max {
            return Err(DiscoveryError::Limit("leases_max".into()));
        }
        let id = LeaseId(self.next_lease);
        self.next_lease += 1;
        self.leases.insert(
            id,
            LeaseState {
                ttl,
                last_renewal: now,
                keys: BTreeSet::new(),
            },
        );
        self.stats.granted += 1;
        Ok(Lease {
            id,
            ttl,
            revision: self.revision,
        })
    }

    /// Renews `lease` as of `now`; returns its TTL. An expired lease the reaper has not
    /// deleted yet is renewed (as in etcd, expiry is the reaper's decision).
    pub fn handle_keepalive(
        &mut self,
        now: Instant,
        lease: LeaseId,
    ) -> Result<Duration, DiscoveryError> {
        let l = self
            .leases
            .get_mut(&lease)
            .ok_or(DiscoveryError::LeaseNotFound)?;
        l.last_renewal = l.last_renewal.max(now);
        self.stats.renewed += 1;
        Ok(l.ttl)
    }

    /// Registers `instance` under `lease` (replacing a registration with the same service
    /// and id, which moves to the new lease).
    pub fn handle_put(
        &mut self,
        _now: Instant,
        lease: LeaseId,
        instance: Instance,
    ) -> Result<Revision, DiscoveryError> {
        self.cfg.limits.check_instance(&instance)?;
        if !self.leases.contains_key(&lease) {
            return Err(DiscoveryError::LeaseNotFound);
        }
        let key = (instance.service.clone(), instance.id.clone());
        let old = self.instances.get(&key).map(|(_, l)| *l);
        if old.is_none() && self.instances.len() >= self.cfg.limits.instances_max {
            return Err(DiscoveryError::Limit("instances_max".into()));
        }
        if let Some(old) = old {
            if let Some(l) = self.leases.get_mut(&old) {
                l.keys.remove(&key);
            }
        }
        self.leases
            .get_mut(&lease)
            .expect("checked")
            .keys
            .insert(key.clone());
        tracing::info!(
            target: TRACE_TARGET,
            service = %instance.service,
            id = %instance.id,
            addr = %instance.addr,
            lease = lease.0,
            "register"
        );
        self.instances.insert(key, (instance.clone(), lease));
        Ok(self.record(Change::Put(instance)))
    }

    /// Deregisters an instance.
    pub fn handle_delete(
        &mut self,
        _now: Instant,
        service: &str,
        id: &str,
    ) -> Result<Revision, DiscoveryError> {
        let key = (service.to_string(), id.to_string());
        let (_, lease) = self
            .instances
            .remove(&key)
            .ok_or(DiscoveryError::NotFound)?;
        if let Some(l) = self.leases.get_mut(&lease) {
            l.keys.remove(&key);
        }
        tracing::info!(target: TRACE_TARGET, service = %key.0, id = %key.1, "deregister");
        Ok(self.record(Change::Delete {
            service: key.0,
            id: key.1,
        }))
    }

    /// Revokes `lease`, deleting its instances (one change each). Returns the revision after.
    pub fn handle_revoke(
        &mut self,
        _now: Instant,
        lease: LeaseId,
    ) -> Result<Revision, DiscoveryError> {
        if !self.leases.contains_key(&lease) {
            return Err(DiscoveryError::LeaseNotFound);
        }
        self.drop_lease(lease);
        self.stats.revoked += 1;
        Ok(self.revision)
    }

    /// The instances of `service` (sorted by id) and the current revision.
    pub fn resolve(&self, service: &str) -> Resolved {
        let from = (service.to_string(), String::new());
        Resolved {
            instances: self
                .instances
                .range(from..)
                .take_while(|((s, _), _)| s == service)
                .map(|(_, (i, _))| i.clone())
                .collect(),
            revision: self.revision,
        }
    }

    /// Up to `max` changes of `service` after revision `after`, oldest first.
    pub fn changes_since(
        &self,
        service: &str,
        after: Revision,
        max: usize,
    ) -> Result<Vec<WatchEvent>, DiscoveryError> {
        if after > self.revision {
            // A revision from the future: from another registry incarnation we cannot
            // relate to ours. Treat as compacted so the watcher re-resolves.
            return Err(DiscoveryError::Compacted {
                asked: after,
                oldest: self.revision,
            });
        }
        self.history.since(service, after, max)
    }

    /// When the reaper next wants to run (`None` with no leases).
    pub fn poll_timeout(&self) -> Option<Instant> {
        (!self.leases.is_empty()).then_some(self.next_tick)
    }

    /// Runs the reaper if its tick has come (a spurious call is a no-op).
    pub fn handle_timeout(&mut self, now: Instant) {
        if now < self.next_tick {
            return;
        }
        self.next_tick = align_after(now, self.cfg.tick);
        self.protected = match &self.cfg.self_preservation {
            // Only leases holding instances count: an agent that re-registered leaves its
            // old, empty lease behind, and that must not keep protection on forever.
            Some(sp) => sp.protect(
                now,
                self.leases
                    .values()
                    .filter(|l| !l.keys.is_empty())
                    .map(|l| l.last_renewal),
            ),
            None => false,
        };
        let expired: Vec<LeaseId> = self
            .leases
            .iter()
            .filter(|(_, l)| l.expiry() <= now)
            .map(|(id, _)| *id)
            .collect();
        if self.protected {
            self.stats.protected_ticks += 1;
            self.stats.expiries_suspended += expired.len() as u64;
            return;
        }
        for id in expired {
            tracing::info!(target: TRACE_TARGET, lease = id.0, "lease expired");
            self.drop_lease(id);
            self.stats.expired += 1;
        }
    }

    fn drop_lease(&mut self, lease: LeaseId) {
        let l = self.leases.remove(&lease).expect("caller checked");
        for key in l.keys {
            self.instances.remove(&key);
            self.record(Change::Delete {
                service: key.0,
                id: key.1,
            });
        }
    }

    fn record(&mut self, change: Change) -> Revision {
        self.revision = Revision(self.revision.0 + 1);
        self.history.push(WatchEvent {
            revision: self.revision,
            change,
        });
        self.revision
    }
}

/// The first multiple of `tick` strictly after `now`.
fn align_after(now: Instant, tick: Duration) -> Instant {
    let t = tick.as_nanos() as u64;
    Instant::from_nanos((now.as_nanos() / t + 1).saturating_mul(t))
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
