//! testbed-tracing: a `tracing-subscriber` layer ([`SimLayer`]) that stamps every event and
//! span with the simulated time and the simulated host whose task emitted it, as human lines
//! or JSON lines, filtered by `RUST_LOG`-style directives. It never reads the wall clock and
//! never changes a run: the same seed gives the same lines, byte for byte.
//!
//! ```
//! use testbed_sim::{Sim, SimConfig};
//! use testbed_tracing::{filter, subscriber, Format, SimLayer};
//!
//! let (layer, lines) = SimLayer::captured(Format::Human, 10_000);
//! let _guard = tracing::subscriber::set_default(subscriber(layer, filter("info").unwrap()));
//! let mut sim = Sim::new(SimConfig { seed: 1, ..Default::default() });
//! sim.client("client-1", |_h| async move {
//!     tracing::info!(id = 4, "sent");
//!     Ok(())
//! });
//! sim.run().unwrap();
//! assert_eq!(lines.text(), "[  0.000000s client-1]  INFO rust_out: sent id=4\n");
//! ```

mod capture;
mod fields;
mod interest;
mod layer;
mod merge;

pub use capture::{Captured, Line};
pub use fields::{FIELDS_BYTES_MAX, VALUE_BYTES_MAX};
pub use layer::{Format, SimLayer};
pub use merge::write_jsonl_merged;
pub use tracing_subscriber::filter::Targets;

pub use tracing_core::dispatcher::DefaultGuard;
use tracing_core::Subscriber;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// The environment variables [`filter_from_env`] reads, first set one first.
pub const ENV_VARS: [&str; 2] = ["TESTBED_LOG", "RUST_LOG"];

/// Directives that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// Not `level`, `target=level` or a comma-separated list of those.
    #[error("bad tracing filter {directives:?}: {message} (expected e.g. \"info\" or \"warn,testbed_protocols=debug\")")]
    Parse {
        /// The directives as given.
        directives: String,
        /// The parser's complaint.
        message: String,
    },
}

/// Parses `RUST_LOG`-style directives: `info`, `testbed_sim::fault=info,warn`, `off`.
/// (Targets and levels; span and field directives are not supported.)
pub fn filter(directives: &str) -> Result<Targets, FilterError> {
    directives.parse().map_err(|e| FilterError::Parse {
        directives: directives.to_owned(),
        message: format!("{e}"),
    })
}

/// The filter from `TESTBED_LOG`, else `RUST_LOG`; `Ok(None)` when neither is set (or set
/// to the empty string).
pub fn filter_from_env() -> Result<Option<Targets>, FilterError> {
    let Some(directives) = ENV_VARS
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
    else {
        return Ok(None);
    };
    filter(&directives).map(Some)
}

/// A subscriber of `layer` behind `filter`, to install with
/// `tracing::subscriber::set_default` (this thread, until the guard drops) or
/// `with_default`.
pub fn subscriber(layer: SimLayer, filter: Targets) -> impl Subscriber + Send + Sync {
    tracing_subscriber::registry().with(layer.with_filter(filter))
}

/// Installs [`subscriber`]`(layer, filter)` as this thread's default until the guard drops
/// (simulations run on the thread that calls `Sim::run`).
#[must_use = "the subscriber is uninstalled when the guard drops"]
pub fn set_default(layer: SimLayer, filter: Targets) -> DefaultGuard {
    tracing_core::dispatcher::set_default(&tracing_core::Dispatch::new(subscriber(layer, filter)))
}
