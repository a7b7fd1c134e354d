//! The discovery contract every implementation offers (the simulated registry's client here,
//! etcd in `testbed-scenarios`). Futures are not `Send`: runtimes are single-threaded.

use super::types::{DiscoveryError, Instance, Lease, LeaseId, Resolved, Revision, WatchEvent};
use testbed_model::Duration;

/// Register, keep alive, deregister, resolve and watch service instances.
///
/// Semantics shared by every implementation (the conformance suite checks them):
/// - an instance registered under a lease disappears within `ttl` plus one reaper tick of
///   the lease's last keepalive;
/// - revoking a lease deletes its instances and watchers see a delete for each;
/// - `resolve` returns the instances and the revision they are current at, and
///   `watch(service, revision)` yields every later change exactly once, in order.
#[allow(async_fn_in_trait)] // single-threaded runtimes: no `Send` bound wanted
pub trait Discovery {
    /// A stream of changes.
    type Watch: Watch;

    /// Grants a lease of `ttl` and registers `instance` under it.
    /// Errors: `TtlTooShort`/`TtlTooLong`, `Limit`, `Unavailable`.
    async fn register(&self, instance: &Instance, ttl: Duration) -> Result<Lease, DiscoveryError>;

    /// Renews `lease`; returns the TTL it was renewed for.
    /// Errors: `LeaseNotFound` (expired, revoked or lost), `Unavailable`.
    async fn keepalive(&self, lease: LeaseId) -> Result<Duration, DiscoveryError>;

    /// Deregisters one instance; returns the revision of the delete.
    /// Errors: `NotFound`, `Unavailable`.
    async fn deregister(&self, service: &str, id: &str) -> Result<Revision, DiscoveryError>;

    /// Revokes `lease`, deleting every instance under it; returns the revision after.
    /// Errors: `LeaseNotFound`, `Unavailable`.
    async fn revoke(&self, lease: LeaseId) -> Result<Revision, DiscoveryError>;

    /// The instances of `service`, sorted by id, and the revision they are current at.
    /// Errors: `Limit` (bad name), `Unavailable`.
    async fn resolve(&self, service: &str) -> Result<Resolved, DiscoveryError>;

    /// Changes to `service` with revisions above `after`.
    /// Errors: `Compacted` (history gone: resolve again), `Unavailable`.
    async fn watch(&self, service: &str, after: Revision) -> Result<Self::Watch, DiscoveryError>;
}

/// A stream of [`WatchEvent`]s in revision order.
#[allow(async_fn_in_trait)]
pub trait Watch {
    /// The next change. After an error the watch is finished: watch again after the last
    /// revision seen (or resolve again on `Compacted`).
    async fn next(&mut self) -> Result<WatchEvent, DiscoveryError>;
}
