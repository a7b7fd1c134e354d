//! `http-flood` (网络编程进阶主题 §5.3): a few clients hammer an expensive HTTP endpoint (a finite CPU:
//! one request at a time, `cost` each) over many keep-alive connections while legitimate
//! clients make one request per second.
//!
//! Three runs per seed: a no-attack baseline, the attack without a defence (the CPU queue
//! grows and legitimate latency explodes), and the attack with the HTTP guard — a cookie
//! challenge (a redirect setting a cookie, which the legitimate clients, like browsers, carry;
//! flooding tools do not), per-client rate limits, and automatic blocklisting shared with an
//! ingress filter that then drops the offender's packets. Invariant: with the defence the
//! legitimate p99 latency stays within 2x of the baseline's.

use crate::ddos_common::{record_variants, round4, Cpu, Legit, VariantRun, DEFENCE_CHOICES};
use crate::outcome::{Invariant, Outcome};
use crate::params::{Kind, ParamSpec, Params};
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
use serde_json::json;
use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use testbed_distributed::ddos::blocklist::{Blocklist, SharedBlocklist};
use testbed_distributed::ddos::http_guard::{HttpDecision, HttpGuard, HttpGuardConfig};
use testbed_distributed::ddos::source_guard::{SourceGuard, SourceGuardConfig};
use testbed_distributed::limit::Quota;
use testbed_model::{Duration, Instant, Listener, Net, Runtime};
use testbed_protocols::http1::{
    connection, Client, Handler, NoFiles, OwnedRequest, OwnedResponse, ServerConfig,
};
use testbed_sim::{Fidelity, Hook, Host, Latency, LinkConfig, Sim, SimConfig};

/// The scenario.
pub struct HttpFlood;

const PORT: u16 = 80;

const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "clients",
        default: "10",
        kind: Kind::Int { min: 1, max: 500 },
        help: "legitimate clients",
    },
    ParamSpec {
        name: "requests",
        default: "10",
        kind: Kind::Int { min: 1, max: 1000 },
        help: "requests each legitimate client makes (one per second)",
    },
    ParamSpec {
        name: "attackers",
        default: "3",
        kind: Kind::Int { min: 0, max: 50 },
        help: "hosts hammering the expensive endpoint",
    },
    ParamSpec {
        name: "attacker_conns",
        default: "16",
        kind: Kind::Int { min: 1, max: 256 },
        help: "concurrent keep-alive connections per attacker, each sending back to back",
    },
    ParamSpec {
        name: "cost",
        default: "5ms",
        kind: Kind::Duration,
        help: "server CPU time per expensive request (one at a time)",
    },
    ParamSpec {
        name: "per_client",
        default: "20",
        kind: Kind::Int {
            min: 1,
            max: 100_000,
        },
        help: "defence: requests per second per client (burst twice that)",
    },
    ParamSpec {
        name: "latency",
        default: "5ms",
        kind: Kind::Duration,
        help: "one-way link latency",
    },
    ParamSpec {
        name: "defence",
        default: "both",
        kind: Kind::Choice(DEFENCE_CHOICES),
        help: "after the baseline, run the attack without the defence (off), with it (on), or both",
    },
];

/// The expensive endpoint, behind the guard when there is one.
struct Endpoint {
    host: Host,
    peer: std::net::Ipv4Addr,
    cpu: Cpu,
    cost: Duration,
    guard: Option<Rc<RefCell<HttpGuard>>>,
}

impl Handler for Endpoint {
    async fn handle(&self, req: OwnedRequest) -> OwnedResponse {
        if let Some(g) = &self.guard {
            let d = g
                .borrow_mut()
                .check(self.host.now(), self.peer, req.header("cookie"));
            match d {
                HttpDecision::Serve => {}
                HttpDecision::Challenge { set_cookie } => {
                    let mut r = OwnedResponse::empty(307);
                    r.headers
                        .push(("Location".into(), req.target.clone().into_bytes()));
                    r.headers
                        .push(("Set-Cookie".into(), set_cookie.into_bytes()));
                    return r;
                }
                HttpDecision::Limited { retry_after } => {
                    let mut r = OwnedResponse::text(429, "slow down\n");
                    let secs = retry_after.as_secs().max(1).to_string();
                    r.headers.push(("Retry-After".into(), secs.into_bytes()));
                    return r;
                }
                HttpDecision::Blocked => return OwnedResponse::text(403, "blocked\n"),
            }
        }
        self.cpu.work(&self.host, self.cost).await;
        OwnedResponse::text(200, "expensive result\n")
    }
}

/// One legitimate request, following a cookie challenge once.
async fn legit_request(
    c: &Client<Host>,
    server: SocketAddr,
    jar: &mut Option<String>,
) -> Result<(), String> {
    for _ in 0..2 {
        let mut req = OwnedRequest::get("/expensive");
        if let Some(cookie) = jar.as_ref() {
            req.headers
                .push(("Cookie".into(), cookie.clone().into_bytes()));
        }
        let resp = c.request(server, &req).await.map_err(|e| e.to_string())?;
        match resp.status {
            200 => return Ok(()),
            307 => {
                let set = resp.header("set-cookie").ok_or("307 without Set-Cookie")?;
                let set = String::from_utf8_lossy(set);
                *jar = Some(set.split(';').next().unwrap_or_default().to_string());
            }
            s => return Err(format!("status {s}")),
        }
    }
    Err("challenged twice".into())
}

impl HttpFlood {
    fn run_variant(
        &self,
        ctx: &RunCtx<'_>,
        name: &'static str,
        attack: bool,
        defended: bool,
    ) -> VariantRun {
        let p: &Params = &ctx.params;
        let (clients, requests) = (p.int("clients"), p.int("requests"));
        let (attackers, conns) = if attack {
            (p.int("attackers"), p.int("attacker_conns"))
        } else {
            (0, 0)
        };
        let cost = p.duration("cost");
        let cfg = SimConfig {
            default_link: LinkConfig {
                latency: Latency::Fixed(p.duration("latency")),
                ..LinkConfig::default()
            },
            fidelity: Fidelity::Packet,
            accept_backlog: 1024,
            time_limit: Duration::from_secs(600),
            ..ctx.sim_config()
        };
        let flood_end = Instant::ZERO + Duration::from_secs(requests + 2);
        let blocklist: SharedBlocklist = Blocklist::shared(65_536);
        let guard = defended.then(|| {
            Rc::new(RefCell::new(HttpGuard::new(
                HttpGuardConfig {
                    per_client: Quota::per_second(p.int("per_client"))
                        .with_burst(2 * p.int("per_client")),
                    block_after: 100,
                    block_window: Duration::from_secs(10),
                    block_for: Duration::from_secs(600),
                    ..HttpGuardConfig::default()
                },
                blocklist.clone(),
                &mut testbed_model::SeededRng::new(testbed_model::rng::derive_seed(
                    ctx.seed,
                    "http-guard",
                )),
            )))
        });
        let refused = Rc::new(RefCell::new(0u64));
        let mut sim = Sim::new(cfg);
        {
            let (guard, blocklist, refused) = (guard.clone(), blocklist.clone(), refused.clone());
            sim.host("server", move |h| {
                let (guard, blocklist, refused) =
                    (guard.clone(), blocklist.clone(), refused.clone());
                async move {
                    let l = h
                        .listen(SocketAddr::from(([0, 0, 0, 0], PORT)))
                        .expect("fresh host");
                    let cpu = Cpu::default();
                    let gate = testbed_protocols::bounded::ConnGate::new(
                        testbed_protocols::bounded::ServerLimits::default().max_connections,
                    );
                    while let Ok((s, peer)) = l.accept().await {
                        let IpAddr::V4(peer) = peer.ip() else {
                            continue;
                        };
                        if guard.is_some()
                            && blocklist
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .is_blocked(h.now(), peer)
                        {
                            *refused.borrow_mut() += 1;
                            continue; // dropped: the connection closes unanswered
                        }
                        let ep = Endpoint {
                            host: h.clone(),
                            peer,
                            cpu: cpu.clone(),
                            cost,
                            guard: guard.clone(),
                        };
                        let Some(permit) = gate.try_enter() else {
                            continue; // over the cap: closed at once
                        };
                        let h2 = h.clone();
                        drop(h.spawn(async move {
                            connection(&h2, s, &ep, &ServerConfig::default(), &NoFiles).await;
                            drop(permit);
                        }));
                    }
                }
            });
        }
        let server = sim.handle("server").expect("server");
        let source_guard = defended.then(|| {
            let g = Arc::new(Mutex::new(SourceGuard::new(
                SourceGuardConfig {
                    udp: None,
                    syn: Some(Quota::per_second(20)),
                    block_after: 0,
                    ..SourceGuardConfig::default()
                },
                blocklist.clone(),
            )));
            let g2 = g.clone();
            server.attach_filter(Hook::Ingress, move |now: Instant, f: &mut [u8]| {
                use testbed_model::packet::PacketFilter;
                g2.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .on_packet(now, f)
            });
            g
        });
        let attack_requests = Rc::new(RefCell::new(0u64));
        for a in 0..attackers {
            let sent = attack_requests.clone();
            sim.host(&format!("attacker-{a}"), move |h| {
                let sent = sent.clone();
                async move {
                    let Some(ip) = h.lookup("server") else {
                        return;
                    };
                    let server = SocketAddr::new(ip, PORT);
                    let client = Rc::new(Client::new(h.clone()));
                    let tasks: Vec<_> = (0..conns)
                        .map(|_| {
                            let (h, client, sent) = (h.clone(), client.clone(), sent.clone());
                            h.clone().spawn(async move {
                                while h.now() < flood_end {
                                    let req = OwnedRequest::get("/expensive");
                                    let r = testbed_model::timeout(
                                        &h,
                                        Duration::from_secs(2),
                                        client.request(server, &req),
                                    )
                                    .await;
                                    *sent.borrow_mut() += 1;
                                    if !matches!(r, Ok(Ok(_))) {
                                        h.sleep(Duration::from_millis(100)).await;
                                    }
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        let _ = t.await;
                    }
                }
            });
        }
        let legit = Rc::new(RefCell::new(Legit::default()));
        for c in 0..clients {
            let legit = legit.clone();
            sim.client(&format!("client-{c}"), move |h| async move {
                let server = SocketAddr::new(h.lookup("server").expect("server"), PORT);
                let client = Client::new(h.clone());
                let mut jar = None;
                h.sleep(Duration::from_millis(500 + c * 1000 / clients.max(1)))
                    .await;
                for _ in 0..requests {
                    let t0 = h.now();
                    let r = testbed_model::timeout(
                        &h,
                        Duration::from_secs(5),
                        legit_request(&client, server, &mut jar),
                    )
                    .await;
                    legit
                        .borrow_mut()
                        .record(matches!(r, Ok(Ok(()))), h.now() - t0);
                    h.sleep_until(t0 + Duration::from_secs(1)).await;
                }
                Ok(())
            });
        }
        let run = sim.run();
        let hash = sim.trace_hash();
        let l = legit.borrow().clone();
        let mut metrics = l.metrics();
        metrics.insert("attack_requests".into(), json!(*attack_requests.borrow()));
        if let Some(g) = &guard {
            let s = g.borrow().stats();
            metrics.insert("guard_served".into(), json!(s.served));
            metrics.insert("guard_challenged".into(), json!(s.challenged));
            metrics.insert("guard_limited".into(), json!(s.limited));
            metrics.insert("guard_blocked".into(), json!(s.blocked));
            metrics.insert("guard_auto_blocked_clients".into(), json!(s.auto_blocked));
            metrics.insert(
                "connections_refused_blocked".into(),
                json!(*refused.borrow()),
            );
        }
        if let Some(g) = source_guard {
            let s = g.lock().unwrap_or_else(|p| p.into_inner()).stats();
            metrics.insert("ingress_blocked_packets".into(), json!(s.blocked));
            metrics.insert("ingress_syn_limited".into(), json!(s.syn_limited));
        }
        VariantRun {
            name,
            run,
            hash,
            metrics,
        }
    }
}

impl Scenario for HttpFlood {
    fn name(&self) -> &'static str {
        "http-flood"
    }
    fn summary(&self) -> &'static str {
        "clients hammer an expensive HTTP endpoint; baseline, no defence, and cookie challenge + per-client limits + blocklist (packet fidelity)"
    }
    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }
    fn backends(&self) -> &'static [Backend] {
        &[Backend::Sim]
    }
    fn run(&self, ctx: &RunCtx<'_>) -> Result<Outcome, RunError> {
        crate::params::check_product(&ctx.params, "clients", "requests", 100_000)?;
        let p = &ctx.params;
        let mut out = Outcome::start(self.name(), ctx);
        let mut plan = vec![("baseline", false, false)];
        match p.choice("defence") {
            "on" => plan.push(("defended", true, true)),
            "off" => plan.push(("undefended", true, false)),
            _ => {
                plan.push(("undefended", true, false));
                plan.push(("defended", true, true));
            }
        }
        let runs: Vec<VariantRun> = plan
            .into_iter()
            .map(|(name, attack, defended)| self.run_variant(ctx, name, attack, defended))
            .collect();
        let p99 = |name: &str| {
            runs.iter()
                .find(|v| v.name == name)
                .and_then(|v| v.metrics["legit_latency_p99_ms"].as_f64())
        };
        let rate = |name: &str| {
            runs.iter()
                .find(|v| v.name == name)
                .and_then(|v| v.metrics["legit_success_rate"].as_f64())
        };
        let (base, defended, undefended) = (p99("baseline"), p99("defended"), p99("undefended"));
        let defended_rate = rate("defended");
        if let (Some(b), Some(u)) = (base, undefended) {
            out.metric("undefended_p99_vs_baseline", round4(u / b));
        }
        // Progress: without an attack every legitimate request succeeds (else the comparisons
        // below have nothing to compare against).
        let base_rate = rate("baseline");
        out.invariants.push(Invariant::check(
            "baseline_legit_all_succeed",
            base_rate == Some(1.0),
            format!(
                "{:.1}% of legitimate requests succeeded without an attack",
                base_rate.unwrap_or(0.0) * 100.0
            ),
        ));
        if defended_rate.is_some() {
            let ratio = base.zip(defended).map(|(b, d)| d / b);
            out.metric("defended_p99_vs_baseline", ratio.map(round4));
            out.invariants.push(Invariant::check(
                "defended_legit_p99_within_2x_baseline",
                ratio.is_some_and(|r| r <= 2.0) && defended_rate == Some(1.0),
                format!(
                    "legitimate p99 {} ms with the defence vs {} ms baseline; {:.1}% succeeded",
                    defended.map_or("n/a".to_string(), |d| d.to_string()),
                    base.map_or("n/a".to_string(), |b| b.to_string()),
                    defended_rate.unwrap_or(0.0) * 100.0
                ),
            ));
        }
        record_variants(&mut out, runs);
        Ok(out)
    }
}
