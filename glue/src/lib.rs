//! testbed-glue: runs the tokio ecosystem's HTTP stack (hyper 1.x, hyper-util clients, axum
//! routers, tonic services and channels) over any testbed-model `Runtime` and `Net`, so the
//! same service runs in the simulator and on real backends. It never touches tokio's reactor,
//! timer or spawner and never reads the real clock except once for a base `std::time::Instant`.
//!
//! Everything lives behind the `hyper` feature (and `tonic` for [`tonic::channel`]); with
//! default features this crate is empty. See `docs/your-own-service.md` for what to use
//! instead of `axum::serve`, tonic's `Server`, `Endpoint::connect` and `tokio::time`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "hyper")]
mod connect;
#[cfg(feature = "hyper")]
mod date;
#[cfg(feature = "hyper")]
mod exec;
#[cfg(feature = "hyper")]
mod io;
#[cfg(feature = "hyper")]
mod serve;
#[cfg(feature = "hyper")]
mod timer;
#[cfg(feature = "tonic")]
pub mod tonic;

#[cfg(feature = "hyper")]
pub use connect::{ConnectError, Connector};
#[cfg(feature = "hyper")]
pub use date::{http_date, wall_time, DateHeader, DateLayer};
#[cfg(feature = "hyper")]
pub use exec::Exec;
#[cfg(feature = "hyper")]
pub use io::Io;
#[cfg(feature = "hyper")]
pub use serve::{serve, ServeConfig, ServeError, ServeStats, Shutdown, ShutdownTrigger};
#[cfg(feature = "hyper")]
pub use timer::Timer;
