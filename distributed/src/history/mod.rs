//! Histories of client operations and a linearizability checker for them.
//!
//! Record what clients asked and saw with a [`Recorder`] (simulated times in, no clock
//! reads), then [`check`] the [`History`] against a [`Model`]: a Wing–Gong/Lowe search with
//! P-compositionality (one search per partition, e.g. per key) and memoization of
//! (linearized set, state) pairs, as porcupine does. Operations whose result the client never
//! saw are indeterminate: possibly applied, at any time after their call. The search is
//! bounded ([`CheckOptions`]); a failure comes with a [`Counterexample`] and an SVG of it.

mod check;
mod counterexample;
pub mod generate;
mod model;
pub mod models;
mod op;
mod recorder;
mod search;
mod svg;

pub use check::{check, CheckError, CheckOptions, CheckReport, UnknownReason, Verdict, MAX_OPS};
pub use counterexample::Counterexample;
pub use model::{Model, Step};
pub use op::{History, Op};
pub use recorder::{OpId, RecordError, Recorder};
pub use svg::counterexample_svg;
