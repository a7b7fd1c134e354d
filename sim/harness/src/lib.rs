//! testbed-harness: simulator test machinery that knows nothing of scenarios — fault schedules
//! and swarm testing, seed sweeps, coverage-guided exploration, schedule shrinking, determinism
//! checks, seed ranges. Depends only on testbed-sim and testbed-model among the testbed crates, so
//! any crate's tests can use it.
//!
//! # Swarm testing your own service from `cargo test`
//!
//! Name your hosts in a [`Swarm`], then hand [`check_swarm`] a check that builds the `Sim`
//! for one seed, applies the schedule that seed drew and checks the invariants:
//!
//! ```
//! use testbed_harness::{check_swarm, FaultKind, Swarm};
//! use testbed_model::{Duration, Runtime};
//! use testbed_sim::{LinkConfig, Sim, SimConfig};
//!
//! let swarm = Swarm::new(["server", "client"])
//!     .crashable(["server"])
//!     .kinds([FaultKind::Partition, FaultKind::Crash, FaultKind::Loss])
//!     .run_for(Duration::from_secs(2));
//! check_swarm(0..20, &swarm, |seed, schedule| {
//!     let mut sim = Sim::new(SimConfig { seed, ..Default::default() });
//!     sim.host("server", |_h| async {});
//!     let until = schedule.end() + Duration::from_millis(500);
//!     sim.client("client", move |h| async move {
//!         h.sleep(until).await;
//!         Ok(())
//!     });
//!     schedule.apply(&sim, &LinkConfig::default());
//!     sim.run().map(|_| ())
//! });
//! ```
//!
//! The seeds run on worker threads, so the check is `Fn + Sync` and builds its `Sim` inside.
//! The smallest failing seed is reported whatever the thread count. Its schedule is shrunk
//! (ddmin, then each event made earlier, shorter and milder) with the same check, and the test
//! panics once with the seed, the minimal schedule as one line of JSON, the error, and the
//! command that replays exactly that run:
//!
//! ```text
//! seed 3 failed: stale read: wrote version 41, read version 40
//! minimal schedule (1 of 6 events, 23 shrink runs): {"events":[{"at_ms":0,...}]}
//! replay: TESTBED_SEED=3 TESTBED_SCHEDULE='{"events":[...]}' cargo test -p my-kv --test swarm -- --exact kv_survives_the_swarm
//! ```
//!
//! [`SwarmCheck`] is the builder behind [`check_swarm`] (threads, shrink budget, a
//! non-panicking [`SwarmCheck::try_run`]). Environment variables:
//!
//! | variable | effect |
//! |---|---|
//! | `TESTBED_SEED=n` | run only seed `n` (its drawn schedule, shrunk on failure) |
//! | `TESTBED_SCHEDULE='<json>'` or `=@file` | with `TESTBED_SEED`: run exactly this schedule |
//! | `TESTBED_SEEDS=n`, `TESTBED_SEED_START=s` | run `n` seeds from `s` instead of the test's range |
//! | `TESTBED_JOBS=n` | worker threads (default: the machine's parallelism) |
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod check;
pub mod determinism;
pub mod explore;
pub mod faults;
#[doc(hidden)]
pub mod fuzzing;
pub mod replay;
pub mod seeds;
pub mod shrink;
pub mod swarm;
pub mod sweep;

pub use check::{check_swarm, CheckError, Checked, Failure, SwarmCheck};
pub use faults::{Fault, FaultEvent, FaultKind, FaultSchedule};
pub use replay::Replay;
pub use swarm::{Swarm, SwarmError};
