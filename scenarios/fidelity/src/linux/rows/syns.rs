//! When the client's packets left: an nft counter of the client namespace (its SYNs, or its
//! segments to the server port), sampled every 25 ms on a thread of its own while the row
//! runs (the kernel's retransmission times are not visible through the socket API). Real time: this is the
//! Linux side, which measures the wall clock like the kernel backend does.
#![allow(clippy::disallowed_methods)]

use crate::linux::lab::Lab;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

const PERIOD: std::time::Duration = std::time::Duration::from_millis(25);
/// Samples kept at most (a row lasts well under this many periods).
const MAX_SYNS: usize = 256;

/// A running sampler.
pub(super) struct Sampler {
    what: &'static str,
    stop: Arc<AtomicBool>,
    times: Arc<Mutex<Vec<f64>>>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling `lab`'s client counter `counter` ("syns" or "to_server").
    pub(super) fn start(lab: &Lab, counter: &'static str, what: &'static str) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let times = Arc::new(Mutex::new(Vec::new()));
        let probe = lab.client_counter_probe(counter);
        let (stop2, times2) = (stop.clone(), times.clone());
        let thread = std::thread::spawn(move || {
            let mut seen = 0u64;
            let start = std::time::Instant::now(); // allow-nondeterminism: sampling a real Linux run (Linux side only)
            while !stop2.load(Ordering::Relaxed) {
                if let Ok(n) = probe() {
                    let elapsed = start.elapsed().as_secs_f64();
                    if n > seen {
                        let mut t = times2.lock().unwrap_or_else(|p| p.into_inner());
                        for _ in seen..n {
                            if t.len() < MAX_SYNS {
                                t.push(elapsed);
                            }
                        }
                        seen = n;
                    }
                }
                std::thread::sleep(PERIOD);
            }
        });
        Sampler {
            what,
            stop,
            times,
            thread: Some(thread),
        }
    }

    /// Stops and describes the times (seconds after the first packet, to the sampling
    /// period).
    pub(super) fn finish(mut self) -> String {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let t = self.times.lock().unwrap_or_else(|p| p.into_inner());
        let first = t.first().copied().unwrap_or(0.0);
        let list: Vec<String> = t.iter().map(|s| format!("{:.2}", s - first)).collect();
        format!(
            "client sent {} {}, at [{}] s after the first (25 ms sampling)",
            t.len(),
            self.what,
            list.join(", ")
        )
    }
}
