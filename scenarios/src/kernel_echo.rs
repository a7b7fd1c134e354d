//! The echo scenario on the kernel backend: every worker listens on one SO_REUSEPORT port,
//! clients are spread over the workers, and workers wait for each other before tearing down
//! (a worker's server may be serving another worker's clients).

use crate::echo::{client, serve};
use crate::scenario::RunError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use testbed_kernel::{Kernel, PortReservation};
use testbed_model::{Duration, Instant, Net, Runtime};

/// Per-client results and the elapsed time from the first worker's start to the last
/// worker's end.
pub(crate) type KernelEcho = (Vec<Result<Vec<u64>, String>>, Duration);

pub(crate) fn run(
    seed: u64,
    workers: usize,
    clients: u64,
    rts: u64,
    size: usize,
) -> Result<KernelEcho, RunError> {
    let kernel = Kernel::builder().workers(workers).seed(seed).build();
    let port = PortReservation::new("127.0.0.1:0".parse().expect("literal"))
        .map_err(|e| RunError::Setup(format!("reserve a loopback port: {e}")))?;
    let addr = port.addr();
    let done = Arc::new(AtomicUsize::new(0));
    let outputs = kernel.run(|w| {
        let done = done.clone();
        async move {
            let start = w.now();
            let listener = match w.listen(addr) {
                Ok(l) => l,
                Err(e) => {
                    done.fetch_add(1, Ordering::SeqCst);
                    return (
                        vec![Err(format!("worker {} listen {addr}: {e}", w.index()))],
                        start,
                        w.now(),
                    );
                }
            };
            let server = w.spawn(serve(w.clone(), listener));
            let mine: Vec<_> = (0..clients)
                .filter(|id| *id as usize % w.count() == w.index())
                .map(|id| w.spawn(client(w.clone(), addr, id, rts, size)))
                .collect();
            let mut results = Vec::new();
            for h in mine {
                results.push(h.await.unwrap_or_else(|e| Err(e.to_string())));
            }
            let end = w.now();
            done.fetch_add(1, Ordering::SeqCst);
            while done.load(Ordering::SeqCst) < w.count() {
                w.sleep(Duration::from_millis(1)).await;
            }
            server.abort();
            (results, start, end)
        }
    });
    drop(port);
    let mut all = Vec::new();
    let (mut first, mut last) = (Instant::MAX, Instant::ZERO);
    for (i, o) in outputs.into_iter().enumerate() {
        match o {
            Ok((r, s, e)) => {
                all.extend(r);
                first = first.min(s);
                last = last.max(e);
            }
            Err(e) => all.push(Err(format!("worker {i}: {e}"))),
        }
    }
    Ok((all, last.saturating_duration_since(first)))
}
