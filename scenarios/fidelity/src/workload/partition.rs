//! Rows 1–2: an established connection, a pending echo request, a partition of `secs`
//! seconds, then heal: how long after the heal the answer arrives (Linux: the next
//! retransmission after exponential RTO backoff).

use super::outcome::DEADLINE;
use super::wait::{connect, echo, obs, secs, within};
use super::Client;
use crate::row::Obs;
use testbed_model::{Duration, Net, Runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long after the heal the answer may take before the row gives up.
const AFTER_HEAL: Duration = Duration::from_secs(120);

pub(super) async fn run<R: Runtime, N: Net>(cx: &Client<'_, R, N>, partition_secs: u64) -> Obs {
    let mut s = match connect(cx).await {
        Ok(s) => s,
        Err(o) => return o,
    };
    if let Err(o) = echo(&cx.rt, &mut s, b"warm", Duration::from_secs(5)).await {
        return o;
    }
    cx.faults.partition();
    // The request goes into the send buffer and is retransmitted into the partition.
    let written = within(&cx.rt, Duration::from_secs(1), s.write_all(b"ping")).await;
    if !matches!(written, Some(Ok(()))) {
        cx.faults.heal();
        return obs(
            None,
            "error",
            format!("write during the partition: {written:?}"),
        );
    }
    cx.rt.sleep(Duration::from_secs(partition_secs)).await;
    cx.faults.heal();
    let healed = cx.rt.now();
    let mut buf = [0u8; 4];
    match within(&cx.rt, AFTER_HEAL, s.read_exact(&mut buf)).await {
        Some(Ok(_)) => {
            let d = cx.rt.now().saturating_duration_since(healed);
            obs(
                Some(secs(d)),
                "ok",
                format!(
                    "answer {:.3} s after a {partition_secs} s partition healed",
                    secs(d)
                ),
            )
        }
        Some(Err(e)) => {
            let d = cx.rt.now().saturating_duration_since(healed);
            obs(
                Some(secs(d)),
                super::classify(&e),
                format!("read failed {:.3} s after the heal: {e}", secs(d)),
            )
        }
        None => obs(
            Some(secs(AFTER_HEAL)),
            DEADLINE,
            format!("no answer within {} s of the heal", AFTER_HEAL.as_secs()),
        ),
    }
}
