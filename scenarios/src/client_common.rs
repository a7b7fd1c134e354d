//! Shared by the client-stack scenarios (`avalanche`, `retry-storm`, `rebalance`, `degrade`):
//! RPC connections per instance address, a server's worker pool, success tallies per time
//! window, and the stack's metrics as JSON.

use serde_json::{json, Map, Value as Json};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_distributed::client::Metrics;
use testbed_model::{Duration, Instant, Net, Runtime};
use testbed_protocols::rpc::{CallError, CodecId, Method, RpcClient};

/// The RPC timeout used when a layer sets no deadline (an "unprotected" call waits this long).
pub const NO_DEADLINE: Duration = Duration::from_secs(30);

/// One multiplexed RPC connection per instance address, opened on first use and reopened
/// after a disconnect.
#[derive(Clone, Default)]
pub struct Conns {
    map: Rc<RefCell<BTreeMap<SocketAddr, Rc<RpcClient>>>>,
}

impl Conns {
    /// Calls `M` on `addr`, giving up at `deadline` (or after [`NO_DEADLINE`]).
    pub async fn call<M: Method, H: Net + Runtime>(
        &self,
        h: &H,
        addr: SocketAddr,
        req: &M::Req,
        deadline: Option<Instant>,
    ) -> Result<M::Resp, CallError> {
        let deadline = deadline.unwrap_or(h.now() + NO_DEADLINE);
        let existing = self.map.borrow().get(&addr).cloned();
        let conn = match existing {
            Some(c) => c,
            None => {
                let c = testbed_model::runtime::timeout_at(
                    h,
                    deadline,
                    RpcClient::connect(h, addr, CodecId::Binary),
                )
                .await
                .map_err(|_| CallError::DeadlineExceeded)?
                .map_err(|_| CallError::Disconnected)?;
                let c = Rc::new(c);
                self.map.borrow_mut().insert(addr, c.clone());
                c
            }
        };
        let left = deadline.saturating_duration_since(h.now());
        let r = conn.call::<M, H>(h, req, left).await;
        if matches!(r, Err(CallError::Disconnected)) {
            self.map.borrow_mut().remove(&addr);
        }
        r
    }
}

/// A server's worker pool (网络编程进阶主题 §4.5 Q2's threads): a request holds a worker for its whole
/// handling; when all are busy, requests wait in FIFO order.
#[derive(Clone)]
pub struct Workers {
    sem: Rc<tokio::sync::Semaphore>,
    size: u32,
    peak: Rc<std::cell::Cell<u32>>,
}

impl Workers {
    /// `size` workers.
    pub fn new(size: u32) -> Workers {
        Workers {
            sem: Rc::new(tokio::sync::Semaphore::new(size as usize)),
            size,
            peak: Rc::default(),
        }
    }
    /// Waits for a worker; it is released when the permit drops (also when the request's
    /// task is aborted by a cancel).
    pub async fn take(&self) -> tokio::sync::SemaphorePermit<'_> {
        let p = self.sem.acquire().await.expect("never closed");
        self.peak.set(self.peak.get().max(self.busy()));
        p
    }
    /// Runs `work` on a worker the way a thread-per-request server does: the worker is held
    /// until `work` completes, even if the caller stops waiting (a blocked thread cannot be
    /// cancelled). `None` if the caller's runtime cancelled the task.
    pub async fn blocking<H: Runtime, T: 'static>(
        &self,
        h: &H,
        work: impl std::future::Future<Output = T> + 'static,
    ) -> Option<T> {
        let w = self.clone();
        h.spawn(async move {
            let _worker = w.take().await;
            work.await
        })
        .await
        .ok()
    }
    /// Workers busy now.
    pub fn busy(&self) -> u32 {
        self.size - self.sem.available_permits() as u32
    }
    /// The most workers ever busy at once.
    pub fn peak(&self) -> u32 {
        self.peak.get()
    }
}

/// Successes and attempts in fixed windows of simulated time.
#[derive(Clone, Debug, Default)]
pub struct Windows {
    width_ns: u64,
    /// window index → (ok, total)
    counts: BTreeMap<u64, (u64, u64)>,
}

impl Windows {
    /// Windows `width` wide.
    pub fn new(width: Duration) -> Windows {
        Windows {
            width_ns: width.as_nanos().max(1) as u64,
            counts: BTreeMap::new(),
        }
    }
    /// Counts one outcome at `at`.
    pub fn record(&mut self, at: Instant, ok: bool) {
        let c = self
            .counts
            .entry(at.as_nanos() / self.width_ns)
            .or_default();
        c.0 += ok as u64;
        c.1 += 1;
    }
    /// (ok, total) over `[from, to)`.
    pub fn between(&self, from: Instant, to: Instant) -> (u64, u64) {
        let (a, b) = (
            from.as_nanos() / self.width_ns,
            to.as_nanos() / self.width_ns,
        );
        self.counts
            .range(a..b)
            .fold((0, 0), |s, (_, c)| (s.0 + c.0, s.1 + c.1))
    }
    /// Success rate over `[from, to)` (1 when nothing was counted).
    pub fn rate(&self, from: Instant, to: Instant) -> f64 {
        let (ok, n) = self.between(from, to);
        if n == 0 {
            1.0
        } else {
            ok as f64 / n as f64
        }
    }
    /// `[[window start s, success rate], ...]`, for plots.
    pub fn series(&self) -> Json {
        Json::Array(
            self.counts
                .iter()
                .map(|(i, (ok, n))| {
                    json!([
                        round4((*i * self.width_ns) as f64 / 1e9),
                        round4(*ok as f64 / (*n).max(1) as f64)
                    ])
                })
                .collect(),
        )
    }
}

/// Rounds to 4 decimals (stable, short JSON).
pub fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

/// A stack's counters and breaker timeline as JSON.
pub fn metrics_json(m: &Metrics) -> Json {
    metrics_json_since(m, Instant::ZERO)
}

/// [`metrics_json`] with breaker times as seconds since `origin` (a real backend's load start).
pub fn metrics_json_since(m: &Metrics, origin: Instant) -> Json {
    let mut o: Map<String, Json> = m
        .counters()
        .iter()
        .map(|(k, v)| (k.to_string(), (*v).into()))
        .collect();
    o.insert(
        "breaker_timeline".into(),
        Json::Array(
            m.breaker_timeline
                .iter()
                .map(|b| {
                    json!([
                        round4(b.at.saturating_duration_since(origin).as_secs_f64()),
                        b.node,
                        format!("{:?}", b.state)
                    ])
                })
                .collect(),
        ),
    );
    Json::Object(o)
}

/// A stack's breaker transitions as the report plots them: `[[t_ms, state], ...]` with
/// states `closed`, `half_open`, `open`.
pub fn breaker_timeline_ms(m: &Metrics) -> Json {
    breaker_timeline_ms_since(m, Instant::ZERO)
}

/// [`breaker_timeline_ms`] with times since `origin` (a real backend's load start).
pub fn breaker_timeline_ms_since(m: &Metrics, origin: Instant) -> Json {
    use testbed_distributed::breaker::State;
    Json::Array(
        m.breaker_timeline
            .iter()
            .map(|b| {
                let state = match b.state {
                    State::Closed | State::Disabled => "closed",
                    State::HalfOpen => "half_open",
                    State::Open | State::ForcedOpen => "open",
                };
                let t = b.at.saturating_duration_since(origin);
                json!([round4(t.as_secs_f64() * 1e3), state])
            })
            .collect(),
    )
}

/// A claim record (the schema in docs/report.md).
#[allow(clippy::too_many_arguments)]
pub fn claim(
    id: &str,
    section: &str,
    claim: &str,
    seed_value: &str,
    measured: String,
    unit: &str,
    holds: bool,
    detail: String,
) -> Json {
    json!({
        "id": id,
        "section": section,
        "claim": claim,
        "seed_value": seed_value,
        "measured": measured,
        "unit": unit,
        "backend": "sim",
        "verdict": if holds { "holds" } else { "does-not-hold-here" },
        "detail": detail,
    })
}
