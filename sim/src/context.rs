//! Who and when, for observers: the simulated time and the host whose task is being polled,
//! readable from the thread running a simulation (a `tracing` layer stamps its lines with
//! them). Nothing here reads a real clock; observers only read, so a run with observers is the
//! same run as without.

use crate::host::Shared;
use crate::world::{HostId, NO_HOST};
use std::cell::{Cell, RefCell};
use std::sync::Arc;
use testbed_model::Instant;

/// The simulation running on this thread, while [`Sim::run`](crate::Sim::run) runs.
struct Running {
    shared: Arc<Shared>,
    /// Host names by index, copied when the run (or step) started: hosts are only added
    /// between runs.
    names: Vec<String>,
}

thread_local! {
    static RUNNING: RefCell<Option<Running>> = const { RefCell::new(None) };
    static HOST: Cell<HostId> = const { Cell::new(NO_HOST) };
}

/// When and where something happened in a simulation, as seen from the code running now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stamp<'a> {
    /// Global simulated time (the time of trace events), or `None` when it cannot be read
    /// without blocking (the caller runs inside the simulator's own bookkeeping).
    pub time: Option<Instant>,
    /// How many trace events the run had recorded by then (places the line among them), or
    /// `None` with `time`.
    pub trace_events: Option<u64>,
    /// The host whose task is being polled (or dropped), or `None` outside tasks (a fault
    /// scheduled with [`Sim::at`](crate::Sim::at), the run loop itself).
    pub host: Option<&'a str>,
}

/// Calls `f` with the current stamp, or with `None` when no simulation runs on this thread.
/// Cheap: two thread-local reads and one uncontended `try_lock`.
///
/// ```
/// use testbed_sim::{context, Sim, SimConfig};
/// assert_eq!(context::with_stamp(|s| s.is_none()), true); // not inside a run
/// let mut sim = Sim::new(SimConfig::default());
/// sim.client("c", |_h| async move {
///     let host = context::with_stamp(|s| s.and_then(|s| s.host).map(str::to_owned));
///     assert_eq!(host.as_deref(), Some("c"));
///     Ok(())
/// });
/// sim.run().unwrap();
/// ```
pub fn with_stamp<R>(f: impl FnOnce(Option<Stamp<'_>>) -> R) -> R {
    let host = HOST.with(Cell::get);
    RUNNING.with(|r| {
        let r = r.borrow();
        let Some(run) = r.as_ref() else {
            return f(None);
        };
        let (time, trace_events) = match run.shared.world.try_lock() {
            Ok(w) => (Some(w.now), Some(w.trace.len())),
            Err(std::sync::TryLockError::Poisoned(p)) => {
                let w = p.into_inner();
                (Some(w.now), Some(w.trace.len()))
            }
            Err(std::sync::TryLockError::WouldBlock) => (None, None),
        };
        let host = (host != NO_HOST)
            .then(|| run.names.get(host as usize).map(String::as_str))
            .flatten();
        f(Some(Stamp {
            time,
            trace_events,
            host,
        }))
    })
}

/// Marks `shared` as the simulation running on this thread until the guard drops.
pub(crate) struct RunningGuard {
    prev: Option<Running>,
    prev_host: HostId,
}

pub(crate) fn enter(shared: &Arc<Shared>) -> RunningGuard {
    let names = crate::host::lock(shared)
        .hosts
        .iter()
        .map(|h| h.name.clone())
        .collect();
    let run = Running {
        shared: shared.clone(),
        names,
    };
    RunningGuard {
        prev: RUNNING.with(|r| r.borrow_mut().replace(run)),
        prev_host: set_host(NO_HOST),
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        // Dropped outside the borrow: the last handle's destructors may ask for a stamp.
        let ended = RUNNING.with(|r| std::mem::replace(&mut *r.borrow_mut(), prev));
        drop(ended);
        set_host(self.prev_host);
    }
}

/// Sets the host whose code runs now; returns the previous one (to restore).
#[inline]
pub(crate) fn set_host(host: HostId) -> HostId {
    HOST.with(|h| h.replace(host))
}
