//! Running a scenario's server on smoltcp over a packet port (AF_XDP; DPDK in
//! `real_dpdk`) and its clients on the kernel backend: the port sits on the outer end of a
//! veth pair whose inner end is in a namespace this run creates (or on a NIC wired to a
//! kernel interface the run moves into its namespace), and the clients run inside that
//! namespace, so every byte crosses the real port. The same generic server and client
//! code as the simulator's and the other backends'.

use crate::real::{RealRun, Workload};
use smoltcp::wire::Ipv4Cidr;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use testbed_contract::RunError;
use testbed_kernel::Kernel;
use testbed_model::packet::PacketPort;
use testbed_model::{Duration, Instant, Net, Runtime};
use testbed_stack::{Stack, StackBuilder};
use testbed_xdp::netns::{Netns, Veth};

/// The server's address on the port.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 84, 0, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 84, 0, 2);
const PORT: u16 = 7000;

fn setup(e: impl std::fmt::Display) -> RunError {
    RunError::Setup(e.to_string())
}

/// How a port shares its interface with the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    /// The port takes every frame (AF_XDP): the kernel may keep the server's address.
    Exclusive,
    /// The kernel sees the frames too (AF_PACKET): it must not own the server's address, or
    /// it would answer the clients' SYNs with resets.
    Shared,
}

/// The namespace of a run and how its clients reach the port: a veth pair this run made, or
/// a kernel interface wired to the port (lab hardware) moved into the namespace. Dropped
/// (removed) after the run.
pub struct Wiring {
    /// The namespace the clients run in.
    pub ns: Netns,
    /// The pair, when this run made one (the port sits on `veth.outer`).
    pub veth: Option<Veth>,
}

/// Creates the namespace and veth pair for a port that shares its interface as `sharing`.
pub fn wire(sharing: Sharing) -> Result<Wiring, RunError> {
    let ns = Netns::new("tbrp").map_err(setup)?;
    let outer = match sharing {
        Sharing::Exclusive => SERVER,
        Sharing::Shared => Ipv4Addr::new(10, 84, 9, 1),
    };
    let veth = Veth::new(&ns, &outer.to_string(), &CLIENT.to_string()).map_err(setup)?;
    if sharing == Sharing::Shared {
        // The kernel sees the port's frames too: it must own no address there and must not
        // forward what arrives (frames to the server's MAC are the outer end's MAC), so it
        // neither answers nor routes the clients' packets anywhere.
        let _ = testbed_xdp::netns::ip(&["addr", "flush", "dev", &veth.outer]);
        for (key, v) in [
            (format!("net.ipv4.conf.{}.forwarding", veth.outer), "0"),
            (format!("net.ipv6.conf.{}.disable_ipv6", veth.outer), "1"),
        ] {
            std::fs::write(format!("/proc/sys/{}", key.replace('.', "/")), v)
                .map_err(|e| setup(format!("sysctl {key}={v}: {e}")))?;
        }
    }
    checksums_in_software(&ns, &veth.inner)?;
    Ok(Wiring {
        ns,
        veth: Some(veth),
    })
}

/// Moves the kernel interface `peer` (wired to the port, e.g. a NIC cabled to the DPDK NIC)
/// into a new namespace and gives it the clients' address. The namespace's removal hands a
/// physical interface back to the root namespace (without its address); a virtual one is
/// deleted with it.
#[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
pub fn wire_peer(peer: &str) -> Result<Wiring, RunError> {
    let ip = testbed_xdp::netns::ip;
    if !std::path::Path::new(&format!("/sys/class/net/{peer}")).exists() {
        return Err(setup(format!(
            "--dpdk-peer {peer}: no such interface in this namespace"
        )));
    }
    let ns = Netns::new("tbrp").map_err(setup)?;
    ip(&["link", "set", peer, "netns", ns.name()]).map_err(setup)?;
    let cidr = format!("{CLIENT}/24");
    ns.exec("ip", &["addr", "add", &cidr, "dev", peer])
        .map_err(setup)?;
    ns.exec("ip", &["link", "set", peer, "up"]).map_err(setup)?;
    checksums_in_software(&ns, peer)?;
    Ok(Wiring { ns, veth: None })
}

/// Frames the kernel sends carry partial checksums when it offloads them (veth does);
/// smoltcp checks them, so the client side computes them in software.
fn checksums_in_software(ns: &Netns, iface: &str) -> Result<(), RunError> {
    ns.exec("ethtool", &["-K", iface, "tx", "off"])
        .map(drop)
        .map_err(setup)
}

type ClientOuts<T> = (Vec<T>, Vec<String>, Instant, Instant);

/// Serves `load` from `stack` (already built over the port on `w.veth.outer`) while
/// `clients` clients run on the kernel backend inside the namespace.
pub fn run<L: Workload, P: PacketPort>(
    w: &Wiring,
    stack: &mut Stack<P>,
    seed: u64,
    clients: u64,
    load: L,
) -> Result<RealRun<L::Out>, RunError>
where
    P::Error: std::fmt::Display + 'static,
{
    let ready = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let addr = SocketAddr::new(SERVER.into(), PORT);
    std::thread::scope(|s| {
        let (ready2, done2, load2) = (ready.clone(), done.clone(), load.clone());
        let client_side = s.spawn(move || {
            let r = w.ns.run_in(move || {
                while !ready2.load(Ordering::SeqCst) {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                let kernel = Kernel::builder().workers(1).seed(seed).build();
                kernel.run(|wk| {
                    let load = load2.clone();
                    async move {
                        let start = wk.now();
                        let tasks: Vec<_> = (0..clients)
                            .map(|id| wk.spawn(load.clone().client(wk.clone(), addr, id)))
                            .collect();
                        let (mut outs, mut failures) = (Vec::new(), Vec::new());
                        for t in tasks {
                            match t.await {
                                Ok(o) => outs.push(o),
                                Err(e) => failures.push(format!("client task: {e}")),
                            }
                        }
                        (outs, failures, start, wk.now())
                    }
                })
            });
            done2.store(true, Ordering::SeqCst);
            r
        });
        let served = stack.run(|h| {
            let (ready, done) = (ready.clone(), done.clone());
            async move {
                let l = match h.listen(addr) {
                    Ok(l) => l,
                    Err(e) => {
                        ready.store(true, Ordering::SeqCst);
                        return Err(format!("listen {addr}: {e}"));
                    }
                };
                let server = h.spawn(load.serve(h.clone(), l));
                ready.store(true, Ordering::SeqCst);
                while !done.load(Ordering::SeqCst) {
                    h.sleep(Duration::from_millis(2)).await;
                }
                server.abort();
                Ok(())
            }
        });
        done.store(true, Ordering::SeqCst);
        let outputs = client_side
            .join()
            .map_err(|_| setup("the client thread panicked"))?
            .map_err(setup)?;
        served.map_err(setup)?.map_err(setup)?;
        let mut run = RealRun {
            outs: Vec::new(),
            failures: Vec::new(),
            elapsed: Duration::ZERO,
            ring: None,
            wall: Duration::ZERO,
        };
        for o in outputs {
            match o {
                Ok((outs, failures, a, b)) => {
                    let o: ClientOuts<L::Out> = (outs, failures, a, b);
                    run.outs.extend(o.0);
                    run.failures.extend(o.1);
                    run.elapsed = o.3.saturating_duration_since(o.2);
                }
                Err(e) => run.failures.push(format!("client worker: {e}")),
            }
        }
        Ok(run)
    })
}

/// A stack for the server with address `mac` over `port`.
pub fn stack<P: PacketPort>(mac: [u8; 6], port: P, seed: u64) -> Result<Stack<P>, RunError> {
    StackBuilder::new()
        .ip(Ipv4Cidr::new(SERVER, 24))
        .mac(mac)
        .seed(seed)
        .build(port)
        .map_err(setup)
}

/// [`run`] with the server on smoltcp over AF_XDP (`--backend xdp`).
pub fn run_xdp<L: Workload>(seed: u64, clients: u64, load: L) -> Result<RealRun<L::Out>, RunError> {
    testbed_xdp::available().map_err(setup)?;
    let w = wire(Sharing::Exclusive)?;
    let veth = w.veth.as_ref().expect("wire makes a veth pair");
    let port = testbed_xdp::XskPort::open(&veth.outer, 0).map_err(setup)?;
    let mut stack = stack(veth.outer_mac().map_err(setup)?, port, seed)?;
    stack.set_idle_wait(|p: &mut testbed_xdp::XskPort, d| {
        let _ = p.wait_rx(d);
    });
    run(&w, &mut stack, seed, clients, load)
}
