//! The data discovery deals in: instances, leases, revisions, watch events, and the one error
//! type every operation returns.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use testbed_model::Duration;

/// A lease: instances registered under it live while it is kept alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeaseId(pub u64);

impl fmt::Display for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lease-{:x}", self.0)
    }
}

/// A point in the registry's history. Every change gets a larger revision than the one
/// before; watching "after revision r" yields exactly the changes with revisions above r.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision(pub u64);

/// One registered instance of a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// The service's name, e.g. `orders`.
    pub service: String,
    /// The instance's name, unique within its service (e.g. `orders-3`).
    pub id: String,
    /// Where it serves.
    pub addr: SocketAddr,
    /// Free-form labels (zone, version, weight).
    pub metadata: BTreeMap<String, String>,
}

impl Instance {
    /// An instance without metadata.
    pub fn new(service: &str, id: &str, addr: SocketAddr) -> Instance {
        Instance {
            service: service.into(),
            id: id.into(),
            addr,
            metadata: BTreeMap::new(),
        }
    }
}

/// A lease granted by [`crate::discovery::Discovery::register`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// Its id.
    pub id: LeaseId,
    /// The TTL the registry granted (etcd rounds up to whole seconds).
    pub ttl: Duration,
    /// The revision of the registration.
    pub revision: Revision,
}

/// What a resolve returns: the instances and the revision they are current at. Watching
/// after that revision yields every later change, none missed, none twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// Instances sorted by id.
    pub instances: Vec<Instance>,
    /// The registry's revision when it answered.
    pub revision: Revision,
}

/// A change to a service's instances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// An instance was registered or its registration replaced.
    Put(Instance),
    /// An instance went away (deregistered, its lease revoked or expired).
    Delete {
        /// The service.
        service: String,
        /// The instance's id.
        id: String,
    },
}

impl Change {
    /// The service the change is about.
    pub fn service(&self) -> &str {
        match self {
            Change::Put(i) => &i.service,
            Change::Delete { service, .. } => service,
        }
    }
    /// The instance id the change is about.
    pub fn id(&self) -> &str {
        match self {
            Change::Put(i) => &i.id,
            Change::Delete { id, .. } => id,
        }
    }
}

/// A change and its revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// The revision of the change.
    pub revision: Revision,
    /// What changed.
    pub change: Change,
}

/// Why a discovery operation failed. One enum for all operations: they share a transport and
/// so their failure modes; each operation's docs say which variants it returns.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The TTL asked for is below the registry's minimum.
    #[error("ttl {asked:?} is below the minimum {min:?}")]
    TtlTooShort {
        /// Asked for.
        asked: Duration,
        /// The minimum.
        min: Duration,
    },
    /// The TTL asked for is above the registry's maximum.
    #[error("ttl {asked:?} is above the maximum {max:?}")]
    TtlTooLong {
        /// Asked for.
        asked: Duration,
        /// The maximum.
        max: Duration,
    },
    /// No such lease: it expired, was revoked, or the registry restarted and lost it.
    #[error("lease not found")]
    LeaseNotFound,
    /// No such instance.
    #[error("instance not found")]
    NotFound,
    /// A name, metadata or count is over its limit (the limit is named).
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// The history after the asked revision is gone (compacted, or the registry restarted
    /// and lost it): resolve again and watch after the new revision.
    #[error("revision {asked:?} is compacted (oldest kept change is after {oldest:?})")]
    Compacted {
        /// Asked for.
        asked: Revision,
        /// The history starts after this revision.
        oldest: Revision,
    },
    /// The registry could not be reached or did not answer in time (transport error,
    /// timeout, closed watch).
    #[error("registry unavailable: {0}")]
    Unavailable(String),
    /// The registry answered with something this client does not understand.
    #[error("protocol violation: {0}")]
    Protocol(String),
}
