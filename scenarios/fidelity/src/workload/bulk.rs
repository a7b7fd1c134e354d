//! Row 12: a 5 MB transfer over 10 Mbit/s, 40 ms RTT, with 0 % or 1 % loss: goodput from
//! the first byte written to the server's acknowledgement of the last (Mbit/s).

use super::outcome::DEADLINE;
use super::servers::BULK_ACK_BYTES;
use super::wait::{connect, obs, secs, within};
use super::{classify, Client};
use crate::row::Obs;
use testbed_model::{Duration, Net, Runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bytes transferred.
pub(crate) const BYTES: usize = 5_000_000;
const DEADLINE_AFTER: Duration = Duration::from_secs(300);

pub(super) async fn run<R: Runtime, N: Net>(cx: &Client<'_, R, N>) -> Obs {
    let mut s = match connect(cx).await {
        Ok(s) => s,
        Err(o) => return o,
    };
    let chunk = vec![0x5au8; 64 * 1024];
    let t0 = cx.rt.now();
    let r = within(&cx.rt, DEADLINE_AFTER, async {
        let mut left = BYTES;
        while left > 0 {
            let n = left.min(chunk.len());
            s.write_all(&chunk[..n]).await?;
            left -= n;
        }
        s.shutdown().await?;
        let mut ack = [0u8; BULK_ACK_BYTES];
        s.read_exact(&mut ack).await?;
        Ok::<u64, std::io::Error>(u64::from_le_bytes(ack))
    })
    .await;
    let d = cx.rt.now().saturating_duration_since(t0);
    match r {
        Some(Ok(got)) if got == BYTES as u64 => {
            let mbps = BYTES as f64 * 8.0 / secs(d) / 1e6;
            obs(
                Some(mbps),
                "ok",
                format!("{BYTES} bytes in {:.3} s", secs(d)),
            )
        }
        Some(Ok(got)) => obs(
            None,
            "error",
            format!("the server counted {got} of {BYTES} bytes"),
        ),
        Some(Err(e)) => obs(None, classify(&e), format!("after {:.3} s: {e}", secs(d))),
        None => obs(
            Some(BYTES as f64 * 8.0 / secs(d) / 1e6),
            DEADLINE,
            format!(
                "not done in {} s (value is an upper bound)",
                DEADLINE_AFTER.as_secs()
            ),
        ),
    }
}
