//! A user's service as a user would write it: a register replicated on three hosts (`kv-1`,
//! `kv-2`, `kv-3`) with client-driven quorums, written against `testbed_model`'s `Runtime` and
//! `Net` only, plus the few lines that put it in a `Sim` under a fault schedule.
//!
//! Each replica keeps the highest version it was sent on a disk that survives crashes. The
//! client writes versions 1, 2, 3, ...: a write is acknowledged once `write` replicas
//! confirmed it, then read back from the first `read` replicas that answer (asked in order
//! kv-1, kv-2, kv-3), which must return at least that version. With `write + read > 3` every
//! read quorum meets every write quorum ([`Quorums::MAJORITY`]); the planted bug
//! ([`Quorums::PLANTED_BUG`], `write = 1`) breaks that: a read that misses the one replica
//! holding the latest write returns an older version once kv-1 stops answering at the wrong
//! moment.
//!
//! Used by the `quorum_kv` and `quorum_kv_bug` examples and by `tests/quorum_kv.rs`, each of
//! which uses part of it.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_harness::{FaultSchedule, Swarm};
use testbed_model::{timeout, Duration, Instant, Listener, Net, Runtime};
use testbed_sim::{LinkConfig, Sim, SimConfig, SimError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The replicas, in the order the client asks them.
pub const REPLICAS: [&str; 3] = ["kv-1", "kv-2", "kv-3"];
/// The client host.
pub const CLIENT: &str = "client";
const PORT: u16 = 7000;

/// How many replicas a write and a read need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quorums {
    /// Confirmations a write waits for.
    pub write: usize,
    /// Answers a read waits for.
    pub read: usize,
}

impl Quorums {
    /// Two of three for both: every read meets every acknowledged write.
    pub const MAJORITY: Quorums = Quorums { write: 2, read: 2 };
    /// The planted bug: one confirmation acknowledges a write.
    pub const PLANTED_BUG: Quorums = Quorums { write: 1, read: 2 };
}

/// The client's timing.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Quorum sizes.
    pub quorums: Quorums,
    /// Keep writing until this much (client) time has passed.
    pub run_for: Duration,
    /// Deadline of one request (connect, send, answer).
    pub op_timeout: Duration,
    /// Pause between rounds and between retries.
    pub pause: Duration,
    /// A write or read that finds no quorum for this long fails the run (liveness).
    pub give_up: Duration,
}

impl Workload {
    /// 100 ms requests, 20 ms pauses, giving up after 30 s without a quorum.
    pub fn new(quorums: Quorums, run_for: Duration) -> Workload {
        Workload {
            quorums,
            run_for,
            op_timeout: Duration::from_millis(100),
            pause: Duration::from_millis(20),
            give_up: Duration::from_secs(30),
        }
    }
}

/// What the client did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Acknowledged writes (the last version written).
    pub writes: u64,
    /// Reads that returned.
    pub reads: u64,
    /// Requests that failed or timed out.
    pub failed_requests: u64,
}

/// Why the client failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KvError {
    /// A read returned less than the last acknowledged write.
    #[error("stale read: wrote version {wrote}, read version {read} (t={at})")]
    StaleRead {
        /// The acknowledged version.
        wrote: u64,
        /// What the read quorum returned.
        read: u64,
        /// Client time.
        at: Instant,
    },
    /// No quorum answered for `give_up`.
    #[error("{op} of version {version} found no quorum for {waited:?}")]
    NoQuorum {
        /// `write` or `read`.
        op: &'static str,
        /// The version.
        version: u64,
        /// How long it tried.
        waited: Duration,
    },
}

/// A replica's disk: survives crashes.
#[derive(Debug, Default)]
pub struct Disk {
    version: Cell<u64>,
}

/// A replica: `W v` stores `max(stored, v)` and answers `v`; `R 0` answers the stored version.
pub async fn replica<H: Runtime + Net>(h: H, disk: Rc<Disk>) {
    let Ok(l) = h.listen(SocketAddr::from(([0, 0, 0, 0], PORT))) else {
        return;
    };
    while let Ok((mut s, _)) = l.accept().await {
        let disk = disk.clone();
        h.spawn(async move {
            let mut req = [0u8; 9];
            while s.read_exact(&mut req).await.is_ok() {
                let v = u64::from_le_bytes(req[1..].try_into().expect("8 bytes"));
                let answer = match req[0] {
                    b'W' => {
                        disk.version.set(disk.version.get().max(v));
                        v
                    }
                    b'R' => disk.version.get(),
                    _ => break,
                };
                if s.write_all(&answer.to_le_bytes()).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// One request on a fresh connection, within `op_timeout`.
async fn request<H: Runtime + Net>(
    h: &H,
    to: SocketAddr,
    op: u8,
    v: u64,
    t: Duration,
) -> Option<u64> {
    let io = async {
        let mut s = h.connect(to).await.ok()?;
        let mut req = [op; 9];
        req[1..].copy_from_slice(&v.to_le_bytes());
        s.write_all(&req).await.ok()?;
        s.read_u64_le().await.ok()
    };
    timeout(h, t, io).await.ok().flatten()
}

/// Asks the replicas in order until `need` answered (retrying whole rounds for up to
/// `give_up`); returns the answers.
async fn quorum<H: Runtime + Net>(
    h: &H,
    replicas: &[SocketAddr],
    (op, v, need): (u8, u64, usize),
    w: &Workload,
    tally: &mut Tally,
) -> Result<Vec<u64>, KvError> {
    let start = h.now();
    loop {
        let mut answers = Vec::new();
        for &r in replicas {
            match request(h, r, op, v, w.op_timeout).await {
                Some(a) => answers.push(a),
                None => tally.failed_requests += 1,
            }
            if answers.len() == need {
                return Ok(answers);
            }
        }
        let waited = h.now().saturating_duration_since(start);
        if waited >= w.give_up {
            let op = if op == b'W' { "write" } else { "read" };
            return Err(KvError::NoQuorum {
                op,
                version: v,
                waited,
            });
        }
        h.sleep(w.pause).await;
    }
}

/// The client: write version n, read it back, pause; until `run_for` has passed.
pub async fn client<H: Runtime + Net>(
    h: H,
    replicas: Vec<SocketAddr>,
    w: Workload,
) -> Result<Tally, KvError> {
    let end = h.now().saturating_add(w.run_for);
    let mut tally = Tally::default();
    while h.now() < end {
        let v = tally.writes + 1;
        quorum(&h, &replicas, (b'W', v, w.quorums.write), &w, &mut tally).await?;
        tally.writes = v;
        let read = quorum(&h, &replicas, (b'R', 0, w.quorums.read), &w, &mut tally).await?;
        tally.reads += 1;
        let read = read.into_iter().max().unwrap_or(0);
        if read < v {
            return Err(KvError::StaleRead {
                wrote: v,
                read,
                at: h.now(),
            });
        }
        h.sleep(w.pause).await;
    }
    Ok(tally)
}

/// How long the client works (faults start in its first half and end by 3.75 s).
pub const RUN_FOR: Duration = Duration::from_secs(5);

/// The fault ranges: every host and link, crashes of the replicas, all five kinds, ranges
/// derived from [`RUN_FOR`].
pub fn swarm() -> Swarm {
    Swarm::new(REPLICAS.into_iter().chain([CLIENT]))
        .crashable(REPLICAS)
        .run_for(RUN_FOR)
}

/// One finished run.
#[derive(Debug)]
pub struct Run {
    /// What the client did, or why the run failed.
    pub result: Result<Tally, SimError>,
    /// The simulator's trace hash.
    pub trace_hash: u64,
    /// Sim time at the end.
    pub end: Instant,
}

/// Builds the world for `seed` (three replicas, the client; 1 ms links), applies `schedule`
/// and runs it. The client works for [`RUN_FOR`] or until 1 s after the last fault, whichever
/// is later, so every run ends with a fault-free stretch.
pub fn run(seed: u64, schedule: &FaultSchedule, quorums: Quorums) -> Run {
    let mut sim = Sim::new(SimConfig {
        seed,
        ..Default::default()
    });
    let mut addrs = Vec::new();
    for name in REPLICAS {
        let disk = Rc::new(Disk::default());
        let host = sim.host(name, move |h| replica(h, disk.clone()));
        addrs.push(SocketAddr::new(host.local_ip(), PORT));
    }
    let w = Workload::new(
        quorums,
        RUN_FOR.max(schedule.end() + Duration::from_secs(1)),
    );
    let tally = Rc::new(RefCell::new(Tally::default()));
    let out = tally.clone();
    sim.client(CLIENT, move |h| async move {
        *out.borrow_mut() = client(h, addrs, w).await?;
        Ok(())
    });
    schedule.apply(&sim, &LinkConfig::default());
    let result = sim.run().map(|_| *tally.borrow());
    Run {
        result,
        trace_hash: sim.trace_hash(),
        end: sim.now(),
    }
}
