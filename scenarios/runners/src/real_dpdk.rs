//! `--backend dpdk`: the scenario's server on smoltcp over a DPDK port, its clients on the
//! kernel backend in a namespace (see `real_port`). By default the run makes a veth pair and
//! opens DPDK's `net_af_packet` on its outer end (no hugepages, no PCI); on lab hardware
//! `--dpdk-args`/`--dpdk-port` name a NIC and `--dpdk-peer` the kernel interface cabled to it.
//! Without the `dpdk` cargo feature the backend is not in the build and [`run`] says so.

use crate::real::{RealRun, Workload};
use testbed_contract::{Outcome, Params};
use testbed_contract::{RunCtx, RunError};
use testbed_stack::bridge::{Latency, LinkConfig};

/// Runs `clients` clients of `load` against its server on a DPDK port as `ctx.dpdk` says.
#[cfg(not(feature = "dpdk"))]
pub fn run<L: Workload>(
    _ctx: &RunCtx<'_>,
    _clients: u64,
    _load: L,
    _out: &mut Outcome,
) -> Result<RealRun<L::Out>, RunError> {
    Err(RunError::BackendNotBuilt("dpdk".into()))
}

/// The impairment bridge's link from a scenario's link parameters (those it declares of
/// `latency`, `jitter`, `loss`, `bandwidth`; `bandwidth` 0 is unlimited), as the simulator
/// reads them; `None` when it declares none of them.
#[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
pub fn link_from(params: &Params) -> Option<LinkConfig> {
    let names = ["latency", "jitter", "loss", "bandwidth"];
    if !names.iter().any(|n| params.has(n)) {
        return None;
    }
    let mut link = LinkConfig::clean();
    if params.has("latency") {
        link.latency = Latency::Fixed(params.duration("latency"));
    }
    if params.has("jitter") {
        link.jitter = params.duration("jitter");
    }
    if params.has("loss") {
        link.loss = params.real("loss");
    }
    if params.has("bandwidth") {
        link.bandwidth = Some(params.int("bandwidth")).filter(|&b| b > 0);
    }
    Some(link)
}

#[cfg(feature = "dpdk")]
pub use with_dpdk::run;

#[cfg(feature = "dpdk")]
mod with_dpdk {
    use super::*;
    use crate::real_port::{self, Sharing};
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::{Mutex, OnceLock};
    use testbed_contract::DpdkOpts;
    use testbed_dpdk::{
        DpdkPacketPort, Eal, Mempool, MempoolConfig, Port, PortConfig, PortId, Vdev,
        EAL_ARGS_VIRTUAL,
    };
    use testbed_model::Duration;
    use testbed_stack::bridge::{Bridge, BridgeConfig, BridgeStats};
    use testbed_stack::mem::MemPort;

    fn setup(e: impl std::fmt::Display) -> RunError {
        RunError::Setup(e.to_string())
    }

    /// The process's EAL and the arguments it started with (DPDK starts it once).
    static EAL: OnceLock<(Vec<String>, Result<Eal, String>)> = OnceLock::new();
    /// One DPDK run at a time per process (the ports and pools are process-wide names).
    static RUNNING: Mutex<()> = Mutex::new(());
    static SEQ: AtomicU32 = AtomicU32::new(0);

    fn eal(opts: &DpdkOpts) -> Result<&'static Eal, RunError> {
        let args: Vec<String> = match &opts.eal_args {
            Some(a) => a.split_whitespace().map(str::to_owned).collect(),
            None => EAL_ARGS_VIRTUAL.iter().map(|s| s.to_string()).collect(),
        };
        let (started, eal) =
            EAL.get_or_init(|| (args.clone(), Eal::init(&args).map_err(|e| e.to_string())));
        if *started != args {
            return Err(setup(format!(
                "the DPDK EAL already started in this process with {started:?}; DPDK starts once per process, so every run here must use the same --dpdk-args"
            )));
        }
        eal.as_ref()
            .map_err(|e| setup(format!("DPDK EAL init ({args:?}): {e}")))
    }

    /// Runs `load` with `clients` clients on DPDK ports (with the impairment bridge when
    /// the run asks for one) and records the run's metrics in `out`.
    pub fn run<L: Workload>(
        ctx: &RunCtx<'_>,
        clients: u64,
        load: L,
        out: &mut Outcome,
    ) -> Result<RealRun<L::Out>, RunError> {
        let (opts, seed) = (&ctx.dpdk, ctx.seed);
        let impair = match (opts.impair, link_from(&ctx.params)) {
            (false, _) => None,
            (true, Some(link)) => Some(link),
            (true, None) => {
                return Err(RunError::Setup(
                    "--impair: this scenario declares no link parameters (latency, jitter, loss, bandwidth)".into(),
                ))
            }
        };
        let _one = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        // The wiring first: dropped last, after the port and the device on it.
        let w = match (&opts.port, &opts.peer) {
            (None, None) => real_port::wire(Sharing::Shared)?,
            (Some(_), Some(peer)) => real_port::wire_peer(peer)?,
            _ => {
                return Err(RunError::Setup(
                    "--dpdk-port and --dpdk-peer go together: the port the server uses and the kernel interface wired to it".into(),
                ))
            }
        };
        let eal = eal(opts)?;
        let pool = Mempool::new(
            eal,
            &format!("tbscn{n}"),
            MempoolConfig {
                mbufs: 8191,
                cache: 0,
                ..MempoolConfig::default()
            },
        )
        .map_err(setup)?;
        let vdev;
        let id = match (&opts.port, &w.veth) {
            (Some(name), _) => PortId::by_name(eal, name)
                .map_err(|e| setup(format!("{e}; the EAL's ports: {:?}", eal.port_names())))?,
            (None, Some(veth)) => {
                vdev = Vdev::new(
                    eal,
                    &format!("net_af_packet_tb{n}"),
                    &format!("iface={},qpairs=1", veth.outer),
                )
                .map_err(setup)?;
                vdev.port_id()
            }
            (None, None) => unreachable!("without --dpdk-port the run makes a veth pair"),
        };
        let port_name = id.name().unwrap_or_default();
        let port = Port::open(id, &pool, PortConfig::default()).map_err(setup)?;
        let mac = port.mac().map_err(setup)?;
        let port = DpdkPacketPort::new(port, &pool).map_err(setup)?;
        out.metric("dpdk_port", port_name);
        let r = match impair {
            None => {
                let mut stack = real_port::stack(mac.0, port, seed)?;
                let r = real_port::run(&w, &mut stack, seed, clients, load);
                port_metrics(stack.port(), out);
                r
            }
            Some(link) => {
                let (server_side, bridge_side) = MemPort::pair(BRIDGE_QUEUE_FRAMES);
                let mut stack = real_port::stack(mac.0, server_side, seed)?;
                let cfg = BridgeConfig::symmetric(link, seed);
                let mut bridge = Bridge::new(cfg, port, bridge_side).map_err(setup)?;
                let stop = AtomicBool::new(false);
                let (r, bridged) = std::thread::scope(|s| {
                    let b = s.spawn(|| bridge.run(&stop, BRIDGE_IDLE_MAX));
                    let r = real_port::run(&w, &mut stack, seed, clients, load);
                    stop.store(true, Ordering::Relaxed);
                    (r, b.join())
                });
                match bridged {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(setup(format!("impairment bridge: {e}"))),
                    Err(_) => return Err(setup("the impairment bridge thread panicked")),
                }
                port_metrics(bridge.ports().0, out);
                bridge_metrics(&bridge.stats(), out);
                r
            }
        };
        r
    }

    /// Frames the server side's in-memory link holds per direction when bridged.
    const BRIDGE_QUEUE_FRAMES: usize = 4096;
    /// How long the bridge sleeps at most when no frame is due (new frames wait that long).
    const BRIDGE_IDLE_MAX: Duration = Duration::from_micros(100);

    fn port_metrics(p: &DpdkPacketPort<'_>, out: &mut Outcome) {
        if let Ok(st) = p.port().stats() {
            out.metric("dpdk_rx_packets", st.rx_packets);
            out.metric("dpdk_tx_packets", st.tx_packets);
            out.metric("dpdk_rx_missed", st.rx_missed);
            out.metric("dpdk_rx_nombuf", st.rx_nombuf);
        }
    }

    fn bridge_metrics(st: &BridgeStats, out: &mut Outcome) {
        for (dir, l) in [("to_server", &st.a_to_b), ("to_clients", &st.b_to_a)] {
            out.metric(
                &format!("bridge_{dir}"),
                serde_json::json!({
                    "offered": l.offered,
                    "delivered": l.delivered,
                    "lost": l.lost,
                    "duplicated": l.duplicated,
                    "reordered": l.reordered,
                    "queue_drops": l.queue_drops,
                }),
            );
        }
    }
}
