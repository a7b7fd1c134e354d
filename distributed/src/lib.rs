//! testbed-distributed: resilience and balancing policies — rate limiters, circuit breakers,
//! concurrency limits, retries and budgets, load balancers, degradation, service discovery —
//! as sans-IO cores (discovery adds async drivers over model's `Net` and `Runtime`), and the
//! resilient RPC client stack that composes them (`client`), and a linearizability checker
//! for recorded client histories (`history`).
//! Every decision takes `now: model::Instant` (and `&mut impl model::Rng` where it
//! randomises); nothing here reads a clock or OS entropy, so the simulator drives it exactly.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod balance;
pub mod breaker;
pub mod client;
pub mod concurrency;
pub mod ddos;
pub mod degrade;
pub mod discovery;
pub mod hash;
pub mod history;
pub mod limit;
pub mod retry;
#[cfg(feature = "tower")]
pub mod tower;
pub mod xdp;
