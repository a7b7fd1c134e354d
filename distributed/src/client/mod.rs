//! The resilient RPC client stack: what a caller wraps around every call to a service.
//!
//! Layers, innermost (nearest the wire) first — the order a request meets them is the
//! reverse, fallback outermost:
//!
//! 1. **resolve** ([`Resolve`]): the service's current instances (a static list, a watch fed
//!    with add/remove updates, or [`DiscoveredResolve`]: the view `discovery::follow` keeps);
//! 2. **balance**: any [`crate::balance::Balancer`] picks an instance;
//! 3. **per-instance circuit breaker and outlier ejection** ([`Outlier`]): an instance whose
//!    breaker is open, or that failed too often in a row, is taken out of picks until its
//!    wait has passed;
//! 4. **rate limit** (a [`crate::limit::TokenBucket`] per stack);
//! 5. **bulkhead** (at most `n` attempts in flight; rejects, never queues);
//! 6. **deadline**: an overall deadline per call and a timeout per attempt;
//! 7. **retry** with a jittered backoff and a retry budget ([`crate::retry::TpsBudget`]);
//! 8. **degradation / fallback** ([`FeaturePolicy`]): what to answer when the call fails
//!    or the service is degraded.
//!
//! [`Stack`] is the sans-IO core (`try_attempt(now, ..)` / `finish(now, ..)`); [`call`] is the
//! async driver over any `model::Runtime`; with feature `tower`, [`tower::ClientStackLayer`]
//! wraps it as a tower `Layer`. Every layer counts what it did in [`Metrics`].
//! Nothing here reads a clock or OS entropy: time is an argument, randomness a seed.

mod discovered;
mod driver;
mod feature;
mod metrics;
mod outlier;
mod resolve;
mod stack;
#[cfg(feature = "tower")]
pub mod tower;

pub use discovered::{DiscoveredResolve, DISCOVERED_IDS_MAX, WEIGHT_KEY};
pub use driver::{call, call_or_fallback, ClientError, Served};
pub use feature::{Action, FeaturePolicy};
pub use metrics::{BreakerMark, Metrics};
pub use outlier::{Outlier, OutlierConfig};
pub use resolve::{Change, Instance, Resolve, StaticResolve, WatchError, WatchResolve};
pub use stack::{Attempt, Call, Next, Rejected, RetryConfig, Stack, StackConfig};
