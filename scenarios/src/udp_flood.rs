//! `udp-flood` (网络编程进阶主题 §5.2): a UDP request/response service with a finite CPU (one request
//! at a time, `cost` each, behind a bounded socket queue) is flooded from many spoofed
//! sources and by a few bots with real addresses (which answer challenges, like a careful
//! attacker would). Legitimate clients make requests and retry a few times.
//!
//! Run without a defence (the queue overflows and legitimate requests are dropped) and with
//! the ingress chain [per-source limit + auto-blocklist, challenge–response]: spoofed sources
//! never see their challenge, so never reach the service; bots pass the challenge but are
//! held to the per-source limit and blocklisted when they keep exceeding it.
//! Invariant: with the defence at least 99% of legitimate requests succeed.

use crate::ddos_common::{
    record_variants, spoofed_source, variants, Cpu, Legit, VariantRun, DEFENCE_CHOICES,
};
use crate::outcome::{Invariant, Outcome};
use crate::params::{Kind, ParamSpec, Params};
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
use serde_json::json;
use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use testbed_distributed::ddos::blocklist::Blocklist;
use testbed_distributed::ddos::source_guard::{SourceGuard, SourceGuardConfig, SourceGuardStats};
use testbed_distributed::ddos::udp_challenge::{
    answer, strip_token, UdpChallenge, UdpChallengeConfig, UdpChallengeStats,
};
use testbed_distributed::ddos::Chain;
use testbed_distributed::limit::Quota;
use testbed_model::packet::{PacketFilter, Verdict};
use testbed_model::wire::build_udp;
use testbed_model::{DatagramSocket, Duration, Instant, Net, Rng, Runtime};
use testbed_sim::{Fidelity, Hook, Latency, LinkConfig, Sim, SimConfig};

/// The scenario.
pub struct UdpFlood;

const PORT: u16 = 53;

const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "clients",
        default: "20",
        kind: Kind::Int { min: 1, max: 500 },
        help: "legitimate clients",
    },
    ParamSpec {
        name: "requests",
        default: "10",
        kind: Kind::Int { min: 1, max: 1000 },
        help: "requests each legitimate client makes (two per second)",
    },
    ParamSpec {
        name: "flood_rate",
        default: "20000",
        kind: Kind::Int {
            min: 0,
            max: 200_000,
        },
        help: "datagrams per second from spoofed sources",
    },
    ParamSpec {
        name: "bots",
        default: "3",
        kind: Kind::Int { min: 0, max: 50 },
        help: "flooding hosts with real addresses (they answer challenges)",
    },
    ParamSpec {
        name: "bot_rate",
        default: "2000",
        kind: Kind::Int {
            min: 0,
            max: 100_000,
        },
        help: "datagrams per second per bot",
    },
    ParamSpec {
        name: "cost",
        default: "1ms",
        kind: Kind::Duration,
        help: "server CPU time per request (one at a time)",
    },
    ParamSpec {
        name: "per_source",
        default: "50",
        kind: Kind::Int {
            min: 1,
            max: 100_000,
        },
        help: "defence: datagrams per second per source",
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
        help: "run without the defence (off), with it (on), or both",
    },
];

/// A filter half that shares its inner filter, so the scenario can read its counters.
struct Shared<F>(Arc<Mutex<F>>);

impl<F: PacketFilter> PacketFilter for Shared<F> {
    fn on_packet(&mut self, now: Instant, frame: &mut [u8]) -> Verdict {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .on_packet(now, frame)
    }
}

/// One legitimate request: send, wait up to 250 ms for the answer, resend (with a fresh
/// token when challenged) until it comes or the attempt times out.
async fn request<S: DatagramSocket>(
    h: &testbed_sim::Host,
    s: &S,
    server: SocketAddr,
    body: &[u8],
    prefix: &mut Option<[u8; 12]>,
) -> std::io::Result<()> {
    let mut buf = [0u8; 256];
    loop {
        let mut msg = prefix.map(|p| p.to_vec()).unwrap_or_default();
        msg.extend_from_slice(body);
        s.send_to(&msg, server).await?;
        let deadline = h.now() + Duration::from_millis(250);
        loop {
            match testbed_model::runtime::timeout_at(h, deadline, s.recv_from(&mut buf)).await {
                Err(_) => break, // resend
                Ok(Err(e)) => return Err(e),
                Ok(Ok((n, _))) => {
                    if let Some(p) = answer(&buf[..n]) {
                        *prefix = Some(p);
                        break;
                    }
                    if &buf[..n] == body {
                        return Ok(());
                    }
                    // A late answer to an earlier request: keep waiting.
                }
            }
        }
    }
}

impl UdpFlood {
    fn run_variant(&self, ctx: &RunCtx<'_>, name: &'static str, defended: bool) -> VariantRun {
        let p: &Params = &ctx.params;
        let (clients, requests) = (p.int("clients"), p.int("requests"));
        let (rate, bots, bot_rate) = (p.int("flood_rate"), p.int("bots"), p.int("bot_rate"));
        let cost = p.duration("cost");
        let cfg = SimConfig {
            default_link: LinkConfig {
                latency: Latency::Fixed(p.duration("latency")),
                ..LinkConfig::default()
            },
            fidelity: Fidelity::Packet,
            datagram_queue: 128,
            time_limit: Duration::from_secs(600),
            ..ctx.sim_config()
        };
        let flood_end = Instant::ZERO + Duration::from_millis(requests * 500 + 2000);
        let served = Rc::new(RefCell::new(0u64));
        let mut sim = Sim::new(cfg);
        let served2 = served.clone();
        sim.host("server", move |h| {
            let served = served2.clone();
            async move {
                let s = h
                    .bind_datagram(SocketAddr::from(([0, 0, 0, 0], PORT)))
                    .expect("fresh host");
                let cpu = Cpu::default();
                let mut buf = vec![0u8; 2048];
                while let Ok((n, from)) = s.recv_from(&mut buf).await {
                    cpu.work(&h, cost).await;
                    *served.borrow_mut() += 1;
                    let _ = s.send_to(strip_token(&buf[..n]), from).await;
                }
            }
        });
        let server = sim.handle("server").expect("server");
        let filters = defended.then(|| {
            let guard = Arc::new(Mutex::new(SourceGuard::new(
                SourceGuardConfig {
                    udp: Some(Quota::per_second(p.int("per_source"))),
                    udp_ports: vec![PORT],
                    syn: None,
                    block_after: 200,
                    block_window: Duration::from_secs(10),
                    block_for: Duration::from_secs(60),
                    ..SourceGuardConfig::default()
                },
                Blocklist::shared(65_536),
            )));
            let challenge = Arc::new(Mutex::new(UdpChallenge::new(
                UdpChallengeConfig {
                    ports: vec![PORT],
                    ..UdpChallengeConfig::default()
                },
                &mut server.rng(),
            )));
            server.attach_filter(
                Hook::Ingress,
                Chain::default()
                    .then(Shared(guard.clone()))
                    .then(Shared(challenge.clone())),
            );
            (guard, challenge)
        });
        let spoofed_sent = Rc::new(RefCell::new(0u64));
        let sent2 = spoofed_sent.clone();
        sim.host("spoofer", move |h| {
            let sent = sent2.clone();
            async move {
                let Some(IpAddr::V4(target)) = h.lookup("server") else {
                    return;
                };
                if rate == 0 {
                    return;
                }
                let mut rng = h.rng();
                let gap = Duration::from_nanos(1_000_000_000 / rate);
                let mut next = h.now();
                while h.now() < flood_end {
                    let src = SocketAddrV4::new(
                        spoofed_source(&mut rng),
                        1024 + (rng.next_u64() % 60_000) as u16,
                    );
                    let frame = build_udp(src, SocketAddrV4::new(target, PORT), &[0x55; 32]);
                    if h.send_frame(frame).is_ok() {
                        *sent.borrow_mut() += 1;
                    }
                    next += gap;
                    h.sleep_until(next).await;
                }
            }
        });
        for b in 0..bots {
            sim.host(&format!("bot-{b}"), move |h| async move {
                let Some(ip) = h.lookup("server") else {
                    return;
                };
                let server = SocketAddr::new(ip, PORT);
                let Ok(s) = h.bind_datagram(SocketAddr::from(([0, 0, 0, 0], 0))) else {
                    return;
                };
                if bot_rate == 0 {
                    return;
                }
                let s = Rc::new(s);
                let prefix = Rc::new(std::cell::Cell::new(None::<[u8; 12]>));
                // A reader that answers challenges by updating the prefix.
                let (s2, p2) = (s.clone(), prefix.clone());
                drop(h.spawn(async move {
                    let mut buf = [0u8; 256];
                    while let Ok((n, _)) = s2.recv_from(&mut buf).await {
                        if let Some(a) = answer(&buf[..n]) {
                            p2.set(Some(a));
                        }
                    }
                }));
                let gap = Duration::from_nanos(1_000_000_000 / bot_rate);
                let mut next = h.now();
                while h.now() < flood_end {
                    let mut msg = prefix.get().map(|p| p.to_vec()).unwrap_or_default();
                    msg.extend_from_slice(&[0xB0; 32]);
                    let _ = s.send_to(&msg, server).await;
                    next += gap;
                    h.sleep_until(next).await;
                }
            });
        }
        let legit = Rc::new(RefCell::new(Legit::default()));
        for c in 0..clients {
            let legit = legit.clone();
            sim.client(&format!("client-{c}"), move |h| async move {
                let server = SocketAddr::new(h.lookup("server").expect("server"), PORT);
                let s = h.bind_datagram(SocketAddr::from(([0, 0, 0, 0], 0)))?;
                h.sleep(Duration::from_millis(500 + c * 500 / clients.max(1)))
                    .await;
                let mut prefix = None;
                for i in 0..requests {
                    let t0 = h.now();
                    let body = format!("legitimate request {c}/{i}");
                    let r = testbed_model::timeout(
                        &h,
                        Duration::from_secs(1),
                        request(&h, &s, server, body.as_bytes(), &mut prefix),
                    )
                    .await;
                    legit
                        .borrow_mut()
                        .record(matches!(r, Ok(Ok(()))), h.now() - t0);
                    h.sleep_until(t0 + Duration::from_millis(500)).await;
                }
                Ok(())
            });
        }
        let run = sim.run();
        let hash = sim.trace_hash();
        let l = legit.borrow().clone();
        let mut metrics = l.metrics();
        metrics.insert("spoofed_sent".into(), json!(*spoofed_sent.borrow()));
        metrics.insert("server_requests_processed".into(), json!(*served.borrow()));
        if let Some((guard, challenge)) = filters {
            let g: SourceGuardStats = guard.lock().unwrap_or_else(|p| p.into_inner()).stats();
            let c: UdpChallengeStats = challenge.lock().unwrap_or_else(|p| p.into_inner()).stats();
            metrics.insert("guard_limited".into(), json!(g.udp_limited));
            metrics.insert("guard_blocked_drops".into(), json!(g.blocked));
            metrics.insert("guard_auto_blocked_sources".into(), json!(g.auto_blocked));
            metrics.insert("challenges_sent".into(), json!(c.challenged));
            metrics.insert("sources_verified".into(), json!(c.verified));
        }
        let counts = server.filter_counts(Hook::Ingress);
        metrics.insert("ingress_drop".into(), json!(counts.drop));
        metrics.insert("ingress_tx".into(), json!(counts.tx));
        metrics.insert("ingress_pass".into(), json!(counts.pass));
        VariantRun {
            name,
            run,
            hash,
            metrics,
        }
    }
}

impl Scenario for UdpFlood {
    fn name(&self) -> &'static str {
        "udp-flood"
    }
    fn summary(&self) -> &'static str {
        "spoofed and bot UDP floods against a finite service, without and with per-source limits + challenge-response (packet fidelity)"
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
        let runs: Vec<VariantRun> = variants(p.choice("defence"))
            .into_iter()
            .map(|(name, defended)| self.run_variant(ctx, name, defended))
            .collect();
        let rates: Vec<(&str, f64)> = runs
            .iter()
            .map(|v| {
                (
                    v.name,
                    v.metrics["legit_success_rate"].as_f64().unwrap_or(0.0),
                )
            })
            .collect();
        record_variants(&mut out, runs);
        for (name, rate) in rates {
            if name == "defended" {
                out.invariants.push(Invariant::check(
                    "defended_legit_success_ge_99pct",
                    rate >= 0.99,
                    format!(
                        "{:.1}% of legitimate requests succeeded with the defence",
                        rate * 100.0
                    ),
                ));
            }
        }
        Ok(out)
    }
}
