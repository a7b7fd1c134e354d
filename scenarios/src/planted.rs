//! `planted-bug` (test-only, see [`crate::scenario::test_catalogue`]): a primary replicates
//! each write to a backup and acknowledges it once the backup confirms. The planted bug: when
//! the backup does not answer within 1 s the primary acknowledges anyway ("degraded mode")
//! and never re-sends. A crash of the primary then loses those writes, because a restarted
//! primary recovers its state from the backup. So a run fails only with both a partition of
//! primary–backup and a crash of the primary that begins after writes went unreplicated; the
//! other faults the swarm draws (partitions of bystanders, their crashes, small losses and
//! latencies, clock skew) are harmless. The shrinker's test checks it finds exactly that pair.
//!
//! `--set depth=3|4` makes the bug deeper: the primary degrades only while it believes the
//! network is flaky, i.e. for 1.5 s after its UDP pings to `bystander-1` recovered from a miss
//! at least 3 times within 0.5 s (a loss burst on that link). At depth 4 it counts those
//! misses only within 1 s after it saw its own wall clock jump by at least 8 ms (a clock skew
//! of the primary). So depth 4 needs, in order and each within its window: clock skew of the
//! primary, a loss burst on primary–bystander-1, a partition of primary–backup, a crash of the
//! primary. Each stage reached is reported as a metric (`stage`, and the margins
//! `ping_recoveries_max`, `clock_jump_max_ms`), what a protocol's state machine would show.

use crate::faults::{FaultKind, FaultSchedule, SwarmSpec};
use crate::outcome::{Invariant, Outcome};
use crate::params::{Kind, ParamSpec, Params};
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_model::{timeout, DatagramSocket, Duration, Instant, Listener, Net, Runtime};
use testbed_sim::{Host, LinkConfig, Sim, SimStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The scenario.
pub struct PlantedBug;

const HOSTS: &[&str] = &["primary", "backup", "bystander-1", "bystander-2"];
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(1);
const WRITE_EVERY: Duration = Duration::from_millis(20);
/// How long the run goes on after the last fault ends.
const LIVENESS: Duration = Duration::from_secs(2);
/// Depth 3 and 4: the primary pings `bystander-1` over UDP this often, each ping answered
/// within `PING_TIMEOUT` or missed (longer than any latency the swarm draws).
const PING_EVERY: Duration = Duration::from_millis(10);
const PING_TIMEOUT: Duration = Duration::from_millis(80);
const PING_PORT: u16 = 9000;
/// Misses followed by an answer within `RECOVERY_WINDOW` that make the network "flaky".
const RECOVERIES_MIN: usize = 3;
const RECOVERY_WINDOW: Duration = Duration::from_millis(500);
/// How long the primary believes the network flaky after the last burst.
const FLAKY_FOR: Duration = Duration::from_millis(1500);
/// Depth 4: the primary reads its wall clock against its monotonic clock this often; a step
/// of at least `CLOCK_JUMP_MIN` makes it count ping misses for `SUSPECT_FOR`.
const CLOCK_EVERY: Duration = Duration::from_millis(10);
const CLOCK_JUMP_MIN: Duration = Duration::from_millis(8);
const SUSPECT_FOR: Duration = Duration::from_secs(1);

const PARAMS: &[ParamSpec] = &[ParamSpec {
    name: "depth",
    default: "2",
    kind: Kind::Int { min: 2, max: 4 },
    help: "faults the bug needs, in order: 2 partition+crash; 3 adds a loss burst first; 4 a clock skew before that",
}];

/// The depth a run uses (2 when the parameters do not declare it, as in hand-built tests).
fn depth(params: &Params) -> u64 {
    if params.has("depth") {
        params.int("depth")
    } else {
        2
    }
}

fn spec() -> SwarmSpec {
    let hosts: Vec<String> = HOSTS.iter().map(|h| h.to_string()).collect();
    let mut links = Vec::new();
    for (i, a) in hosts.iter().enumerate() {
        for b in &hosts[i + 1..] {
            links.push((a.clone(), b.clone()));
        }
    }
    SwarmSpec {
        links,
        crashable: vec!["primary".into(), "bystander-1".into(), "bystander-2".into()],
        skewable: hosts.clone(),
        hosts,
        kinds: vec![
            FaultKind::Partition,
            FaultKind::Crash,
            FaultKind::Loss,
            FaultKind::Latency,
            FaultKind::ClockSkew,
        ],
        events_max: 16,
        start_max_ms: 3000,
        for_ms: (1200, 2500),
        loss_max: 0.05,
        latency_max_ms: 30,
        skew_max_ms: 20,
        drift_max_ppm: 500,
    }
}

#[derive(Default)]
struct Shared {
    /// The primary's current state (replaced on recovery after a restart).
    state: RefCell<BTreeSet<u64>>,
    /// What the backup holds (a disk: survives anything).
    backup: RefCell<BTreeSet<u64>>,
    /// Writes acknowledged to clients, with when.
    acked: RefCell<Vec<(u64, Instant)>>,
    /// Degraded acknowledgements (the bug at work).
    degraded: Cell<u64>,
    next_id: Cell<u64>,
    /// Highest stage of the bug reached (0..=depth; `depth` = writes lost).
    stage: Cell<u64>,
    /// Largest wall-clock step the primary saw, nanoseconds (depth 4).
    clock_jump_max_ns: Cell<u64>,
    /// Most ping recoveries within one window (depth 3, 4): the flakiness margin.
    ping_recoveries_max: Cell<u64>,
    /// Times the primary started believing the network flaky.
    flaky_entries: Cell<u64>,
    /// Replication attempts that timed out or failed.
    replication_failures: Cell<u64>,
}

impl Shared {
    fn reach(&self, stage: u64) {
        self.stage.set(self.stage.get().max(stage));
    }
}

/// What the primary believes about its environment (gone when it crashes).
struct Mode {
    depth: u64,
    /// Depth 4: until when ping misses count toward flakiness (primary's monotonic time).
    suspect_until: Cell<Option<Instant>>,
    /// Depth 3, 4: until when the network is deemed flaky.
    flaky_until: Cell<Option<Instant>>,
}

impl Mode {
    fn until(c: &Cell<Option<Instant>>, now: Instant) -> bool {
        c.get().is_some_and(|t| now < t)
    }
    /// Whether a replication failure may be acknowledged anyway (the bug).
    fn may_degrade(&self, now: Instant) -> bool {
        self.depth <= 2 || Mode::until(&self.flaky_until, now)
    }
    /// Whether ping recoveries count toward flakiness now.
    fn armed(&self, now: Instant) -> bool {
        self.depth == 3 || (self.depth >= 4 && Mode::until(&self.suspect_until, now))
    }
}

/// Depth 4: watches the primary's wall clock against its monotonic clock.
async fn clock_watch(h: Host, sh: Rc<Shared>, mode: Rc<Mode>) {
    let offset = |h: &Host| i128::from(h.wall_nanos()) - i128::from(h.now().as_nanos());
    let mut last = offset(&h);
    loop {
        h.sleep(CLOCK_EVERY).await;
        let cur = offset(&h);
        let jump = u64::try_from((cur - last).unsigned_abs()).unwrap_or(u64::MAX);
        last = cur;
        sh.clock_jump_max_ns
            .set(sh.clock_jump_max_ns.get().max(jump));
        if jump >= CLOCK_JUMP_MIN.as_nanos() as u64 {
            mode.suspect_until.set(Some(h.now() + SUSPECT_FOR));
            sh.reach(mode.depth - 3);
        }
    }
}

/// Depth 3, 4: `bystander-1` answers pings.
async fn ping_echo(h: Host) {
    let Ok(s) = h.bind_datagram(SocketAddr::from(([0, 0, 0, 0], PING_PORT))) else {
        return;
    };
    let mut buf = [0u8; 8];
    while let Ok((n, from)) = s.recv_from(&mut buf).await {
        let _ = s.send_to(&buf[..n], from).await;
    }
}

/// Depth 3, 4: the primary pings `bystander-1` and decides whether the network is flaky.
async fn pinger(h: Host, sh: Rc<Shared>, mode: Rc<Mode>) {
    let to = SocketAddr::new(h.lookup("bystander-1").expect("bystander host"), PING_PORT);
    let Ok(sock) = h.bind_datagram(SocketAddr::from(([0, 0, 0, 0], 0))) else {
        return;
    };
    let mut seq = 0u64;
    let mut missed_last = false;
    // Recoveries (a miss, then an answer) in the last RECOVERY_WINDOW: at most one per ping.
    let mut recoveries: VecDeque<Instant> = VecDeque::new();
    loop {
        seq += 1;
        let answered = async {
            sock.send_to(&seq.to_le_bytes(), to).await?;
            let mut buf = [0u8; 8];
            loop {
                let (n, _) = sock.recv_from(&mut buf).await?;
                if n == 8 && u64::from_le_bytes(buf) == seq {
                    return Ok::<_, std::io::Error>(());
                }
            }
        };
        let got = matches!(timeout(&h, PING_TIMEOUT, answered).await, Ok(Ok(())));
        let now = h.now();
        if got && missed_last {
            recoveries.push_back(now);
        }
        missed_last = !got;
        while recoveries
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > RECOVERY_WINDOW)
        {
            recoveries.pop_front();
        }
        let n = recoveries.len() as u64;
        sh.ping_recoveries_max
            .set(sh.ping_recoveries_max.get().max(n));
        if recoveries.len() >= RECOVERIES_MIN && mode.armed(now) {
            if !Mode::until(&mode.flaky_until, now) {
                sh.flaky_entries.set(sh.flaky_entries.get() + 1);
            }
            mode.flaky_until.set(Some(now + FLAKY_FOR));
            sh.reach(mode.depth - 2);
        }
        h.sleep(PING_EVERY).await;
    }
}

/// Backup: `W id` stores and answers `id`; `G 0` answers the count and every id.
async fn backup(h: Host, sh: Rc<Shared>) {
    let l = h
        .listen("0.0.0.0:8000".parse().expect("literal"))
        .expect("fresh host");
    while let Ok((mut s, _)) = l.accept().await {
        let sh = sh.clone();
        h.spawn(async move {
            let mut req = [0u8; 9];
            while s.read_exact(&mut req).await.is_ok() {
                let id = u64::from_le_bytes(req[1..].try_into().expect("8 bytes"));
                let reply: Vec<u8> = if req[0] == b'W' {
                    sh.backup.borrow_mut().insert(id);
                    id.to_le_bytes().to_vec()
                } else {
                    let b = sh.backup.borrow();
                    let mut v = (b.len() as u64).to_le_bytes().to_vec();
                    b.iter().for_each(|x| v.extend(x.to_le_bytes()));
                    v
                };
                if s.write_all(&reply).await.is_err() {
                    break;
                }
            }
        });
    }
}

async fn recover(h: &Host, to: SocketAddr) -> Option<BTreeSet<u64>> {
    let mut s = timeout(h, REPLICATION_TIMEOUT, h.connect(to))
        .await
        .ok()?
        .ok()?;
    let get = async {
        s.write_all(&[b'G', 0, 0, 0, 0, 0, 0, 0, 0]).await?;
        let n = s.read_u64_le().await?;
        let mut set = BTreeSet::new();
        for _ in 0..n {
            set.insert(s.read_u64_le().await?);
        }
        Ok::<_, std::io::Error>(set)
    };
    timeout(h, REPLICATION_TIMEOUT, get).await.ok()?.ok()
}

/// Primary: recovers from the backup, then writes every 20 ms. A write the backup does not
/// confirm is acknowledged anyway when the primary may degrade (always at depth 2), and
/// otherwise retried.
async fn primary(h: Host, sh: Rc<Shared>, depth: u64) {
    let mode = Rc::new(Mode {
        depth,
        suspect_until: Cell::new(None),
        flaky_until: Cell::new(None),
    });
    if depth >= 3 {
        h.spawn(pinger(h.clone(), sh.clone(), mode.clone()));
    }
    if depth >= 4 {
        h.spawn(clock_watch(h.clone(), sh.clone(), mode.clone()));
    }
    let to = SocketAddr::new(h.lookup("backup").expect("backup host"), 8000);
    loop {
        if let Some(set) = recover(&h, to).await {
            *sh.state.borrow_mut() = set;
            break;
        }
        h.sleep(Duration::from_millis(100)).await;
    }
    let mut conn: Option<SimStream> = None;
    loop {
        let id = sh.next_id.get();
        sh.next_id.set(id + 1);
        loop {
            let replicated = async {
                if conn.is_none() {
                    conn = Some(h.connect(to).await?);
                }
                let s = conn.as_mut().expect("connected above");
                let mut req = vec![b'W'];
                req.extend(id.to_le_bytes());
                s.write_all(&req).await?;
                let got = s.read_u64_le().await?;
                Ok::<_, std::io::Error>(got == id)
            };
            let ok = matches!(
                timeout(&h, REPLICATION_TIMEOUT, replicated).await,
                Ok(Ok(true))
            );
            if ok {
                break;
            }
            conn = None;
            sh.replication_failures
                .set(sh.replication_failures.get() + 1);
            if mode.may_degrade(h.now()) {
                sh.degraded.set(sh.degraded.get() + 1); // BUG: acknowledged, never re-sent
                sh.reach(depth - 1);
                break;
            }
            h.sleep(WRITE_EVERY).await;
        }
        sh.state.borrow_mut().insert(id);
        sh.acked.borrow_mut().push((id, h.now()));
        h.sleep(WRITE_EVERY).await;
    }
}

impl PlantedBug {
    fn run_sim(&self, ctx: &RunCtx<'_>, schedule: &FaultSchedule) -> Outcome {
        let mut out = Outcome::start(self.name(), ctx);
        let depth = depth(&ctx.params);
        let base = LinkConfig::default();
        let mut sim = Sim::new(ctx.sim_config());
        let sh = Rc::new(Shared::default());
        let s2 = sh.clone();
        sim.host("primary", move |h| primary(h, s2.clone(), depth));
        let s2 = sh.clone();
        sim.host("backup", move |h| backup(h, s2.clone()));
        if depth >= 3 {
            sim.host("bystander-1", ping_echo);
        } else {
            sim.host("bystander-1", |_| async {});
        }
        sim.host("bystander-2", |_| async {});
        let end = schedule.end() + LIVENESS;
        sim.client("auditor", move |h| async move {
            h.sleep(end).await;
            Ok(())
        });
        schedule.apply(&sim, &base);
        out.schedule = Some(schedule.to_json());
        let run = sim.run();
        out.sim_run(&run, sim.trace_hash());
        let state = sh.state.borrow();
        let acked = sh.acked.borrow();
        let lost: Vec<u64> = acked
            .iter()
            .map(|a| a.0)
            .filter(|id| !state.contains(id))
            .collect();
        if !lost.is_empty() {
            sh.reach(depth);
        }
        out.invariants.push(Invariant::check(
            "acknowledged_writes_survive",
            lost.is_empty(),
            format!(
                "{} of {} acknowledged writes lost {:?}",
                lost.len(),
                acked.len(),
                &lost[..lost.len().min(5)]
            ),
        ));
        let heal = Instant::ZERO + schedule.end();
        let after = acked.iter().filter(|a| a.1 > heal).count() as u64;
        out.invariants.push(Invariant::check(
            "writes_continue_after_heal",
            after > 0,
            format!("{after} writes acknowledged after the last fault ended"),
        ));
        out.metric("acked", acked.len() as u64);
        out.metric("degraded_acks", sh.degraded.get());
        out.metric("lost", lost.len() as u64);
        out.metric("fault_events", schedule.events.len() as u64);
        out.metric("depth", depth);
        out.metric("stage", sh.stage.get());
        out.metric("replication_failures", sh.replication_failures.get());
        if depth >= 3 {
            out.metric("ping_recoveries_max", sh.ping_recoveries_max.get());
            out.metric("flaky_entries", sh.flaky_entries.get());
        }
        if depth >= 4 {
            out.metric("clock_jump_max_ms", sh.clock_jump_max_ns.get() / 1_000_000);
        }
        out
    }
}

impl Scenario for PlantedBug {
    fn name(&self) -> &'static str {
        "planted-bug"
    }
    fn summary(&self) -> &'static str {
        "test-only: loses writes when the primary crashes after a primary-backup partition (deeper with --set depth=3|4)"
    }
    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }
    fn backends(&self) -> &'static [Backend] {
        &[Backend::Sim]
    }
    fn run(&self, ctx: &RunCtx<'_>) -> Result<Outcome, RunError> {
        let schedule = spec().draw(ctx.seed);
        self.run_with_schedule(ctx, &schedule)
    }
    fn swarm(&self, _params: &Params) -> Option<SwarmSpec> {
        Some(spec())
    }
    fn fault_schedule(&self, seed: u64, _params: &Params) -> Option<FaultSchedule> {
        Some(spec().draw(seed))
    }
    fn run_with_schedule(
        &self,
        ctx: &RunCtx<'_>,
        schedule: &FaultSchedule,
    ) -> Result<Outcome, RunError> {
        schedule.validate(&spec())?;
        Ok(self.run_sim(ctx, schedule))
    }
}
