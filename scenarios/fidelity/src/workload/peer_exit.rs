//! Row 6: the peer process exits (its host stays up) after reading the request (clean: a
//! FIN) or with the request unread in its socket (Linux sends RST): what the client's read
//! returns, and when (ms after the request was written).

use super::wait::{connect, millis, obs, read_outcome, within};
use super::{classify, Client};
use crate::row::Obs;
use testbed_model::{Duration, Net, Runtime};
use tokio::io::AsyncWriteExt;

const DEADLINE_AFTER: Duration = Duration::from_secs(10);

pub(super) async fn run<R: Runtime, N: Net>(cx: &Client<'_, R, N>, unread: bool) -> Obs {
    let mut s = match connect(cx).await {
        Ok(s) => s,
        Err(o) => return o,
    };
    // Clean: exactly the 5 bytes the server reads. Unread: 100 bytes it never reads.
    let req: &[u8] = if unread { &[b'u'; 100] } else { b"hello" };
    let t0 = cx.rt.now();
    match within(&cx.rt, DEADLINE_AFTER, s.write_all(req)).await {
        Some(Ok(())) => {}
        Some(Err(e)) => return obs(None, classify(&e), format!("write failed: {e}")),
        None => {
            return obs(
                None,
                super::outcome::DEADLINE,
                "write never completed".into(),
            )
        }
    }
    let (class, what) = read_outcome(&cx.rt, &mut s, DEADLINE_AFTER).await;
    let d = cx.rt.now().saturating_duration_since(t0);
    obs(
        Some(millis(d)),
        class,
        format!("read after the peer exited: {what} ({:.3} ms)", millis(d)),
    )
}
