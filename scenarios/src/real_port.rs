//! Running a scenario's server on smoltcp over a packet port (AF_XDP today, DPDK with the
//! `dpdk` feature) and its clients on the kernel backend: the port sits on the outer end of a
//! veth pair whose inner end is in a namespace this run creates, and the clients run inside
//! that namespace, so every byte crosses the real port. The same generic server and client
//! code as the simulator's and the other backends'.

use crate::real::{RealRun, Workload};
use crate::scenario::RunError;
use smoltcp::wire::Ipv4Cidr;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use testbed_kernel::Kernel;
use testbed_model::packet::PacketPort;
use testbed_model::{Duration, Instant, Net, Runtime};
use testbed_stack::{Stack, StackBuilder};
use testbed_xdp::netns::{Netns, Veth};

/// The server's address on the port.
pub(crate) const SERVER: Ipv4Addr = Ipv4Addr::new(10, 84, 0, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 84, 0, 2);
const PORT: u16 = 7000;

fn setup(e: impl std::fmt::Display) -> RunError {
    RunError::Setup(e.to_string())
}

/// How a port shares its interface with the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sharing {
    /// The port takes every frame (AF_XDP): the kernel may keep the server's address.
    Exclusive,
    /// The kernel sees the frames too (AF_PACKET): it must not own the server's address, or
    /// it would answer the clients' SYNs with resets.
    Shared,
}

/// The namespace and veth pair of a run; dropped (removed) after it.
pub(crate) struct Wiring {
    pub ns: Netns,
    pub veth: Veth,
}

/// Creates the namespace and veth pair for a port that shares its interface as `sharing`.
pub(crate) fn wire(sharing: Sharing) -> Result<Wiring, RunError> {
    let ns = Netns::new("tbrp").map_err(setup)?;
    let outer = match sharing {
        Sharing::Exclusive => SERVER,
        Sharing::Shared => Ipv4Addr::new(10, 84, 9, 1),
    };
    let veth = Veth::new(&ns, &outer.to_string(), &CLIENT.to_string()).map_err(setup)?;
    if sharing == Sharing::Shared {
        // The kernel's own address there is off the clients' subnet; give the namespace a
        // route to nothing else.
        let _ = testbed_xdp::netns::ip(&["addr", "flush", "dev", &veth.outer]);
    }
    // Frames the kernel sends over a veth carry partial checksums; smoltcp checks them.
    ns.exec("ethtool", &["-K", &veth.inner, "tx", "off"])
        .map_err(setup)?;
    Ok(Wiring { ns, veth })
}

type ClientOuts<T> = (Vec<T>, Vec<String>, Instant, Instant);

/// Serves `load` from `stack` (already built over the port on `w.veth.outer`) while
/// `clients` clients run on the kernel backend inside the namespace.
pub(crate) fn run<L: Workload, P: PacketPort>(
    w: &Wiring,
    mut stack: Stack<P>,
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

/// A stack for the server over `port` on the outer end of `w`.
pub(crate) fn stack<P: PacketPort>(w: &Wiring, port: P, seed: u64) -> Result<Stack<P>, RunError> {
    let mac = w.veth.outer_mac().map_err(setup)?;
    StackBuilder::new()
        .ip(Ipv4Cidr::new(SERVER, 24))
        .mac(mac)
        .seed(seed)
        .build(port)
        .map_err(setup)
}

/// [`run`] with the server on smoltcp over AF_XDP (`--backend xdp`).
pub(crate) fn run_xdp<L: Workload>(
    seed: u64,
    clients: u64,
    load: L,
) -> Result<RealRun<L::Out>, RunError> {
    testbed_xdp::available().map_err(setup)?;
    let w = wire(Sharing::Exclusive)?;
    let port = testbed_xdp::XskPort::open(&w.veth.outer, 0).map_err(setup)?;
    let mut stack = stack(&w, port, seed)?;
    stack.set_idle_wait(|p: &mut testbed_xdp::XskPort, d| {
        let _ = p.wait_rx(d);
    });
    run(&w, stack, seed, clients, load)
}
