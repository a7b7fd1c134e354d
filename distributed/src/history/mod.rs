//! Histories of client operations and a linearizability checker for them.
//!
//! Record what clients asked and saw with a [`Recorder`] (simulated times in, no clock
//! reads), then [`check`] the [`History`] against a [`Model`]: a Wing–Gong/Lowe search with
//! P-compositionality (one search per partition, e.g. per key) and memoization of
//! (linearized set, state) pairs, as porcupine does. Operations whose result the client never
//! saw are indeterminate: possibly applied, at any time after their call. The search is
//! bounded ([`CheckOptions`]); a failure comes with a [`Counterexample`] and an SVG of it.
//!
//! ```
//! use testbed_distributed::history::models::{KvInput, KvModel, KvOp, KvOutput};
//! use testbed_distributed::history::{check, counterexample_svg, CheckOptions, Recorder};
//! use testbed_model::Instant;
//!
//! let rec: Recorder<KvInput, KvOutput> = Recorder::new(100_000);
//! let ms = Instant::from_millis;
//! // Client 0 writes x=1 (1..3 ms); client 1 then reads x (4..5 ms) and sees nothing: stale.
//! let put = KvInput { key: "x".into(), op: KvOp::Put("1".into()) };
//! let w = rec.invoke(0, put, ms(1)).unwrap();
//! rec.ok(w, KvOutput::Done, ms(3)).unwrap();
//! let r = rec.invoke(1, KvInput { key: "x".into(), op: KvOp::Get }, ms(4)).unwrap();
//! rec.ok(r, KvOutput::Value(String::new()), ms(5)).unwrap();
//! // Client 2 timed out: its put may or may not have happened.
//! rec.invoke(2, KvInput { key: "y".into(), op: KvOp::Put("9".into()) }, ms(2)).unwrap();
//!
//! let history = rec.history();
//! let report = check(&KvModel, &history, &CheckOptions::default()).unwrap();
//! let cx = report.verdict.counterexample().expect("a stale read");
//! assert_eq!(cx.stuck, 1); // the get
//! println!("{cx}");
//! let svg = counterexample_svg(&KvModel, &history, cx, 200);
//! assert!(svg.contains("<svg"));
//! ```

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
