//! Retries: backoff schedules with jitter drawn from the injected `Rng`, retry budgets (gRPC
//! A6 throttling and a TPS budget), deadlines that propagate, and hedging.

mod backoff;
mod budget;
mod deadline;

pub use backoff::{Backoff, Growth, Jitter, RetryPolicy};
pub use budget::{RetryThrottle, TpsBudget};
pub use deadline::{Deadline, Hedging};
