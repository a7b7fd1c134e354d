//! Row 8: the server closes a fresh connection at once; the client writes every 200 ms:
//! how many writes succeed before the first error, and which error (Linux: the first write
//! succeeds and draws a RST, the second fails with EPIPE).

use super::outcome::DEADLINE;
use super::wait::{connect, obs, within};
use super::{classify, Client};
use crate::row::Obs;
use testbed_model::{Duration, Net, Runtime};
use tokio::io::AsyncWriteExt;

/// Writes attempted before the row gives up.
pub(crate) const MAX_WRITES: u32 = 5;
const GAP: Duration = Duration::from_millis(200);

pub(super) async fn run<R: Runtime, N: Net>(cx: &Client<'_, R, N>) -> Obs {
    let mut s = match connect(cx).await {
        Ok(s) => s,
        Err(o) => return o,
    };
    let mut ok = 0u32;
    for _ in 0..MAX_WRITES {
        cx.rt.sleep(GAP).await;
        match within(&cx.rt, Duration::from_secs(5), async {
            s.write_all(b"data").await?;
            s.flush().await
        })
        .await
        {
            Some(Ok(())) => ok += 1,
            Some(Err(e)) => {
                return obs(
                    Some(f64::from(ok)),
                    classify(&e),
                    format!("{ok} write(s) succeeded, then: {e}"),
                )
            }
            None => {
                return obs(
                    Some(f64::from(ok)),
                    DEADLINE,
                    format!("write {} blocked for 5 s", ok + 1),
                )
            }
        }
    }
    obs(
        Some(f64::from(ok)),
        "ok",
        format!("all {MAX_WRITES} writes to a closed peer succeeded"),
    )
}
