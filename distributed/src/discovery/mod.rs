//! Service discovery: register an instance under a lease with a TTL, keep it alive, deregister,
//! resolve, and watch changes by revision (resumable). Lease semantics follow etcd (an
//! instance disappears within TTL plus one reaper tick of its last keepalive; revoking a
//! lease deletes its instances with delete events; a minimum TTL is enforced), with optional
//! Eureka-style self-preservation.
//!
//! - [`Discovery`] / [`Watch`]: the contract (the etcd implementation lives in
//!   `testbed-scenarios`, which may do real I/O).
//! - [`Registry`]: the registry core, a sans-IO state machine.
//! - [`codec`], [`serve`], [`RegistryClient`]: the simulated registry as a network service.
//! - [`follow`], [`keep_registered`]: what clients and instances run on top of any
//!   implementation.

mod api;
mod client;
pub mod codec;
pub mod conformance;
mod follow;
mod history;
mod io;
mod limits;
mod notify;
mod preservation;
mod registry;
mod server;
mod types;

pub use api::{Discovery, Watch};
pub use client::{ClientConfig, RegistryClient, RegistryWatch};
pub use follow::{follow, keep_registered, AgentStats, Registration, ServiceView};
pub use history::History;
pub use limits::Limits;
pub use preservation::SelfPreservation;
pub use registry::{Registry, RegistryConfig, RegistryStats};
pub use server::{serve, RegistryServer, ServerConfig};
pub use types::{Change, DiscoveryError, Instance, Lease, LeaseId, Resolved, Revision, WatchEvent};
