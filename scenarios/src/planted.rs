//! `planted-bug` (test-only, see [`crate::scenario::test_catalogue`]): a primary replicates
//! each write to a backup and acknowledges it once the backup confirms. The planted bug: when
//! the backup does not answer within 1 s the primary acknowledges anyway ("degraded mode")
//! and never re-sends. A crash of the primary then loses those writes, because a restarted
//! primary recovers its state from the backup. So a run fails only with both a partition of
//! primary–backup and a crash of the primary that begins after writes went unreplicated; the
//! other faults the swarm draws (partitions of bystanders, their crashes, small losses and
//! latencies, clock skew) are harmless. The shrinker's test checks it finds exactly that pair.

use crate::faults::{FaultKind, FaultSchedule, SwarmSpec};
use crate::outcome::{Invariant, Outcome};
use crate::params::{ParamSpec, Params};
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_model::{timeout, Duration, Instant, Listener, Net, Runtime};
use testbed_sim::{Host, LinkConfig, Sim, SimStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The scenario.
pub struct PlantedBug;

const HOSTS: &[&str] = &["primary", "backup", "bystander-1", "bystander-2"];
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(1);
const WRITE_EVERY: Duration = Duration::from_millis(20);
/// How long the run goes on after the last fault ends.
const LIVENESS: Duration = Duration::from_secs(2);

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

/// Primary: recovers from the backup, then writes every 20 ms.
async fn primary(h: Host, sh: Rc<Shared>) {
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
        if !ok {
            conn = None;
            sh.degraded.set(sh.degraded.get() + 1); // BUG: acknowledged, never re-sent
        }
        sh.state.borrow_mut().insert(id);
        sh.acked.borrow_mut().push((id, h.now()));
        h.sleep(WRITE_EVERY).await;
    }
}

impl PlantedBug {
    fn run_sim(&self, ctx: &RunCtx<'_>, schedule: &FaultSchedule) -> Outcome {
        let mut out = Outcome::start(self.name(), ctx);
        let base = LinkConfig::default();
        let mut sim = Sim::new(ctx.sim_config());
        let sh = Rc::new(Shared::default());
        let s2 = sh.clone();
        sim.host("primary", move |h| primary(h, s2.clone()));
        let s2 = sh.clone();
        sim.host("backup", move |h| backup(h, s2.clone()));
        sim.host("bystander-1", |_| async {});
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
        out
    }
}

impl Scenario for PlantedBug {
    fn name(&self) -> &'static str {
        "planted-bug"
    }
    fn summary(&self) -> &'static str {
        "test-only: loses writes when the primary crashes after a primary-backup partition"
    }
    fn params(&self) -> &'static [ParamSpec] {
        &[]
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
