//! What runs on the hosts of `avalanche`, generic over model's `Net` and `Runtime` so the
//! simulator and the kernel backend run the same servers and users: inventory (slow between
//! the phases' `slow_at` and `heal_at`), order and web (thread-per-request pools calling
//! their dependency through a client stack, resolved however the caller's `Resolve` does),
//! and a user (open-loop requests to web, tallied per window of time since the origin).

use super::{Check, Details, Seen, Stock, WebCore, WebStock};
use crate::client_common::{Conns, Workers};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_distributed::balance::RoundRobin;
use testbed_distributed::client::{call, call_or_fallback, Resolve, Served, Stack};
use testbed_model::{Duration, Instant, Net, Rng, Runtime};
use testbed_protocols::rpc::{CodecId, ErrorCode, RpcClient, RpcServer, ServerError};

/// A caller's client stack for one dependency.
pub(super) type Client<R> = Rc<RefCell<Stack<RoundRobin, R>>>;

/// When the phases begin, as durations since `origin` (the start of the user load).
#[derive(Clone, Copy, Debug)]
pub(super) struct Phases {
    pub origin: Instant,
    pub slow_at: Duration,
    pub heal_at: Duration,
    pub end: Duration,
}

impl Phases {
    /// Time since the origin.
    pub fn since(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.origin)
    }
}

pub(super) fn internal<E: std::fmt::Display>(e: E) -> ServerError {
    ServerError {
        code: ErrorCode::Internal,
        message: e.to_string(),
    }
}

/// Inventory: answers `Check` after 5 ms, or after `slow_latency` while slow.
pub(super) fn inventory<H: Runtime>(h: H, ph: Phases, slow_latency: Duration) -> RpcServer {
    RpcServer::new().register::<Check, _, _>(move |item: u64| {
        let h = h.clone();
        async move {
            let now = ph.since(h.now());
            let slow = (ph.slow_at..ph.heal_at).contains(&now);
            h.sleep(if slow {
                slow_latency
            } else {
                Duration::from_millis(5)
            })
            .await;
            Ok((item % 17) as u32 + 1)
        }
    })
}

/// Order: `Details` (3 ms of work) and `Stock` (asks inventory through `oi`; with `protect`
/// a default stock when that fails), each on a worker of `op`.
pub(super) fn order<H: Net + Runtime, R: Resolve + 'static>(
    h: H,
    oi: Client<R>,
    op: Workers,
    protect: bool,
) -> RpcServer {
    let conns = Conns::default();
    let (h2, op2) = (h.clone(), op.clone());
    RpcServer::new()
        .register::<Details, _, _>(move |id: u64| {
            let (h, op) = (h2.clone(), op2.clone());
            async move {
                let work = {
                    let h = h.clone();
                    async move {
                        h.sleep(Duration::from_millis(3)).await;
                        format!("order {id}: 2 items, paid")
                    }
                };
                op.blocking(&h, work)
                    .await
                    .ok_or_else(|| internal("cancelled"))
            }
        })
        .register::<Stock, _, _>(move |item: u64| {
            let (h, oi, op, conns) = (h.clone(), oi.clone(), op.clone(), conns.clone());
            async move {
                let h2 = h.clone();
                let work = async move {
                    let send = |_, addr, dl| {
                        let (h, conns) = (h2.clone(), conns.clone());
                        async move { conns.call::<Check, _>(&h, addr, &item, dl).await }
                    };
                    if protect {
                        // 网络编程进阶主题 §4.5 Q2 step 4: a default stock when inventory fails.
                        let (n, served) = call_or_fallback(&h2, &oi, item, send, |_| 1).await;
                        Ok((n, served == Served::Fallback))
                    } else {
                        call(&h2, &oi, item, send)
                            .await
                            .map(|n| (n, false))
                            .map_err(internal)
                    }
                };
                op.blocking(&h, work)
                    .await
                    .unwrap_or_else(|| Err(internal("cancelled")))
            }
        })
}

/// Web: `WebCore` (order's details through `wc`) and `WebStock` (order's stock through `ws`;
/// with `protect` fallback data when that fails), each on a worker of `wp`.
pub(super) fn web<H: Net + Runtime, R: Resolve + 'static>(
    h: H,
    wc: Client<R>,
    ws: Client<R>,
    wp: Workers,
    protect: bool,
) -> RpcServer {
    let conns = Conns::default();
    let (h2, wp2, conns2) = (h.clone(), wp.clone(), conns.clone());
    RpcServer::new()
        .register::<WebCore, _, _>(move |id: u64| {
            let (h, wc, wp, conns) = (h2.clone(), wc.clone(), wp2.clone(), conns2.clone());
            async move {
                let h2 = h.clone();
                let work = async move {
                    let send = |_, addr, dl| {
                        let (h, conns) = (h2.clone(), conns.clone());
                        async move { conns.call::<Details, _>(&h, addr, &id, dl).await }
                    };
                    call(&h2, &wc, id, send).await.map_err(internal)
                };
                wp.blocking(&h, work)
                    .await
                    .unwrap_or_else(|| Err(internal("cancelled")))
            }
        })
        .register::<WebStock, _, _>(move |item: u64| {
            let (h, ws, wp, conns) = (h.clone(), ws.clone(), wp.clone(), conns.clone());
            async move {
                let h2 = h.clone();
                let work = async move {
                    let send = |_, addr, dl| {
                        let (h, conns) = (h2.clone(), conns.clone());
                        async move { conns.call::<Stock, _>(&h, addr, &item, dl).await }
                    };
                    if protect {
                        let (v, served) =
                            call_or_fallback(&h2, &ws, item, send, |_| (1, true)).await;
                        Ok((v.0, v.1 || served == Served::Fallback))
                    } else {
                        call(&h2, &ws, item, send).await.map_err(internal)
                    }
                };
                wp.blocking(&h, work)
                    .await
                    .unwrap_or_else(|| Err(internal("cancelled")))
            }
        })
}

/// How users load web.
#[derive(Clone, Copy, Debug)]
pub(super) struct Load {
    /// Users in all (each sends `rate / users` requests per second).
    pub users: u64,
    /// Requests per second over all users (half core, half optional).
    pub rate: u64,
    /// Users give up (and cancel) after this.
    pub user_timeout: Duration,
}

/// One user until the phases' end: requests at random gaps (uniform, mean `users / rate`),
/// each a coin flip between the core and the optional endpoint, tallied in `seen` at the
/// time since the origin it was sent.
pub(super) async fn user<H: Net + Runtime>(
    h: H,
    web: SocketAddr,
    load: Load,
    ph: Phases,
    seen: Rc<RefCell<Seen>>,
) -> Result<(), String> {
    let conn = Rc::new(
        RpcClient::connect(&h, web, CodecId::Binary)
            .await
            .map_err(|e| e.to_string())?,
    );
    let mut rng = h.rng();
    let gap_mean_ns = 1_000_000_000 * load.users / load.rate;
    let mut tasks = Vec::new();
    let mut i = 0u64;
    while ph.since(h.now()) < ph.end {
        let gap = Duration::from_nanos(rng.range_inclusive(0, 2 * gap_mean_ns));
        h.sleep(gap).await;
        i += 1;
        let (h2, conn, seen) = (h.clone(), conn.clone(), seen.clone());
        let core = rng.chance(0.5);
        let user_timeout = load.user_timeout;
        tasks.push(h.spawn(async move {
            let t0 = Instant::ZERO + ph.since(h2.now());
            if core {
                let r = conn.call::<WebCore, _>(&h2, &i, user_timeout).await;
                seen.borrow_mut().core.record(t0, r.is_ok());
            } else {
                let r = conn.call::<WebStock, _>(&h2, &i, user_timeout).await;
                let mut s = seen.borrow_mut();
                s.stock.record(t0, r.is_ok());
                s.stock_primary.record(t0, matches!(r, Ok((_, false))));
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}
