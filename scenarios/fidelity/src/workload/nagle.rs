//! Row 11: write-write-read requests (two 100-byte writes, a 200-byte answer) at 20 ms RTT,
//! with and without TCP_NODELAY: the median latency added on top of one RTT (Linux without
//! NODELAY: the second write waits for the ACK of the first, which the server delays ~40 ms).

use super::servers::RPC_BYTES;
use super::wait::{connect, millis, obs, within};
use super::{apply_knobs, classify, Client, Knobs};
use crate::row::Obs;
use testbed_model::{Duration, Net, Runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Requests measured (the median is reported).
const REQUESTS: usize = 40;

pub(super) async fn run<R, N>(cx: &Client<'_, R, N>, knobs: &Knobs, rtt: Duration) -> Obs
where
    R: Runtime,
    N: Net,
{
    let mut s = match connect(cx).await {
        Ok(s) => s,
        Err(o) => return o,
    };
    let note = apply_knobs(&s, knobs);
    let half = [1u8; RPC_BYTES / 2];
    let mut reply = [0u8; RPC_BYTES];
    let mut lat = Vec::with_capacity(REQUESTS);
    for i in 0..REQUESTS {
        let t0 = cx.rt.now();
        let r = within(&cx.rt, Duration::from_secs(5), async {
            s.write_all(&half).await?;
            s.write_all(&half).await?;
            s.read_exact(&mut reply).await
        })
        .await;
        match r {
            Some(Ok(_)) => lat.push(millis(cx.rt.now().saturating_duration_since(t0))),
            Some(Err(e)) => return obs(None, classify(&e), format!("request {i}: {e}")),
            None => {
                return obs(
                    None,
                    super::outcome::DEADLINE,
                    format!("request {i} took over 5 s"),
                )
            }
        }
    }
    lat.sort_by(f64::total_cmp);
    let median = lat[REQUESTS / 2];
    let added = median - millis(rtt);
    obs(
        Some(added),
        "ok",
        format!(
            "{REQUESTS} requests: min {:.1} ms, median {median:.1} ms, max {:.1} ms at {:.0} ms RTT{note}",
            lat[0],
            lat[REQUESTS - 1],
            millis(rtt)
        ),
    )
}
