//! Row 9: the server listens with backlog 8 and serves nothing for 2 s; 64 clients connect
//! at once. Value: the slowest successful connect (s); outcome: how many connected (Linux:
//! all 64; those past the full queue have their SYNs dropped and retried at 1 s, 3 s, …).

use super::outcome::DEADLINE;
use super::wait::{obs, secs, within};
use super::{classify, Client, SERVER_PORT};
use crate::row::Obs;
use std::net::SocketAddr;
use testbed_model::{Duration, Net, Runtime};

/// Clients connecting at once.
pub(crate) const CLIENTS: usize = 64;
/// Each client's connect deadline.
const DEADLINE_AFTER: Duration = Duration::from_secs(40);

pub(super) async fn run<R: Runtime, N: Net>(cx: &Client<'_, R, N>) -> Obs {
    let addr = SocketAddr::new(cx.server, SERVER_PORT);
    let handles: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (rt, net) = (cx.rt.clone(), cx.net.clone());
            cx.rt.spawn(async move {
                let t0 = rt.now();
                let r = within(&rt, DEADLINE_AFTER, net.connect(addr)).await;
                let d = rt.now().saturating_duration_since(t0);
                let class = match r {
                    Some(Ok(s)) => {
                        // Hold the connection until every client has tried.
                        rt.sleep(DEADLINE_AFTER.saturating_sub(d)).await;
                        drop(s);
                        "ok"
                    }
                    Some(Err(e)) => classify(&e.into()),
                    None => DEADLINE,
                };
                (class, d)
            })
        })
        .collect();
    let mut times = Vec::new();
    let mut failures: std::collections::BTreeMap<&'static str, usize> = Default::default();
    for h in handles {
        match h.await {
            Ok(("ok", d)) => times.push(secs(d)),
            Ok((class, _)) => *failures.entry(class).or_default() += 1,
            Err(_) => *failures.entry("task-lost").or_default() += 1,
        }
    }
    times.sort_by(f64::total_cmp);
    let n = times.len();
    let pct = |p: f64| {
        times
            .get(((n as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let within_100ms = times.iter().filter(|&&t| t < 0.1).count();
    let detail = format!(
        "{n}/{CLIENTS} connected ({within_100ms} in <100 ms); connect time p50 {:.3} s, p90 {:.3} s, max {:.3} s; failures {:?}",
        pct(0.5),
        pct(0.9),
        pct(1.0),
        failures
    );
    obs(times.last().copied(), &format!("{n}/{CLIENTS}"), detail)
}
