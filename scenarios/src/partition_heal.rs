//! `partition-heal`: clients keep sending requests through a network partition and then a
//! crash and restart of the server, retrying with timeouts, backoff and reconnects.
//! Invariants: every request is eventually answered with its own payload, and once the last
//! fault is healed every outstanding request is answered within a liveness bound.
//! The fault schedule is drawn from the seed: by default swarm-style (`faults=swarm`: which
//! kinds of fault, how many and how intense, within the ranges of [`PartitionHeal::swarm`]),
//! or the classic plan (`faults=plan`: a partition of some clients, then a server crash).
//! Either way it is a [`FaultSchedule`], recorded in the result and replayable with
//! `--schedule FILE`.

use crate::echo::serve;
use crate::faults::{Fault, FaultEvent, FaultKind, FaultSchedule, SwarmSpec};
use crate::outcome::{Invariant, Outcome};
use crate::params::{Kind, ParamSpec, Params};
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_model::rng::derive_seed;
use testbed_model::{timeout, Duration, Instant, Net, Rng, Runtime, SeededRng};
use testbed_sim::{Latency, LinkConfig, Sim, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The scenario.
pub struct PartitionHeal;

const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "clients",
        default: "3",
        kind: Kind::Int { min: 1, max: 1000 },
        help: "client hosts",
    },
    ParamSpec {
        name: "requests",
        default: "30",
        kind: Kind::Int {
            min: 1,
            max: 1_000_000,
        },
        help: "requests per client",
    },
    ParamSpec {
        name: "think",
        default: "100ms",
        kind: Kind::Duration,
        help: "pause between a client's requests",
    },
    ParamSpec {
        name: "request_timeout",
        default: "500ms",
        kind: Kind::Duration,
        help: "client gives up on a request attempt after this",
    },
    ParamSpec {
        name: "connect_timeout",
        default: "1s",
        kind: Kind::Duration,
        help: "client gives up on a connect attempt after this",
    },
    ParamSpec {
        name: "backoff_max",
        default: "1s",
        kind: Kind::Duration,
        help: "cap of the exponential retry backoff",
    },
    ParamSpec {
        name: "liveness_bound",
        default: "5s",
        kind: Kind::Duration,
        help: "after the last heal, every request must be answered within this",
    },
    ParamSpec {
        name: "latency",
        default: "1ms",
        kind: Kind::Duration,
        help: "one-way link latency",
    },
    ParamSpec {
        name: "faults",
        default: "swarm",
        kind: Kind::Choice(&["swarm", "plan"]),
        help: "swarm: kinds, counts and intensities drawn per seed; plan: partition then crash",
    },
];

/// The faults of one run, drawn from its seed.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultPlan {
    /// When the server is cut off from some clients.
    pub partition_at: Duration,
    /// For how long.
    pub partition_for: Duration,
    /// Which clients (indices) are cut off.
    pub cut_clients: Vec<u64>,
    /// When the server crashes.
    pub crash_at: Duration,
    /// How long it stays down before restarting.
    pub down_for: Duration,
}

impl FaultPlan {
    /// Draws a plan from `seed`.
    pub fn draw(seed: u64, clients: u64) -> FaultPlan {
        let mut rng = SeededRng::new(derive_seed(seed, "partition-heal:faults"));
        let ms = |rng: &mut SeededRng, lo: u64, hi: u64| {
            Duration::from_millis(rng.range_inclusive(lo, hi))
        };
        let partition_at = ms(&mut rng, 300, 1300);
        let partition_for = ms(&mut rng, 500, 3000);
        let forced = rng.below(clients);
        let cut_clients = (0..clients)
            .filter(|c| *c == forced || rng.chance(0.5))
            .collect();
        let crash_at = partition_at + partition_for + ms(&mut rng, 200, 1000);
        let down_for = ms(&mut rng, 200, 2000);
        FaultPlan {
            partition_at,
            partition_for,
            cut_clients,
            crash_at,
            down_for,
        }
    }

    /// When the last fault is healed (the server restarts).
    pub fn heal_at(&self) -> Duration {
        self.crash_at + self.down_for
    }

    /// The plan as a fault schedule.
    pub fn to_schedule(&self) -> FaultSchedule {
        let ms = |d: Duration| d.as_millis() as u64;
        let mut events: Vec<FaultEvent> = self
            .cut_clients
            .iter()
            .map(|c| FaultEvent {
                at_ms: ms(self.partition_at),
                for_ms: ms(self.partition_for),
                fault: Fault::Partition {
                    a: "server".into(),
                    b: format!("client-{c}"),
                },
            })
            .collect();
        events.push(FaultEvent {
            at_ms: ms(self.crash_at),
            for_ms: ms(self.down_for),
            fault: Fault::Crash {
                host: "server".into(),
            },
        });
        FaultSchedule {
            events,
            buggify_mask: None,
        }
    }
}

/// The swarm ranges: any server–client link may be cut, lossy (up to 30%) or slow (up to
/// 300 ms extra), the server may crash, any clock may be skewed (±500 ms, ±2000 ppm); up to 8
/// faults starting in the first 3 s, each lasting 0.2–3 s.
fn swarm_spec(clients: u64) -> SwarmSpec {
    SwarmSpec {
        events_max: 8,
        start_max_ms: 3000,
        for_ms: (200, 3000),
        loss_max: 0.3,
        latency_max_ms: 300,
        skew_max_ms: 500,
        drift_max_ppm: 2000,
        ..SwarmSpec::star(
            clients,
            vec![
                FaultKind::Partition,
                FaultKind::Crash,
                FaultKind::Loss,
                FaultKind::Latency,
                FaultKind::ClockSkew,
            ],
        )
    }
}

/// One answered request.
#[derive(Clone, Copy, Debug)]
struct Answer {
    first_attempt: Instant,
    answered: Instant,
    attempts: u32,
}

#[derive(Default)]
struct Stats {
    answers: Vec<Answer>,
    reconnects: u64,
    wrong_responses: Vec<String>,
}

struct ClientCfg {
    id: u64,
    requests: u64,
    think: Duration,
    request_timeout: Duration,
    connect_timeout: Duration,
    backoff_max: Duration,
}

async fn backoff_sleep<H: Runtime>(
    h: &H,
    rng: &mut SeededRng,
    backoff: &mut Duration,
    max: Duration,
) {
    // Full jitter: uniform in 0..=backoff.
    let d = rng.duration_between(Duration::ZERO, *backoff);
    h.sleep(d).await;
    *backoff = (*backoff * 2).min(max);
}

/// A client that retries each request until it is answered.
async fn client<H: Net + Runtime>(
    h: H,
    server: SocketAddr,
    cfg: ClientCfg,
    stats: Rc<RefCell<Stats>>,
) {
    let mut rng = h.rng();
    let mut conn: Option<H::Stream> = None;
    for i in 0..cfg.requests {
        let first_attempt = h.now();
        let mut backoff = Duration::from_millis(50);
        let mut attempts = 0;
        let req = (cfg.id << 32 | i).to_le_bytes();
        loop {
            attempts += 1;
            if conn.is_none() {
                match timeout(&h, cfg.connect_timeout, h.connect(server)).await {
                    Ok(Ok(s)) => {
                        conn = Some(s);
                        stats.borrow_mut().reconnects += 1;
                    }
                    _ => {
                        backoff_sleep(&h, &mut rng, &mut backoff, cfg.backoff_max).await;
                        continue;
                    }
                }
            }
            let s = conn.as_mut().expect("connected above");
            let exchange = async {
                s.write_all(&req).await?;
                let mut b = [0u8; 8];
                s.read_exact(&mut b).await?;
                Ok::<_, std::io::Error>(b)
            };
            match timeout(&h, cfg.request_timeout, exchange).await {
                Ok(Ok(b)) if b == req => {
                    stats.borrow_mut().answers.push(Answer {
                        first_attempt,
                        answered: h.now(),
                        attempts,
                    });
                    break;
                }
                Ok(Ok(b)) => {
                    stats
                        .borrow_mut()
                        .wrong_responses
                        .push(format!("client {} request {i}: got {b:?}", cfg.id));
                    return;
                }
                _ => {
                    conn = None;
                    backoff_sleep(&h, &mut rng, &mut backoff, cfg.backoff_max).await;
                }
            }
        }
        h.sleep(cfg.think).await;
    }
}

impl PartitionHeal {
    fn run_sim(&self, ctx: &RunCtx<'_>, schedule: &FaultSchedule, out: &mut Outcome) {
        let p: &Params = &ctx.params;
        let clients = p.int("clients");
        let requests = p.int("requests");
        let base_link = LinkConfig {
            latency: Latency::Fixed(p.duration("latency")),
            ..LinkConfig::default()
        };
        let cfg = SimConfig {
            default_link: base_link.clone(),
            time_limit: Duration::from_secs(600),
            ..ctx.sim_config()
        };
        let mut sim = Sim::new(cfg);
        sim.host("server", |h| async move {
            let l = h
                .listen("0.0.0.0:7000".parse().expect("literal"))
                .expect("fresh host");
            serve(h, l).await
        });
        let stats = Rc::new(RefCell::new(Stats::default()));
        for id in 0..clients {
            let stats = stats.clone();
            let cfg = ClientCfg {
                id,
                requests,
                think: p.duration("think"),
                request_timeout: p.duration("request_timeout"),
                connect_timeout: p.duration("connect_timeout"),
                backoff_max: p.duration("backoff_max"),
            };
            sim.client(&format!("client-{id}"), move |h| async move {
                let server = SocketAddr::new(h.lookup("server").expect("server host"), 7000);
                client(h, server, cfg, stats).await;
                Ok(())
            });
        }
        let t0 = Instant::ZERO;
        schedule.apply(&sim, &base_link);
        out.schedule = Some(schedule.to_json());

        let run = sim.run();
        let stats = std::mem::take(&mut *stats.borrow_mut());
        out.sim_run(&run, sim.trace_hash());
        let end = sim.now();
        let expected = clients * requests;
        let answered = stats.answers.len() as u64;
        out.invariants.push(Invariant::count(
            "all_requests_answered",
            answered,
            expected,
            "requests answered",
        ));
        out.invariants.push(Invariant::no_errors(
            "responses_match_requests",
            &stats.wrong_responses,
            "every response carried its request's id",
        ));
        let heal = t0 + schedule.end();
        let bound = p.duration("liveness_bound");
        let worst_after_heal = stats
            .answers
            .iter()
            .map(|a| {
                a.answered
                    .saturating_duration_since(a.first_attempt.max(heal))
            })
            .max()
            .unwrap_or_default();
        out.invariants.push(Invariant::check(
            "liveness_after_heal",
            worst_after_heal <= bound && answered == expected,
            format!(
                "slowest request answered {:?} after max(first attempt, heal at {}) (bound {:?})",
                worst_after_heal, heal, bound
            ),
        ));
        let worst = stats
            .answers
            .iter()
            .map(|a| a.answered.saturating_duration_since(a.first_attempt))
            .max()
            .unwrap_or_default();
        out.metric("requests_answered", answered);
        out.metric(
            "attempts",
            stats.answers.iter().map(|a| a.attempts as u64).sum::<u64>(),
        );
        out.metric("reconnects", stats.reconnects);
        out.metric("max_request_wait_ms", worst.as_secs_f64() * 1e3);
        out.metric(
            "max_wait_after_heal_ms",
            worst_after_heal.as_secs_f64() * 1e3,
        );
        out.metric("fault_events", schedule.events.len() as u64);
        out.metric("heal_at_s", schedule.end().as_secs_f64());
        out.metric("end_s", end.since_epoch().as_secs_f64());
    }
}

impl Scenario for PartitionHeal {
    fn name(&self) -> &'static str {
        "partition-heal"
    }
    fn summary(&self) -> &'static str {
        "clients retry through a partition and a server crash/restart; every request answered, bounded recovery"
    }
    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }
    fn backends(&self) -> &'static [Backend] {
        &[Backend::Sim]
    }
    fn run(&self, ctx: &RunCtx<'_>) -> Result<Outcome, RunError> {
        let schedule = self
            .fault_schedule(ctx.seed, &ctx.params)
            .expect("partition-heal always has a schedule");
        self.run_with_schedule(ctx, &schedule)
    }
    fn swarm(&self, params: &Params) -> Option<SwarmSpec> {
        Some(swarm_spec(params.int("clients")))
    }
    fn fault_schedule(&self, seed: u64, params: &Params) -> Option<FaultSchedule> {
        let clients = params.int("clients");
        Some(match params.choice("faults") {
            "plan" => FaultPlan::draw(seed, clients).to_schedule(),
            _ => swarm_spec(clients).draw(seed),
        })
    }
    fn run_with_schedule(
        &self,
        ctx: &RunCtx<'_>,
        schedule: &FaultSchedule,
    ) -> Result<Outcome, RunError> {
        crate::params::check_product(&ctx.params, "clients", "requests", 1_000_000)?;
        schedule.validate(&swarm_spec(ctx.params.int("clients")))?;
        let mut out = Outcome::start(self.name(), ctx);
        self.run_sim(ctx, schedule, &mut out);
        Ok(out)
    }
}
