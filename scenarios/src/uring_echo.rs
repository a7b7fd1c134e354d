//! The echo scenario on the io_uring backend: the kernel runner's shape (every worker listens
//! on one SO_REUSEPORT port, clients spread over the workers, workers wait for each other
//! before tearing down), with each worker's ring counters reported.

use crate::echo::{client, serve};
use crate::scenario::RunError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use testbed_model::{Duration, Instant, Listener, Net, Runtime};
use testbed_uring::{RingStats, Uring};

/// Per-client results, the elapsed time from the first worker's start to the last worker's
/// end, and the summed ring counters.
pub(crate) type UringEcho = (Vec<Result<Vec<u64>, String>>, Duration, RingStats);

pub(crate) fn run(
    seed: u64,
    workers: usize,
    clients: u64,
    rts: u64,
    size: usize,
) -> Result<UringEcho, RunError> {
    let uring = Uring::builder()
        .workers(workers)
        .seed(seed)
        .build()
        .map_err(|e| RunError::Setup(e.to_string()))?;
    // The first worker picks the port; the others join it (SO_REUSEPORT).
    let port = Arc::new(std::sync::Mutex::new(None::<std::net::SocketAddr>));
    let ready = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let outputs = uring.run(|w| {
        let (port, ready, done) = (port.clone(), ready.clone(), done.clone());
        async move {
            let start = w.now();
            if w.index() != 0 {
                while ready.load(Ordering::SeqCst) == 0 {
                    w.sleep(Duration::from_millis(1)).await;
                }
            }
            let bind = port
                .lock()
                .map(|p| p.unwrap_or_else(|| "127.0.0.1:0".parse().expect("literal")))
                .unwrap_or_else(|_| "127.0.0.1:0".parse().expect("literal"));
            let listener = match w.listen(bind) {
                Ok(l) => l,
                Err(e) => {
                    ready.fetch_add(1, Ordering::SeqCst);
                    done.fetch_add(1, Ordering::SeqCst);
                    return (
                        vec![Err(format!("worker {} listen: {e}", w.index()))],
                        start,
                        w.now(),
                    );
                }
            };
            let addr = listener.local_addr();
            if let Ok(mut p) = port.lock() {
                p.get_or_insert(addr);
            }
            ready.fetch_add(1, Ordering::SeqCst);
            while ready.load(Ordering::SeqCst) < w.count() {
                w.sleep(Duration::from_millis(1)).await;
            }
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
    let mut all = Vec::new();
    let (mut first, mut last) = (Instant::MAX, Instant::ZERO);
    let mut stats = RingStats::default();
    for (i, o) in outputs.into_iter().enumerate() {
        match o {
            Ok(((r, s, e), st)) => {
                all.extend(r);
                first = first.min(s);
                last = last.max(e);
                stats.enters += st.enters;
                stats.submitted += st.submitted;
                stats.completed += st.completed;
            }
            Err(e) => all.push(Err(format!("worker {i}: {e}"))),
        }
    }
    Ok((all, last.saturating_duration_since(first), stats))
}
