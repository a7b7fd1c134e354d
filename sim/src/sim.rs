//! [`Sim`]: build a world of hosts, run it to completion on virtual time, report.

use crate::config::{LinkConfig, SimConfig};
use crate::control::Control;
use crate::executor::{Exec, TaskPanic};
use crate::host::{lock, Host, Shared};
use crate::trace::{DropReason, Event, Kind};
use crate::world::{FaultFn, HostId, World, NO_HOST};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use testbed_model::rng::derive_seed;
use testbed_model::{Duration, Instant, Runtime, SeededRng};

/// The error a client future may return.
pub type BoxError = Box<dyn StdError>;

/// What a host runs at start and at every restart.
type InitFn = Rc<dyn Fn(Host) -> std::pin::Pin<Box<dyn Future<Output = ()>>>>;

type ClientFn =
    Box<dyn FnOnce(Host) -> std::pin::Pin<Box<dyn Future<Output = Result<(), BoxError>>>>>;

/// Why a run failed. Its `Display` names the seed and the replay command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A client future returned an error.
    #[error("client {host:?} failed at t={time}: {message} (seed {seed}; replay: {replay})")]
    Client {
        /// The client's host.
        host: String,
        /// The error's text.
        message: String,
        /// When.
        time: Instant,
        /// The run's seed.
        seed: u64,
        /// Replay command.
        replay: String,
    },
    /// Clients were unfinished but nothing could ever happen again.
    #[error("deadlock: clients {pending:?} blocked at t={blocked_since} (their last poll) and nothing is scheduled after t={time} (seed {seed}; replay: {replay})")]
    Deadlock {
        /// Unfinished clients.
        pending: Vec<String>,
        /// When the last event happened (global time).
        time: Instant,
        /// The latest global time at which one of the pending clients was polled: when they
        /// blocked for good.
        blocked_since: Instant,
        /// The run's seed.
        seed: u64,
        /// Replay command.
        replay: String,
    },
    /// `Sim::run` was called inside a tokio runtime (`#[tokio::test]`, `block_on`): tokio's
    /// timers and reactor would run on real time beside the simulator's virtual clock.
    #[error("Sim::run was called inside a tokio runtime ({flavor}); run simulations from a plain #[test] or fn main; {instead} (seed {seed}; replay: {replay})", instead = crate::guard::INSTEAD)]
    InsideTokio {
        /// The runtime's flavor (CurrentThread, MultiThread).
        flavor: String,
        /// The run's seed.
        seed: u64,
        /// Replay command.
        replay: String,
    },
    /// The time limit passed with clients unfinished.
    #[error("time limit {limit:?} reached with clients {pending:?} unfinished (seed {seed}; replay: {replay})")]
    TimeLimit {
        /// The limit.
        limit: Duration,
        /// Unfinished clients.
        pending: Vec<String>,
        /// The run's seed.
        seed: u64,
        /// Replay command.
        replay: String,
    },
}

/// What a finished run measured about itself.
#[derive(Debug, Clone)]
pub struct Report {
    /// The root seed.
    pub seed: u64,
    /// Global sim time when the run ended.
    pub end_time: Instant,
    /// Hash over every trace event.
    pub trace_hash: u64,
    /// Number of trace events.
    pub trace_events: u64,
    /// Task polls performed.
    pub polls: u64,
    /// The events, if `record_trace` was on.
    pub events: Option<Vec<Event>>,
    /// Host names by index (for rendering events).
    pub hosts: Vec<String>,
    /// Per host (same order as `hosts`): what its socket calls would have cost on a kernel.
    pub costs: Vec<testbed_model::CostCounters>,
}

struct ClientSlot {
    name: String,
    host: HostId,
    start: Option<ClientFn>,
    result: Rc<RefCell<Option<Result<(), String>>>>,
    /// Global time of the client task's latest poll (for the deadlock message).
    last_poll: Rc<Cell<Instant>>,
}

/// A deterministic simulation.
///
/// ```
/// use testbed_model::{Listener, Net, Runtime};
/// use testbed_sim::{Sim, SimConfig};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let mut sim = Sim::new(SimConfig { seed: 7, ..Default::default() });
/// sim.host("server", |h| async move {
///     let l = h.listen("0.0.0.0:7".parse().unwrap()).unwrap();
///     loop {
///         let (mut s, _) = l.accept().await.unwrap();
///         h.spawn(async move {
///             let mut buf = [0u8; 64];
///             while let Ok(n @ 1..) = s.read(&mut buf).await {
///                 s.write_all(&buf[..n]).await.unwrap();
///             }
///         });
///     }
/// });
/// sim.client("client", |h| async move {
///     let server = h.lookup("server").unwrap();
///     let mut s = h.connect((server, 7).into()).await?;
///     s.write_all(b"ping").await?;
///     let mut buf = [0u8; 4];
///     s.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"ping");
///     Ok(())
/// });
/// let report = sim.run().unwrap();
/// // Handshake (1 RTT) plus one round trip over 1 ms links: 4 ms of simulated time.
/// assert_eq!(report.end_time.as_nanos(), 4_000_000);
/// ```
pub struct Sim {
    shared: Arc<Shared>,
    exec: Rc<Exec>,
    clients: Vec<ClientSlot>,
    /// What each server-like host runs at start and at every restart.
    inits: BTreeMap<HostId, InitFn>,
    /// Clients whose result is in; `check_clients` scans only when this changed.
    settled: Rc<Cell<usize>>,
    checked: usize,
    /// Global time as of the latest event, for client tasks to note when they were polled
    /// without locking the world (time stands still while tasks run).
    now_seen: Rc<Cell<Instant>>,
    seed: u64,
    replay: String,
}

impl Sim {
    /// A new simulation with no hosts.
    pub fn new(cfg: SimConfig) -> Sim {
        assert!(
            cfg.min_rto <= cfg.max_rto,
            "SimConfig: min_rto {:?} is above max_rto {:?}",
            cfg.min_rto,
            cfg.max_rto
        );
        let seed = cfg.seed;
        let sched = cfg
            .perturb_schedule
            .then(|| SeededRng::new(derive_seed(seed, "sched")));
        let replay = cfg
            .replay_hint
            .clone()
            .unwrap_or_else(|| default_replay_hint(seed));
        Sim {
            shared: Arc::new(Shared {
                world: Mutex::new(World::new(cfg)),
                std_base: std_base(),
            }),
            exec: Exec::new(sched),
            clients: Vec::new(),
            inits: BTreeMap::new(),
            settled: Rc::new(Cell::new(0)),
            checked: 0,
            now_seen: Rc::new(Cell::new(Instant::ZERO)),
            seed,
            replay,
        }
    }

    /// The root seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    fn next_ip(&self) -> IpAddr {
        let n = lock(&self.shared).hosts.len() as u32 + 1;
        IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + n))
    }

    /// Adds a server-like host whose `init` runs at start and again at every restart. Hosts
    /// get addresses 10.0.0.1, 10.0.0.2, ... in the order they are added.
    pub fn host<F, Fut>(&mut self, name: &str, init: F) -> Host
    where
        F: Fn(Host) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let ip = self.next_ip();
        self.host_with_ip(name, ip, init)
    }

    /// Like [`Sim::host`] with an explicit address.
    pub fn host_with_ip<F, Fut>(&mut self, name: &str, ip: IpAddr, init: F) -> Host
    where
        F: Fn(Host) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let init: InitFn = Rc::new(move |h| Box::pin(init(h)));
        let id = lock(&self.shared).add_host(name.to_string(), ip, true);
        self.inits.insert(id, init);
        Host {
            shared: self.shared.clone(),
            id,
        }
    }

    /// Adds a host that runs `f` once; [`Sim::run`] returns when every client has finished
    /// and fails if one returns an error.
    pub fn client<F, Fut>(&mut self, name: &str, f: F) -> Host
    where
        F: FnOnce(Host) -> Fut + 'static,
        Fut: Future<Output = Result<(), BoxError>> + 'static,
    {
        let ip = self.next_ip();
        let id = lock(&self.shared).add_host(name.to_string(), ip, false);
        self.clients.push(ClientSlot {
            name: name.to_string(),
            host: id,
            start: Some(Box::new(move |h| Box::pin(f(h)))),
            result: Rc::new(RefCell::new(None)),
            last_poll: Rc::new(Cell::new(Instant::ZERO)),
        });
        Host {
            shared: self.shared.clone(),
            id,
        }
    }

    /// The handle of host `name`.
    pub fn handle(&self, name: &str) -> Option<Host> {
        let id = lock(&self.shared).host_id(name)?;
        Some(Host {
            shared: self.shared.clone(),
            id,
        })
    }

    /// Fault injection.
    pub fn control(&self) -> Control {
        Control {
            shared: self.shared.clone(),
        }
    }

    /// Sets the directed link `from` → `to`.
    pub fn set_link(&self, from: &str, to: &str, cfg: LinkConfig) {
        let mut w = lock(&self.shared);
        let a = w.host_id(from).expect("unknown host");
        let b = w.host_id(to).expect("unknown host");
        w.set_link_config(a, b, cfg);
    }

    /// Sets both directions between `a` and `b`.
    pub fn set_link_both(&self, a: &str, b: &str, cfg: LinkConfig) {
        self.set_link(a, b, cfg.clone());
        self.set_link(b, a, cfg);
    }

    /// Runs `f` at global sim time `t` (e.g. a fault).
    pub fn at(&self, t: Instant, f: impl FnOnce(&Control) + Send + 'static) {
        let f: FaultFn = Box::new(f);
        lock(&self.shared).schedule(t, crate::world::Ev::Fault(f));
    }

    /// Global simulated time.
    pub fn now(&self) -> Instant {
        lock(&self.shared).now
    }

    /// Runs until every client has finished (or, with no clients, until nothing is left to
    /// happen). Prints the seed and replay command to stderr on failure.
    pub fn run(&mut self) -> Result<Report, SimError> {
        let r = self.run_inner(None);
        if let Err(e) = &r {
            crate::testing::report_failure(format_args!("testbed-sim: run failed: {e}"));
        }
        r
    }

    /// Runs until global time `t` (or until nothing is left to happen), whether or not clients
    /// have finished. Can be called repeatedly to step a simulation.
    pub fn run_until(&mut self, t: Instant) -> Result<Report, SimError> {
        self.run_inner(Some(t))
    }

    fn blocked_since(&self) -> Instant {
        let pending = self.clients.iter().filter(|c| c.result.borrow().is_none());
        pending
            .map(|c| c.last_poll.get())
            .max()
            .unwrap_or(Instant::ZERO)
    }

    fn pending_clients(&self) -> Vec<String> {
        self.clients
            .iter()
            .filter(|c| c.result.borrow().is_none())
            .map(|c| c.name.clone())
            .collect()
    }

    fn start_clients(&mut self) {
        for c in &mut self.clients {
            if let Some(f) = c.start.take() {
                let host = Host {
                    shared: self.shared.clone(),
                    id: c.host,
                };
                let slot = c.result.clone();
                let mut fut = f(host.clone());
                let guard = ResultGuard(slot, self.settled.clone());
                let (last_poll, now) = (c.last_poll.clone(), self.now_seen.clone());
                // Dropped unfinished (host crashed) counts as a failure.
                let task = async move {
                    let polled = std::future::poll_fn(|cx| {
                        last_poll.set(now.get());
                        fut.as_mut().poll(cx)
                    });
                    let r = polled.await.map_err(|e| e.to_string());
                    *guard.0.borrow_mut() = Some(r);
                };
                drop(host.spawn(task));
            }
        }
    }

    fn run_inner(&mut self, stop_at: Option<Instant>) -> Result<Report, SimError> {
        if let Some(flavor) = crate::guard::tokio_runtime_flavor() {
            return Err(SimError::InsideTokio {
                flavor,
                seed: self.seed,
                replay: self.replay.clone(),
            });
        }
        let _enter = self.exec.enter();
        let _running = crate::context::enter(&self.shared);
        {
            let mut w = lock(&self.shared);
            w.start();
            self.now_seen.set(w.now);
        }
        self.start_clients();
        let limit = Instant::ZERO + lock(&self.shared).cfg.time_limit;
        let control = Control {
            shared: self.shared.clone(),
        };
        loop {
            if let Err(p) = self.exec.run_ready() {
                self.fail_with_panic(p);
            }
            if self.exec.drop_aborted() {
                continue;
            }
            if let Some(r) = self.check_clients() {
                r?;
                if stop_at.is_none() {
                    break;
                }
            }
            let fault = {
                let mut w = lock(&self.shared);
                if w.executor_work {
                    drop(w);
                    self.executor_work();
                    continue;
                }
                let next = match w.next_event_time() {
                    None => {
                        drop(w);
                        if stop_at.is_none() && !self.pending_clients().is_empty() {
                            return Err(SimError::Deadlock {
                                pending: self.pending_clients(),
                                time: self.now(),
                                blocked_since: self.blocked_since(),
                                seed: self.seed,
                                replay: self.replay.clone(),
                            });
                        }
                        break;
                    }
                    Some(t) => t,
                };
                if stop_at.is_some_and(|s| next > s) {
                    w.now = w.now.max(stop_at.expect("checked"));
                    break;
                }
                if next > limit {
                    drop(w);
                    if self.pending_clients().is_empty() {
                        break;
                    }
                    let e = SimError::TimeLimit {
                        limit: limit.since_epoch(),
                        pending: self.pending_clients(),
                        seed: self.seed,
                        replay: self.replay.clone(),
                    };
                    return Err(e);
                }
                // Dispatch events until a task is woken or control work appears. With a
                // perturbed schedule, timers that fire at the same instant fire together, so
                // the tasks they wake are polled in an order drawn from the seed, not in the
                // order the timers were armed. (Packets still arrive one at a time, each
                // letting its receiver run: arrivals at the same nanosecond are an artefact
                // of fixed link latencies, not a burst a kernel would take in one go.)
                let mut fault = None;
                let batch_timers = self.exec.perturbed();
                while let Some(t) = w.next_event_time() {
                    if t > limit || stop_at.is_some_and(|s| t > s) {
                        break;
                    }
                    let ev = w.pop_event().expect("peeked");
                    let timer = matches!(ev, crate::world::Ev::Timer(_));
                    fault = w.dispatch(ev);
                    if fault.is_some() || w.executor_work {
                        break;
                    }
                    let more_timers = batch_timers && timer && w.next_is_timer_at(w.now);
                    if !self.exec.nothing_ready() && !more_timers {
                        break;
                    }
                }
                self.now_seen.set(w.now);
                fault
            };
            if let Some(f) = fault {
                f(&control);
            }
        }
        Ok(self.report())
    }

    /// Starts and kills hosts as fault verbs asked. Returns whether it did anything.
    fn executor_work(&mut self) -> bool {
        let (kills, starts) = {
            let mut w = lock(&self.shared);
            if !w.executor_work {
                return false;
            }
            w.executor_work = false;
            (
                std::mem::take(&mut w.pending_kills),
                std::mem::take(&mut w.pending_starts),
            )
        };
        for h in kills {
            self.exec.kill_host(h);
        }
        for h in starts {
            let (init, inc) = {
                let mut w = lock(&self.shared);
                let hs = &w.hosts[h as usize];
                let (init, inc) = (self.inits.get(&h).cloned(), hs.incarnation);
                w.record(Kind::HostStart, DropReason::None, h, NO_HOST, inc, 0);
                (init, inc)
            };
            let _ = inc;
            if let Some(init) = init {
                let host = Host {
                    shared: self.shared.clone(),
                    id: h,
                };
                drop(host.spawn(init(host.clone())));
            }
        }
        true
    }

    /// `Some(Ok)` when all clients finished, `Some(Err)` on the first client error.
    fn check_clients(&mut self) -> Option<Result<(), SimError>> {
        if self.clients.is_empty() || self.settled.get() == self.checked {
            return None;
        }
        self.checked = self.settled.get();
        for c in &self.clients {
            if let Some(Err(message)) = &*c.result.borrow() {
                let e = SimError::Client {
                    host: c.name.clone(),
                    message: message.clone(),
                    time: self.now(),
                    seed: self.seed,
                    replay: self.replay.clone(),
                };
                return Some(Err(e));
            }
        }
        self.clients
            .iter()
            .all(|c| c.result.borrow().is_some())
            .then_some(Ok(()))
    }

    fn fail_with_panic(&self, p: TaskPanic) -> ! {
        let (host, now) = {
            let w = lock(&self.shared);
            (
                w.hosts
                    .get(p.host as usize)
                    .map(|h| h.name.clone())
                    .unwrap_or_default(),
                w.now,
            )
        };
        let hint = if crate::guard::is_tokio_context_panic(&*p.payload) {
            format!(
                "\n  it called tokio's timer, reactor or spawner; {}",
                crate::guard::INSTEAD
            )
        } else {
            String::new()
        };
        crate::testing::report_failure(format_args!(
            "testbed-sim: a task on host {host:?} panicked at t={now} (seed {}). Replay: {}{hint}",
            self.seed, self.replay
        ));
        std::panic::resume_unwind(p.payload)
    }

    fn report(&self) -> Report {
        let mut w = lock(&self.shared);
        if let Err(e) = w.flush_pcaps() {
            eprintln!("testbed-sim: pcap flush failed: {e}");
        }
        Report {
            seed: self.seed,
            end_time: w.now,
            trace_hash: w.trace.hash(),
            trace_events: w.trace.len(),
            polls: self.exec.polls(),
            events: w.trace.events().map(|e| e.to_vec()),
            hosts: w.hosts.iter().map(|h| h.name.clone()).collect(),
            costs: w.hosts.iter().map(|h| h.costs).collect(),
        }
    }

    /// The recorded trace events so far (empty unless `record_trace`; also valid after a
    /// failed run).
    pub fn trace_events(&self) -> Vec<Event> {
        lock(&self.shared)
            .trace
            .events()
            .map(<[Event]>::to_vec)
            .unwrap_or_default()
    }

    /// The trace hash so far (also valid after a failed run).
    pub fn trace_hash(&self) -> u64 {
        lock(&self.shared).trace.hash()
    }

    /// Sets [`SimConfig::buggify_mask`](crate::SimConfig::buggify_mask) before the run (a
    /// point already reached keeps its decision).
    pub fn set_buggify_mask(&self, mask: Option<u64>) {
        lock(&self.shared).buggify.set_mask(mask);
    }

    /// The buggify points reached so far: whether each was enabled, how often it was reached
    /// and how often it fired (also valid after a failed run).
    pub fn buggify_points(&self) -> Vec<crate::BuggifyPoint> {
        lock(&self.shared).buggify.points()
    }

    /// Number of live tasks (for leak checks in tests).
    pub fn task_count(&self) -> usize {
        self.exec.task_count()
    }

    /// Number of live connections (for leak checks in tests).
    pub fn connection_count(&self) -> usize {
        lock(&self.shared).conns.len()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        // Tasks hold handles into the world; drop them while the executor is installed so
        // their destructors can run.
        let _enter = self.exec.enter();
        self.exec.clear();
    }
}

struct ResultGuard(Rc<RefCell<Option<Result<(), String>>>>, Rc<Cell<usize>>);

impl Drop for ResultGuard {
    fn drop(&mut self) {
        let mut r = self.0.borrow_mut();
        if r.is_none() {
            *r = Some(Err("client task was cancelled (its host crashed)".into()));
        }
        self.1.set(self.1.get() + 1);
    }
}

/// `TESTBED_SEED=<seed> cargo test -p <package> --test <target> -- --exact <test>` when
/// running under libtest (see [`crate::testing::replay_command`]).
pub(crate) fn default_replay_hint(seed: u64) -> String {
    crate::testing::replay_command(seed)
}

/// The std instant sim time zero maps to: the one real-clock read of a simulation (a base for
/// std-instant libraries; nothing in the run depends on its value, only on differences).
#[allow(clippy::disallowed_methods)]
fn std_base() -> std::time::Instant {
    std::time::Instant::now() // allow-nondeterminism: a base only; quinn sees differences from it
}
