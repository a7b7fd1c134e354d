//! The Linux side (the oracle): namespaces joined by veth pairs (`lab`), impairments with nft
//! rules and the impairment bridge (`wire`), and each row's measurement on the kernel backend
//! (`rows`). Needs root, `ip`, `nft` and `ethtool`; the bridged rows also AF_XDP.

mod cmd;
mod control;
pub mod error;
pub mod host;
pub mod lab;
mod nft_shell;
mod rows;
mod wire;

use crate::row::{Obs, RowId};

/// Why the Linux side cannot run here (`Err`), or `Ok` when it can.
pub fn available() -> Result<(), String> {
    if !is_root() {
        return Err("the Linux side needs root (network namespaces, nft, AF_XDP)".into());
    }
    for tool in ["ip", "nft", "ethtool"] {
        if !cmd::has_tool(tool) {
            return Err(format!("`{tool}` is not installed"));
        }
    }
    Ok(())
}

/// Why the rows that need the impairment bridge (latency, rate) cannot run, if they cannot.
pub fn bridge_available() -> Result<(), String> {
    testbed_xdp::available().map_err(|e| format!("impairment bridge (AF_XDP): {e}"))
}

fn is_root() -> bool {
    // /proc/self/status "Uid:" real effective saved fs.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Measures `rows` on Linux, concurrently (one thread and one lab per row; the rows mostly
/// wait, so the total is about the longest row); results in `rows`' order. Three phases, so
/// that building and removing namespaces, links and XDP programs (which serialize in the
/// kernel) never run while a row measures: every lab is built, then every row measures,
/// then every lab is removed.
pub fn measure_all(rows: &[RowId]) -> Vec<Obs> {
    if let Err(e) = available() {
        return rows.iter().map(|_| not_run(&e)).collect();
    }
    let bridge = bridge_available();
    let built = std::sync::Barrier::new(rows.len());
    let quick = Latch::new(rows.iter().filter(|r| is_quick(**r)).count());
    let results: Vec<(Obs, Option<lab::Lab>)> = std::thread::scope(|s| {
        let handles: Vec<_> = rows
            .iter()
            .enumerate()
            .map(|(i, &row)| {
                let (bridge, built, quick) = (&bridge, &built, &quick);
                std::thread::Builder::new()
                    .name(format!("fid-{}", row.name()))
                    .spawn_scoped(s, move || {
                        // Pairs 10.77.1–250 (distinct per row of this call).
                        let prepared = rows::prepare(row, (i % 250 + 1) as u8, bridge);
                        built.wait();
                        // Counts this quick row down however it ends (panics included).
                        let _done = is_quick(row).then(|| quick.guard());
                        if row == RowId::TimeWait {
                            // A CPU-bound row: it starts once the rows that time single
                            // round trips are done, so neither disturbs the other.
                            quick.wait(QUICK_WAIT_MAX);
                        }
                        match prepared {
                            Ok(p) => {
                                let (obs, lab) = p.measure();
                                (obs, Some(lab))
                            }
                            Err(obs) => (obs, None),
                        }
                    })
            })
            .collect();
        let spawned_all = handles.iter().all(|h| h.is_ok());
        if !spawned_all {
            // The barrier would never fill; the rows that started wait forever otherwise.
            for _ in handles.iter().filter(|h| h.is_err()) {
                let _ = std::thread::Builder::new().spawn_scoped(s, || built.wait());
            }
        }
        handles
            .into_iter()
            .zip(rows)
            .map(|(h, row)| match h {
                Ok(h) => h.join().unwrap_or_else(|p| {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    let why = format!("{}: the Linux driver panicked: {msg}", row.name());
                    (not_run(&why), None)
                }),
                Err(e) => (not_run(&format!("{}: spawn: {e}", row.name())), None),
            })
            .collect()
    });
    // Every row is done: now the labs go (each removes what it made on drop), in parallel.
    let (obs, labs): (Vec<Obs>, Vec<Option<lab::Lab>>) = results.into_iter().unzip();
    std::thread::scope(|s| {
        for lab in labs.into_iter().flatten() {
            if let Err(e) = std::thread::Builder::new().spawn_scoped(s, move || drop(lab)) {
                // The closure (and the lab in it) was dropped here, on this thread.
                let _ = e;
            }
        }
    });
    obs
}

/// Longest the CPU-bound row waits for the quick rows.
const QUICK_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(60);

/// Rows that time single round trips or short transfers and finish within seconds.
fn is_quick(row: RowId) -> bool {
    !matches!(
        row,
        RowId::TimeWait
            | RowId::PartitionHeal10s
            | RowId::PartitionHeal30s
            | RowId::SynRetries
            | RowId::Backlog
    )
}

/// A countdown: `wait` returns once `guard`s for every count were dropped (or on timeout).
struct Latch {
    left: std::sync::Mutex<usize>,
    zero: std::sync::Condvar,
}

struct LatchGuard<'a>(&'a Latch);

impl Latch {
    fn new(n: usize) -> Latch {
        Latch {
            left: std::sync::Mutex::new(n),
            zero: std::sync::Condvar::new(),
        }
    }
    fn guard(&self) -> LatchGuard<'_> {
        LatchGuard(self)
    }
    fn wait(&self, max: std::time::Duration) {
        let left = self.left.lock().unwrap_or_else(|p| p.into_inner());
        let _ = self.zero.wait_timeout_while(left, max, |n| *n > 0);
    }
}

impl Drop for LatchGuard<'_> {
    fn drop(&mut self) {
        let mut n = self.0.left.lock().unwrap_or_else(|p| p.into_inner());
        *n = n.saturating_sub(1);
        self.0.zero.notify_all();
    }
}

fn not_run(why: &str) -> Obs {
    rows::not_run(why.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latch_opens_when_every_guard_is_gone() {
        let latch = Latch::new(2);
        std::thread::scope(|s| {
            let (a, b) = (latch.guard(), latch.guard());
            s.spawn(move || drop(a));
            s.spawn(move || drop(b));
            // Would wait the full minute (and the test time out) if a count were lost.
            latch.wait(std::time::Duration::from_secs(60));
        });
        assert_eq!(*latch.left.lock().unwrap(), 0);
    }

    #[test]
    fn quick_rows_leave_out_the_long_and_the_cpu_bound() {
        assert!(!is_quick(RowId::TimeWait));
        assert!(!is_quick(RowId::PartitionHeal30s));
        assert!(is_quick(RowId::ClosedPort));
    }
}
