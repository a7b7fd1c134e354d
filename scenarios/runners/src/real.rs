//! Running a scenario's server and clients on a real backend (kernel sockets or io_uring):
//! every worker listens on one SO_REUSEPORT port, clients are spread over the workers, and
//! workers wait for each other before tearing down (a worker's server may be serving another
//! worker's clients). The same generic server and client code the simulator runs.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use testbed_contract::Outcome;
use testbed_contract::{Backend, RunCtx, RunError};
use testbed_kernel::{Kernel, PortReservation};
use testbed_model::{Duration, Instant, Net, Runtime};
use testbed_uring::{RingStats, Uring};

/// A scenario's server and client, generic over the backend's worker type.
pub trait Workload: Clone + Send + Sync + 'static {
    /// What one client reports.
    type Out: Send + 'static;
    /// Serves connections from `listener` until aborted.
    fn serve<W: Net + Runtime>(
        self,
        w: W,
        listener: W::Listener,
    ) -> impl Future<Output = ()> + 'static;
    /// Client `id` against `server`.
    fn client<W: Net + Runtime>(
        self,
        w: W,
        server: SocketAddr,
        id: u64,
    ) -> impl Future<Output = Self::Out> + 'static;
}

/// What a real run produced.
pub struct RealRun<T> {
    /// Each client's report, in no particular order.
    pub outs: Vec<T>,
    /// Workers or client tasks that failed outright (listen errors, panics).
    pub failures: Vec<String>,
    /// From the first worker's start to the last worker's end.
    pub elapsed: Duration,
    /// io_uring only: the workers' ring counters, summed.
    pub ring: Option<RingStats>,
    /// Wall time of the whole run, setup and teardown included.
    pub wall: Duration,
}

type WorkerOut<T> = (Vec<T>, Vec<String>, Instant, Instant);
type Outputs<T> = Vec<Result<WorkerOut<T>, String>>;

async fn worker<W: Net + Runtime, L: Workload>(
    w: W,
    index: usize,
    count: usize,
    addr: SocketAddr,
    clients: u64,
    load: L,
    done: Arc<AtomicUsize>,
) -> WorkerOut<L::Out> {
    let start = w.now();
    let listener = match w.listen(addr) {
        Ok(l) => l,
        Err(e) => {
            done.fetch_add(1, Ordering::SeqCst);
            return (
                Vec::new(),
                vec![format!("worker {index} listen {addr}: {e}")],
                start,
                w.now(),
            );
        }
    };
    let server = w.spawn(load.clone().serve(w.clone(), listener));
    let mine: Vec<_> = (0..clients)
        .filter(|id| *id as usize % count == index)
        .map(|id| w.spawn(load.clone().client(w.clone(), addr, id)))
        .collect();
    let (mut outs, mut failures) = (Vec::new(), Vec::new());
    for h in mine {
        match h.await {
            Ok(o) => outs.push(o),
            Err(e) => failures.push(format!("worker {index}: client task: {e}")),
        }
    }
    let end = w.now();
    done.fetch_add(1, Ordering::SeqCst);
    while done.load(Ordering::SeqCst) < count {
        w.sleep(Duration::from_millis(1)).await;
    }
    server.abort();
    (outs, failures, start, end)
}

/// Runs `clients` clients of `load` against its server on `workers` workers of `backend`.
pub fn run<L: Workload>(
    backend: Backend,
    seed: u64,
    workers: usize,
    clients: u64,
    load: L,
) -> Result<RealRun<L::Out>, RunError> {
    let port = PortReservation::new("127.0.0.1:0".parse().expect("literal"))
        .map_err(|e| RunError::Setup(format!("reserve a loopback port: {e}")))?;
    let addr = port.addr();
    let done = Arc::new(AtomicUsize::new(0));
    let (outputs, ring): (Outputs<L::Out>, _) = match backend {
        Backend::Kernel => {
            let kernel = Kernel::builder().workers(workers).seed(seed).build();
            let outs = kernel.run(|w| {
                let (i, n) = (w.index(), w.count());
                worker(w, i, n, addr, clients, load.clone(), done.clone())
            });
            (
                outs.into_iter()
                    .map(|o| o.map_err(|e| e.to_string()))
                    .collect(),
                None,
            )
        }
        Backend::Uring => {
            let uring = Uring::builder()
                .workers(workers)
                .seed(seed)
                .build()
                .map_err(|e| RunError::Setup(e.to_string()))?;
            let outs = uring.run(|w| {
                let (i, n) = (w.index(), w.count());
                worker(w, i, n, addr, clients, load.clone(), done.clone())
            });
            let mut stats = RingStats::default();
            let outs = outs
                .into_iter()
                .map(|o| {
                    o.map(|(v, st)| {
                        stats.merge(&st);
                        v
                    })
                    .map_err(|e| e.to_string())
                })
                .collect();
            (outs, Some(stats))
        }
        other => {
            return Err(RunError::Setup(format!(
                "real::run runs the kernel and io_uring backends, not {other}"
            )));
        }
    };
    drop(port);
    let mut run = RealRun {
        outs: Vec::new(),
        failures: Vec::new(),
        elapsed: Duration::ZERO,
        ring,
        wall: Duration::ZERO,
    };
    let (mut first, mut last) = (Instant::MAX, Instant::ZERO);
    for (i, o) in outputs.into_iter().enumerate() {
        match o {
            Ok((outs, failures, s, e)) => {
                run.outs.extend(outs);
                run.failures.extend(failures);
                first = first.min(s);
                last = last.max(e);
            }
            Err(e) => run.failures.push(format!("worker {i}: {e}")),
        }
    }
    run.elapsed = last.saturating_duration_since(first);
    Ok(run)
}

/// [`run`] for a scenario (or, on `xdp` and `dpdk`, [`crate::real_port::run_xdp`] and
/// [`crate::real_dpdk::run`]: the server on smoltcp over AF_XDP or a DPDK port): its `clients` and `workers` parameters on `ctx.backend`, timed by
/// `ctx.wall`; records `wall_s`, `workers` and, on io_uring, `ring_enters`, `ring_ops` and the
/// ring's overflow, ENOBUFS, re-arm and buffer counters.
pub fn run_scenario<L: Workload>(
    ctx: &RunCtx<'_>,
    out: &mut Outcome,
    load: L,
) -> Result<RealRun<L::Out>, RunError> {
    let (clients, workers) = (
        ctx.params.int("clients"),
        ctx.params.int("workers") as usize,
    );
    let wall0 = (ctx.wall)();
    let mut r = match ctx.backend {
        Backend::Xdp => crate::real_port::run_xdp(ctx.seed, clients, load)?,
        Backend::Dpdk => crate::real_dpdk::run(ctx, clients, load, out)?,
        other => run(other, ctx.seed, workers, clients, load)?,
    };
    r.wall = (ctx.wall)() - wall0;
    out.metric("wall_s", r.wall.as_secs_f64());
    out.metric("workers", workers as u64);
    if let Some(ring) = r.ring {
        out.metric("ring_enters", ring.enters);
        out.metric("ring_ops", ring.submitted);
        out.metric("ring_cq_overflows", ring.cq_overflows);
        out.metric("ring_cq_dropped", ring.cq_dropped);
        out.metric("ring_enobufs", ring.provided_empty);
        out.metric("ring_recv_rearms", ring.recv_rearms);
        out.metric("ring_coalesced_waits", ring.coalesced_waits);
        out.metric("ring_provided_buffers", ring.provided_buffers);
        out.metric("ring_send_buffers", ring.send_buffers);
        out.metric("ring_lingering_sends", ring.lingering_sends);
        out.metric("ring_linger_timeouts", ring.linger_timeouts);
        out.metric("ring_setup", ring.setup.name());
    }
    Ok(r)
}
