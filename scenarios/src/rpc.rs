//! `rpc`: clients × calls against the example RPC service over lossy, slow links while the
//! server crashes and restarts. Invariant: every call completes — with the right response or
//! a typed error — no later than its deadline. On the simulator the faults are a
//! [`FaultSchedule`]: the one crash (`faults=plan`, default) or swarm faults (`faults=swarm`:
//! partitions, latency, skew and server crashes drawn per seed), recorded and replayable.
//! Progress is judged once the faults are over: under a schedule a client that has made its
//! `calls` before the last fault healed (plus one deadline) waits for that moment and makes
//! [`SETTLED_CALLS`] more, and at least half of the calls made after it must be answered. A schedule may
//! keep the server down for seconds, which a fixed number of calls cannot outlast.

use crate::faults::{Fault, FaultEvent, FaultKind, FaultSchedule, SwarmSpec};
use crate::outcome::{quantile, Invariant, Outcome};
use crate::params::{Kind, ParamSpec, Params};
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_model::rng::derive_seed;
use testbed_model::{Duration, Instant, Net, Rng, Runtime, SeededRng};
use testbed_protocols::rpc::example::{self, Add, KvGet, KvPut, Pair, Sub};
use testbed_protocols::rpc::{serve, CallError, CodecId, RpcClient};
use testbed_sim::{Latency, LinkConfig, Sim, SimConfig};

/// The scenario.
pub struct Rpc;

/// Calls each client makes (at least; fewer if `calls` is smaller) after the faults are over.
pub const SETTLED_CALLS: u64 = 10;

/// Deadlines missed in a row after which a client drops its connection and reconnects.
const STALLED_AFTER: u32 = 2;

const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "clients",
        default: "4",
        kind: Kind::Int { min: 1, max: 1000 },
        help: "client hosts, one connection each",
    },
    ParamSpec {
        name: "calls",
        default: "200",
        kind: Kind::Int {
            min: 1,
            max: 100_000,
        },
        help: "calls per client",
    },
    ParamSpec {
        name: "timeout",
        default: "300ms",
        kind: Kind::Duration,
        help: "per-call deadline",
    },
    ParamSpec {
        name: "latency",
        default: "2ms",
        kind: Kind::Duration,
        help: "one-way link latency (sim; dpdk with --impair)",
    },
    ParamSpec {
        name: "loss",
        default: "0.01",
        kind: Kind::Real { min: 0.0, max: 0.5 },
        help: "packet loss, costs retransmission delay (sim; dpdk with --impair)",
    },
    ParamSpec {
        name: "crash",
        default: "1",
        kind: Kind::Int { min: 0, max: 1 },
        help: "crash and restart the server once (1) or not (0) (sim)",
    },
    ParamSpec {
        name: "workers",
        default: "2",
        kind: Kind::Int { min: 1, max: 256 },
        help: "worker threads (kernel, uring)",
    },
    ParamSpec {
        name: "faults",
        default: "plan",
        kind: Kind::Choice(&["plan", "swarm"]),
        help: "plan: the one crash; swarm: partitions, latency, skew, crashes drawn per seed (sim)",
    },
];

/// Swarm ranges: server–client partitions (0.1–1.5 s), extra latency up to 200 ms, clock
/// skew ±100 ms / ±1000 ppm, server crashes; up to 6 faults in the first 2 s.
fn swarm_spec(clients: u64) -> SwarmSpec {
    SwarmSpec {
        events_max: 6,
        start_max_ms: 2000,
        for_ms: (100, 1500),
        loss_max: 0.0,
        latency_max_ms: 200,
        skew_max_ms: 100,
        drift_max_ppm: 1000,
        ..SwarmSpec::star(
            clients,
            vec![
                FaultKind::Partition,
                FaultKind::Crash,
                FaultKind::Latency,
                FaultKind::ClockSkew,
            ],
        )
    }
}

/// What clients saw.
#[derive(Default)]
struct Tally {
    /// Calls made (at least `calls` per client; more under faults, see [`SETTLED_CALLS`]).
    made: u64,
    /// Calls made after the faults were over, and how many of them were answered.
    settled: u64,
    settled_ok: u64,
    ok: u64,
    typed_errors: BTreeMap<String, u64>,
    late: Vec<String>,
    wrong: Vec<String>,
    latencies: Vec<u64>,
}

async fn client<H: Net + Runtime>(
    h: H,
    server: SocketAddr,
    id: u64,
    calls: u64,
    timeout: Duration,
    settle: Instant,
    tally: Rc<RefCell<Tally>>,
) {
    let mut rng = h.rng();
    let mut conn: Option<RpcClient> = None;
    let mut settled = 0;
    let mut misses = 0;
    let mut i = 0;
    while i < calls || settled < calls.min(SETTLED_CALLS) {
        if i >= calls && h.now() < settle {
            h.sleep_until(settle).await; // its calls are made: wait out the faults
        }
        let after_faults = h.now() >= settle;
        settled += u64::from(after_faults);
        if conn.is_none() {
            conn = testbed_model::timeout(
                &h,
                timeout,
                RpcClient::connect(
                    &h,
                    server,
                    if id % 2 == 0 {
                        CodecId::Binary
                    } else {
                        CodecId::Json
                    },
                ),
            )
            .await
            .ok()
            .and_then(Result::ok);
        }
        let t0 = h.now();
        let (a, b) = (rng.below(1000) as i64, rng.below(1000) as i64);
        let result: Result<(), CallError> = match &conn {
            None => Err(CallError::Disconnected),
            Some(c) => match i % 4 {
                0 => c
                    .call::<Add, _>(&h, &Pair { a, b }, timeout)
                    .await
                    .map(|r| check(&tally, r == a + b, "add")),
                1 => c
                    .call::<Sub, _>(&h, &Pair { a, b }, timeout)
                    .await
                    .map(|r| check(&tally, r == a - b, "sub")),
                2 => c
                    .call::<KvPut, _>(&h, &(format!("c{id}"), format!("{i}")), timeout)
                    .await
                    .map(|_| ()),
                _ => c
                    .call::<KvGet, _>(&h, &format!("c{id}"), timeout)
                    .await
                    .map(|_| ()),
            },
        };
        let took = h.now() - t0;
        // Two deadlines missed in a row: the connection is likely stalled (after a partition
        // heals, TCP resends only when its backed-off retransmission timer fires, seconds
        // later): drop it and connect afresh, as a client with a keepalive would.
        misses = if matches!(result, Err(CallError::DeadlineExceeded)) {
            misses + 1
        } else {
            0
        };
        if record(&tally, id, i, took, timeout, after_faults, result) || misses >= STALLED_AFTER {
            misses = 0;
            conn = None;
            h.sleep(Duration::from_millis(20)).await; // back off before reconnecting
        }
        i += 1;
    }
}

/// Records one call's outcome; returns whether the connection is gone.
fn record(
    tally: &Rc<RefCell<Tally>>,
    id: u64,
    i: u64,
    took: Duration,
    timeout: Duration,
    after_faults: bool,
    result: Result<(), CallError>,
) -> bool {
    let mut t = tally.borrow_mut();
    t.made += 1;
    t.settled += u64::from(after_faults);
    t.settled_ok += u64::from(after_faults && result.is_ok());
    t.latencies.push(took.as_nanos() as u64);
    if took > timeout {
        t.late
            .push(format!("client {id} call {i} took {took:?} > {timeout:?}"));
    }
    match result {
        Ok(()) => {
            t.ok += 1;
            false
        }
        Err(e) => {
            let name = format!("{e:?}")
                .split([' ', '{', '('])
                .next()
                .unwrap_or("")
                .to_string();
            *t.typed_errors.entry(name).or_default() += 1;
            matches!(e, CallError::Disconnected)
        }
    }
}

fn check(tally: &Rc<RefCell<Tally>>, ok: bool, what: &str) {
    if !ok {
        tally
            .borrow_mut()
            .wrong
            .push(format!("{what} returned a wrong result"));
    }
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.made += o.made;
        self.settled += o.settled;
        self.settled_ok += o.settled_ok;
        self.ok += o.ok;
        for (k, v) in o.typed_errors {
            *self.typed_errors.entry(k).or_default() += v;
        }
        self.late.extend(o.late);
        self.wrong.extend(o.wrong);
        self.latencies.extend(o.latencies);
    }
}

/// The example service and one client, for [`crate::real::run`].
#[derive(Clone, Copy)]
struct RpcLoad {
    calls: u64,
    timeout: Duration,
}

impl crate::real::Workload for RpcLoad {
    type Out = Tally;
    async fn serve<W: Net + Runtime>(self, w: W, listener: W::Listener) {
        serve(w, listener, Rc::new(example::server())).await
    }
    async fn client<W: Net + Runtime>(self, w: W, server: SocketAddr, id: u64) -> Tally {
        let tally = Rc::new(RefCell::new(Tally::default()));
        client(
            w,
            server,
            id,
            self.calls,
            self.timeout,
            Instant::ZERO,
            tally.clone(),
        )
        .await;
        tally.take()
    }
}

/// `planned`: clients × calls; a client that made fewer (or vanished) leaves calls uncompleted.
fn report(out: &mut Outcome, planned: u64, t: Tally) {
    let errors: u64 = t.typed_errors.values().sum();
    let expected = t.made.max(planned);
    // Progress: typed errors are allowed during faults, but a run where most calls fail once
    // the faults are over (every call timing out, say) has not shown the service working.
    out.invariants.push(Invariant::check(
        "most_calls_answered",
        t.settled > 0 && t.settled_ok * 2 >= t.settled,
        format!(
            "{} of {} calls made after the faults were over answered (at least half must be); {} of {expected} in all",
            t.settled_ok, t.settled, t.ok
        ),
    ));
    out.invariants.push(Invariant::count(
        "every_call_completed",
        t.ok + errors,
        expected,
        "calls completed with a response or a typed error",
    ));
    out.invariants.push(Invariant::no_errors(
        "no_call_outlived_its_deadline",
        &t.late,
        "every call returned by its deadline",
    ));
    out.invariants.push(Invariant::no_errors(
        "responses_correct",
        &t.wrong,
        "every add/sub result was right",
    ));
    out.metric("calls_made", t.made);
    out.metric("calls_after_faults", t.settled);
    let mut lat = t.latencies;
    lat.sort_unstable();
    out.metric("ok", t.ok);
    out.metric(
        "typed_errors",
        serde_json::to_value(&t.typed_errors).unwrap_or_default(),
    );
    out.metric(
        "latency_p50_ms",
        quantile(&lat, 0.5).map(|v| v as f64 / 1e6),
    );
    out.metric(
        "latency_p99_ms",
        quantile(&lat, 0.99).map(|v| v as f64 / 1e6),
    );
}

impl Rpc {
    /// Kernel sockets or io_uring on loopback: no link faults and no crash; every call must
    /// succeed.
    fn run_real(&self, ctx: &RunCtx<'_>, out: &mut Outcome) -> Result<(), RunError> {
        let p = &ctx.params;
        let clients = p.int("clients");
        let load = RpcLoad {
            calls: p.int("calls"),
            timeout: p.duration("timeout"),
        };
        let run = crate::real::run_scenario(ctx, out, load)?;
        let mut t = Tally::default();
        for o in run.outs {
            t.merge(o);
        }
        let errors: Vec<String> = run
            .failures
            .into_iter()
            .chain(
                t.typed_errors
                    .iter()
                    .map(|(k, v)| format!("{v} calls failed with {k}")),
            )
            .collect();
        out.invariants.push(Invariant::no_errors(
            "no_call_failed_on_a_fault_free_backend",
            &errors,
            "every call answered",
        ));
        report(out, clients * load.calls, t);
        Ok(())
    }

    fn run_sim(&self, ctx: &RunCtx<'_>, schedule: &FaultSchedule, out: &mut Outcome) {
        let p: &Params = &ctx.params;
        let (clients, calls, timeout) = (p.int("clients"), p.int("calls"), p.duration("timeout"));
        let link = LinkConfig {
            latency: Latency::Fixed(p.duration("latency")),
            loss: p.real("loss"),
            ..LinkConfig::default()
        };
        let cfg = SimConfig {
            default_link: link.clone(),
            time_limit: Duration::from_secs(3600),
            ..ctx.sim_config()
        };
        let mut sim = Sim::new(cfg);
        sim.host("server", |h| async move {
            let l = h
                .listen("0.0.0.0:7000".parse().expect("literal"))
                .expect("fresh host");
            serve(h, l, Rc::new(example::server())).await
        });
        let tally = Rc::new(RefCell::new(Tally::default()));
        // The faults are over once the last one healed and a call made at that moment has
        // met its deadline.
        let settle = if schedule.events.is_empty() {
            Instant::ZERO
        } else {
            Instant::ZERO + schedule.end() + timeout
        };
        for id in 0..clients {
            let tally = tally.clone();
            sim.client(&format!("client-{id}"), move |h| async move {
                let server = SocketAddr::new(h.lookup("server").expect("server host"), 7000);
                client(h, server, id, calls, timeout, settle, tally).await;
                Ok(())
            });
        }
        schedule.apply(&sim, &link);
        out.schedule = Some(schedule.to_json());
        out.metric("fault_events", schedule.events.len() as u64);
        out.metric("heal_at_s", schedule.end().as_secs_f64());
        let run = sim.run();
        out.sim_run(&run, sim.trace_hash());
        let t = std::mem::take(&mut *tally.borrow_mut());
        report(out, clients * calls, t);
        out.metric("end_s", sim.now().since_epoch().as_secs_f64());
    }
}

impl Scenario for Rpc {
    fn name(&self) -> &'static str {
        "rpc"
    }
    fn summary(&self) -> &'static str {
        "clients × calls to the example RPC service over lossy links with a server crash; every call answered or typed-failed by its deadline"
    }
    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }
    fn backends(&self) -> &'static [Backend] {
        Backend::EVERY
    }
    fn run(&self, ctx: &RunCtx<'_>) -> Result<Outcome, RunError> {
        if ctx.backend == Backend::Sim {
            let schedule = self
                .fault_schedule(ctx.seed, &ctx.params)
                .expect("rpc has a schedule");
            return self.run_with_schedule(ctx, &schedule);
        }
        crate::params::check_product(&ctx.params, "clients", "calls", 5_000_000)?;
        let mut out = Outcome::start(self.name(), ctx);
        self.run_real(ctx, &mut out)?;
        Ok(out)
    }
    fn swarm(&self, params: &Params) -> Option<SwarmSpec> {
        Some(swarm_spec(params.int("clients")))
    }
    fn fault_schedule(&self, seed: u64, params: &Params) -> Option<FaultSchedule> {
        if params.choice("faults") == "swarm" {
            return Some(swarm_spec(params.int("clients")).draw(seed));
        }
        let mut plan = SeededRng::new(derive_seed(seed, "rpc:faults"));
        let crash_at = plan.range_inclusive(100, 1500);
        let down_for = plan.range_inclusive(100, 1000);
        let events = (params.int("crash") == 1)
            .then(|| FaultEvent {
                at_ms: crash_at,
                for_ms: down_for,
                fault: Fault::Crash {
                    host: "server".into(),
                },
            })
            .into_iter()
            .collect();
        Some(FaultSchedule {
            events,
            buggify_mask: None,
        })
    }
    fn run_with_schedule(
        &self,
        ctx: &RunCtx<'_>,
        schedule: &FaultSchedule,
    ) -> Result<Outcome, RunError> {
        if ctx.backend != Backend::Sim {
            return Err(RunError::no_schedule(format!(
                "{} on --backend {}",
                self.name(),
                ctx.backend
            )));
        }
        crate::params::check_product(&ctx.params, "clients", "calls", 5_000_000)?;
        schedule.validate(&swarm_spec(ctx.params.int("clients")))?;
        let mut out = Outcome::start(self.name(), ctx);
        self.run_sim(ctx, schedule, &mut out);
        Ok(out)
    }
}
