//! Discovery on the simulated registry: the conformance suite (exact virtual time), and what
//! only a simulated registry can show — an instance partitioned from the registry expires,
//! a registry crash loses its state (instances come back as their agents re-register), and
//! self-preservation keeps a silent instance listed when most renewals stop.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_distributed::discovery::conformance::{run_all, verdict, Bounds};
use testbed_distributed::discovery::{
    follow, keep_registered, serve, AgentStats, ClientConfig, Discovery, Instance, Registration,
    RegistryClient, RegistryConfig, RegistryServer, SelfPreservation, ServerConfig, ServiceView,
};
use testbed_model::{Duration, Instant, Net, Runtime};
use testbed_sim::{Host, LinkConfig, Sim, SimConfig};

const PORT: u16 = 2379;
const TICK: Duration = Duration::from_millis(100);

fn registry(sim: &mut Sim, cfg: ServerConfig) {
    sim.host("registry", move |h| {
        let cfg = cfg.clone();
        async move {
            let l = h.listen(([0, 0, 0, 0], PORT).into()).expect("fresh host");
            serve(h.clone(), l, RegistryServer::new(h.now(), cfg)).await
        }
    });
}

fn client(h: &Host) -> RegistryClient<Host> {
    let addr = SocketAddr::new(h.lookup("registry").expect("registry host"), PORT);
    RegistryClient::new(h.clone(), addr, ClientConfig::default())
}

fn server_cfg(sp: Option<SelfPreservation>) -> ServerConfig {
    ServerConfig {
        registry: RegistryConfig {
            tick: TICK,
            self_preservation: sp,
            ..RegistryConfig::default()
        },
        ..ServerConfig::default()
    }
}

#[test]
fn conformance_on_the_simulated_registry() {
    for seed in 0..8 {
        // 1 ms links with up to 1 ms of jitter: each seed times the exchanges differently.
        let mut sim = Sim::new(SimConfig {
            seed,
            default_link: LinkConfig {
                jitter: Duration::from_millis(1),
                ..LinkConfig::default()
            },
            ..SimConfig::default()
        });
        registry(&mut sim, server_cfg(None));
        let out = Rc::new(RefCell::new(None));
        let o2 = out.clone();
        sim.client("conformance", move |h| async move {
            let d = client(&h);
            let b = Bounds {
                ttl: Duration::from_secs(1),
                tick: TICK,
                // A keepalive reaches the registry 1-2 ms after it is sent, a delete reaches
                // the watcher 1-2 ms after the reaper.
                slack: Duration::from_millis(4),
                ttl_below_min: Duration::from_millis(499),
                quiet: Duration::from_secs(2),
            };
            *o2.borrow_mut() = Some(run_all(&d, &h, &b, "conf").await);
            Ok(())
        });
        sim.run().expect("run");
        let results = out.borrow_mut().take().expect("suite ran");
        match verdict(&results) {
            Ok(text) => println!("seed {seed}:\n{text}"),
            Err(text) => panic!("seed {seed}:\n{text}"),
        }
    }
}

/// A client's view over time: when it changed and the ids it listed.
type Views = Vec<(Instant, Vec<String>)>;

/// Runs `agents` instances of `svc` (hosts `inst-<i>`) keeping themselves registered, and an
/// observer following the service; returns the observer's view history as (time, ids).
struct World {
    sim: Sim,
    history: Rc<RefCell<Views>>,
    stats: Vec<Rc<RefCell<AgentStats>>>,
}

const REG: Registration = Registration {
    ttl: Duration::from_secs(2),
    every: Duration::from_millis(500),
    retry: Duration::from_millis(200),
};

fn world(sp: Option<SelfPreservation>, agents: usize, until: Duration) -> World {
    let mut sim = Sim::new(SimConfig::default());
    registry(&mut sim, server_cfg(sp));
    let mut stats = Vec::new();
    for i in 0..agents {
        let st = Rc::new(RefCell::new(AgentStats::default()));
        stats.push(st.clone());
        sim.host(&format!("inst-{i}"), move |h| {
            let st = st.clone();
            async move {
                let d = client(&h);
                let me = Instance::new("svc", &format!("inst-{i}"), (h.ip(), 80).into());
                keep_registered(&d, &h, &me, REG, &st).await
            }
        });
    }
    let history = Rc::new(RefCell::new(Vec::new()));
    let hist = history.clone();
    sim.client("observer", move |h| async move {
        let d = client(&h);
        let view = RefCell::new(ServiceView::default());
        let watch = follow(&d, &h, "svc", Duration::from_millis(200), &view, |v| {
            let ids = v.instances().map(|i| i.id.clone()).collect();
            hist.borrow_mut().push((h.now(), ids));
        });
        let _ = testbed_model::timeout(&h, until, watch).await;
        Ok(())
    });
    World {
        sim,
        history,
        stats,
    }
}

/// When `id` was last listed and first unlisted after `t`.
fn removed_after(history: &[(Instant, Vec<String>)], id: &str, t: Instant) -> Option<Instant> {
    history
        .iter()
        .find(|(at, ids)| *at >= t && !ids.iter().any(|x| x == id))
        .map(|(at, _)| *at)
}

fn listed_at(history: &[(Instant, Vec<String>)], t: Instant) -> Vec<String> {
    history
        .iter()
        .take_while(|(at, _)| *at <= t)
        .last()
        .map(|(_, ids)| ids.clone())
        .unwrap_or_default()
}

#[test]
fn an_instance_partitioned_from_the_registry_expires_and_comes_back() {
    let mut w = world(None, 3, Duration::from_secs(12));
    let cut = Instant::from_secs(3);
    w.sim.at(cut, |c| c.partition("inst-1", "registry"));
    w.sim
        .at(Instant::from_secs(7), |c| c.repair("inst-1", "registry"));
    w.sim.run().expect("run");
    let h = w.history.borrow();
    assert_eq!(listed_at(&h, cut), ["inst-0", "inst-1", "inst-2"]);
    let gone = removed_after(&h, "inst-1", cut).expect("inst-1 removed");
    // Its last keepalive answered was at most `every` before the cut; then TTL + one tick
    // and the 1 ms hop to the observer.
    let after = gone - cut;
    assert!(
        after >= REG.ttl - REG.every,
        "removed {after:?} after the cut"
    );
    assert!(
        after <= REG.ttl + TICK + Duration::from_millis(2),
        "removed {after:?} after the cut"
    );
    assert_eq!(listed_at(&h, Instant::from_secs(6)), ["inst-0", "inst-2"]);
    assert_eq!(
        listed_at(&h, Instant::from_secs(9)),
        ["inst-0", "inst-1", "inst-2"]
    );
    let s = *w.stats[1].borrow();
    assert_eq!(s.leases_lost, 1, "{s:?}");
    assert_eq!(s.registered, 2, "{s:?}");
    // Each failed keepalive costs `every` plus the 1 s request timeout: 4 s cut, 2 or more.
    assert!(s.keepalives_failed >= 2, "{s:?}");
    assert_eq!(w.stats[0].borrow().leases_lost, 0);
}

#[test]
fn a_restarted_registry_has_lost_its_state_until_agents_re_register() {
    let mut w = world(None, 3, Duration::from_secs(10));
    let crash = Instant::from_secs(3);
    let restart = Instant::from_secs(4);
    w.sim.at(crash, |c| c.crash("registry"));
    w.sim.at(restart, |c| c.restart("registry"));
    // A probe resolving right after the restart sees the empty registry.
    let probe = Rc::new(RefCell::new(None));
    let p2 = probe.clone();
    w.sim.client("probe", move |h| async move {
        h.sleep_until(restart + Duration::from_millis(5)).await;
        *p2.borrow_mut() = Some(client(&h).resolve("svc").await);
        Ok(())
    });
    w.sim.run().expect("run");
    let r = probe.borrow_mut().take().expect("probed").expect("resolve");
    assert!(r.instances.is_empty(), "state survived: {:?}", r.instances);
    let h = w.history.borrow();
    // Within one keepalive period (plus a request timeout) every agent is back.
    let back = restart + REG.every + Duration::from_secs(1);
    assert_eq!(
        listed_at(&h, back + Duration::from_millis(10)),
        ["inst-0", "inst-1", "inst-2"]
    );
    for s in &w.stats {
        let s = *s.borrow();
        assert_eq!((s.leases_lost, s.registered), (1, 2), "{s:?}");
    }
    // The observer went through an empty view (its watch resumed into the new registry's
    // history: Compacted, re-resolve) before the agents were back.
    assert!(
        h.iter().any(|(t, ids)| *t >= restart && ids.len() < 3),
        "{h:?}"
    );
}

fn partition_one_of_three(
    sp: Option<SelfPreservation>,
) -> (Vec<(Instant, Vec<String>)>, AgentStats) {
    let mut w = world(sp, 3, Duration::from_secs(12));
    w.sim
        .at(Instant::from_secs(3), |c| c.partition("inst-2", "registry"));
    w.sim
        .at(Instant::from_secs(8), |c| c.repair("inst-2", "registry"));
    w.sim.run().expect("run");
    let h = w.history.borrow().clone();
    let s = *w.stats[2].borrow();
    (h, s)
}

#[test]
fn self_preservation_keeps_a_partitioned_instance_listed() {
    let sp = SelfPreservation {
        window: Duration::from_secs(1),
        threshold: 0.85,
        leases_min: 2,
    };
    let (on, on_stats) = partition_one_of_three(Some(sp));
    let (off, off_stats) = partition_one_of_three(None);
    let all = ["inst-0", "inst-1", "inst-2"];
    // During the partition (3 s .. 8 s), after the TTL had passed:
    for t in [5, 6, 7] {
        assert_eq!(listed_at(&on, Instant::from_secs(t)), all, "on, t={t}");
        assert_eq!(
            listed_at(&off, Instant::from_secs(t)),
            ["inst-0", "inst-1"],
            "off, t={t}"
        );
    }
    // On: the lease survived, so the instance never had to re-register.
    assert_eq!(
        (on_stats.leases_lost, on_stats.registered),
        (0, 1),
        "{on_stats:?}"
    );
    assert_eq!(
        (off_stats.leases_lost, off_stats.registered),
        (1, 2),
        "{off_stats:?}"
    );
    assert_eq!(listed_at(&off, Instant::from_secs(11)), all);
}
