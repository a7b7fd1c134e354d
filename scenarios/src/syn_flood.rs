//! `syn-flood` (网络编程进阶主题 §5.2): an attacker sends spoofed SYNs at many times the server's
//! half-open capacity while legitimate clients keep connecting and making one request per
//! connection. Packet fidelity: the server's listener is a real smoltcp stack whose queue
//! (half-open plus unaccepted connections) is bounded by its backlog; half-open connections
//! to spoofed sources wait out the SYN-RECEIVED timeout.
//!
//! Run twice per seed: without a defence (the queue fills with spoofed half-open connections
//! and legitimate SYNs are dropped), and with the SYN proxy (cookie SYN-ACKs; the listener
//! only ever sees clients that completed a handshake). Invariants: without the defence most
//! legitimate attempts fail; with it at least 99% succeed.

use crate::ddos_common::{
    record_variants, round4, spoofed_source, variants, Legit, VariantRun, DEFENCE_CHOICES,
};
use crate::outcome::{Invariant, Outcome};
use crate::params::{Kind, ParamSpec, Params};
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
use serde_json::json;
use std::cell::RefCell;
use std::net::{SocketAddr, SocketAddrV4};
use std::rc::Rc;
use testbed_distributed::ddos::syncookie::SynCookies;
use testbed_distributed::ddos::synproxy::{SynProxy, SynProxyConfig};
use testbed_model::wire::{build_tcp, tcp_flags, TcpSegment};
use testbed_model::{Duration, Instant, Listener, Net, Rng, Runtime};
use testbed_sim::{Fidelity, Hook, Latency, LinkConfig, Sim, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The scenario.
pub struct SynFlood;

const PORT: u16 = 80;

const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "clients",
        default: "20",
        kind: Kind::Int { min: 1, max: 500 },
        help: "legitimate clients",
    },
    ParamSpec {
        name: "connects",
        default: "10",
        kind: Kind::Int { min: 1, max: 1000 },
        help: "connections each legitimate client makes (one per second)",
    },
    ParamSpec {
        name: "flood_rate",
        default: "2000",
        kind: Kind::Int {
            min: 0,
            max: 200_000,
        },
        help: "spoofed SYNs per second",
    },
    ParamSpec {
        name: "backlog",
        default: "64",
        kind: Kind::Int { min: 1, max: 4096 },
        help: "the listener's queue: half-open plus unaccepted connections",
    },
    ParamSpec {
        name: "half_open_timeout",
        default: "63s",
        kind: Kind::Duration,
        help: "how long a half-open connection waits for its final ACK (Linux: ~63 s)",
    },
    ParamSpec {
        name: "attempt_timeout",
        default: "3s",
        kind: Kind::Duration,
        help: "a legitimate attempt (connect + request + response) fails after this",
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
        help: "run without the SYN proxy (off), with it (on), or both",
    },
];

/// One legitimate attempt: connect, send 16 bytes, read them back.
async fn attempt(h: &testbed_sim::Host, server: SocketAddr) -> Result<(), String> {
    let mut s = h.connect(server).await.map_err(|e| e.to_string())?;
    let msg = *b"legitimate-hello";
    s.write_all(&msg).await.map_err(|e| e.to_string())?;
    let mut back = [0u8; 16];
    s.read_exact(&mut back).await.map_err(|e| e.to_string())?;
    if back != msg {
        return Err("wrong echo".into());
    }
    Ok(())
}

impl SynFlood {
    fn run_variant(&self, ctx: &RunCtx<'_>, name: &'static str, defended: bool) -> VariantRun {
        let p: &Params = &ctx.params;
        let (clients, connects) = (p.int("clients"), p.int("connects"));
        let rate = p.int("flood_rate");
        let attempt_timeout = p.duration("attempt_timeout");
        let cfg = SimConfig {
            default_link: LinkConfig {
                latency: Latency::Fixed(p.duration("latency")),
                ..LinkConfig::default()
            },
            fidelity: Fidelity::Packet,
            accept_backlog: p.int("backlog") as usize,
            half_open_timeout: p.duration("half_open_timeout"),
            time_limit: Duration::from_secs(600),
            ..ctx.sim_config()
        };
        let flood_end = Instant::ZERO + Duration::from_secs(connects + 2);
        let mut sim = Sim::new(cfg);
        sim.host("server", |h| async move {
            let l = h
                .listen(SocketAddr::from(([0, 0, 0, 0], PORT)))
                .expect("fresh host");
            while let Ok((mut s, _)) = l.accept().await {
                drop(h.spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n @ 1..) = s.read(&mut buf).await {
                        if s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }));
            }
        });
        let server = sim.handle("server").expect("server");
        let proxy = defended.then(|| {
            let mut rng = server.rng();
            let proxy = SynProxy::new(
                SynCookies::new(&mut rng),
                SynProxyConfig {
                    ports: vec![PORT],
                    ..SynProxyConfig::default()
                },
            );
            server.attach_filter(Hook::Ingress, proxy.ingress());
            server.attach_filter(Hook::Egress, proxy.egress());
            proxy
        });
        let sent = Rc::new(RefCell::new(0u64));
        let sent2 = sent.clone();
        sim.host("attacker", move |h| {
            let sent = sent2.clone();
            async move {
                if rate == 0 {
                    return;
                }
                let target = match h.lookup("server") {
                    Some(std::net::IpAddr::V4(a)) => SocketAddrV4::new(a, PORT),
                    _ => return,
                };
                let mut rng = h.rng();
                let gap = Duration::from_nanos(1_000_000_000 / rate);
                let mut next = h.now();
                while h.now() < flood_end {
                    let src = SocketAddrV4::new(
                        spoofed_source(&mut rng),
                        1024 + (rng.next_u64() % 60_000) as u16,
                    );
                    let frame = build_tcp(
                        src,
                        target,
                        &TcpSegment {
                            seq: rng.next_u64() as u32,
                            flags: tcp_flags::SYN,
                            window: 65_535,
                            options: &[2, 4, 0x05, 0xb4],
                            ..TcpSegment::default()
                        },
                    );
                    if h.send_frame(frame).is_ok() {
                        *sent.borrow_mut() += 1;
                    }
                    next += gap;
                    h.sleep_until(next).await;
                }
            }
        });
        let legit = Rc::new(RefCell::new(Legit::default()));
        for c in 0..clients {
            let legit = legit.clone();
            sim.client(&format!("client-{c}"), move |h| async move {
                let server = SocketAddr::new(h.lookup("server").expect("server"), PORT);
                // Start once the flood is under way, spread over the first second.
                h.sleep(Duration::from_millis(500 + c * 1000 / clients.max(1)))
                    .await;
                for _ in 0..connects {
                    let t0 = h.now();
                    let r = testbed_model::timeout(&h, attempt_timeout, attempt(&h, server)).await;
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
        let stats = server.packet_stats();
        metrics.insert("flood_syns_sent".into(), json!(*sent.borrow()));
        metrics.insert(
            "server_listen_queue_full_drops".into(),
            json!(stats.listen_queue_full),
        );
        metrics.insert("server_accepted".into(), json!(stats.accepted));
        if let Some(px) = proxy {
            let s = px.stats();
            metrics.insert("proxy_cookies_sent".into(), json!(s.cookies_sent));
            metrics.insert("proxy_cookies_valid".into(), json!(s.cookies_valid));
            metrics.insert("proxy_cookies_invalid".into(), json!(s.cookies_invalid));
            metrics.insert("proxy_server_handshakes".into(), json!(s.server_handshakes));
            metrics.insert("proxy_tracked_at_end".into(), json!(s.tracked));
        }
        VariantRun {
            name,
            run,
            hash,
            metrics,
        }
    }
}

impl Scenario for SynFlood {
    fn name(&self) -> &'static str {
        "syn-flood"
    }
    fn summary(&self) -> &'static str {
        "spoofed SYN flood against a smoltcp listener, without and with a SYN-cookie proxy (packet fidelity)"
    }
    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }
    fn backends(&self) -> &'static [Backend] {
        &[Backend::Sim]
    }
    fn run(&self, ctx: &RunCtx<'_>) -> Result<Outcome, RunError> {
        crate::params::check_product(&ctx.params, "clients", "connects", 100_000)?;
        let p = &ctx.params;
        let mut out = Outcome::start(self.name(), ctx);
        let backlog = p.int("backlog") as f64;
        let capacity_per_s = backlog / p.duration("half_open_timeout").as_secs_f64();
        out.metric(
            "flood_vs_backlog_capacity",
            round4(p.int("flood_rate") as f64 / capacity_per_s),
        );
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
            if name == "undefended" && p.int("flood_rate") > 0 {
                out.invariants.push(Invariant::check(
                    "undefended_legit_mostly_fail",
                    rate < 0.5,
                    format!(
                        "{:.1}% of legitimate attempts succeeded without the SYN proxy",
                        rate * 100.0
                    ),
                ));
            }
            if name == "defended" {
                out.invariants.push(Invariant::check(
                    "defended_legit_success_ge_99pct",
                    rate >= 0.99,
                    format!(
                        "{:.1}% of legitimate attempts succeeded with the SYN proxy",
                        rate * 100.0
                    ),
                ));
            }
        }
        Ok(out)
    }
}
