//! Row 7: the server host crashes and restarts (a fresh kernel that knows no connections);
//! then the client, which saw nothing, writes on its old connection: what surfaces and when
//! (Linux: the write succeeds, the restarted host answers RST, the next read fails with
//! ECONNRESET one round trip later).

use super::outcome::DEADLINE;
use super::wait::{connect, echo, millis, obs, read_outcome, within};
use super::{classify, Client};
use crate::row::Obs;
use testbed_model::{Duration, Net, Runtime};
use tokio::io::AsyncWriteExt;

/// How long the server host stays down.
const DOWN: Duration = Duration::from_secs(2);
/// How long the client waits after the restart before it writes (the server is back).
const SETTLE: Duration = Duration::from_secs(2);
const DEADLINE_AFTER: Duration = Duration::from_secs(30);

pub(super) async fn run<R: Runtime, N: Net>(cx: &Client<'_, R, N>) -> Obs {
    let mut s = match connect(cx).await {
        Ok(s) => s,
        Err(o) => return o,
    };
    if let Err(o) = echo(&cx.rt, &mut s, b"warm", Duration::from_secs(5)).await {
        return o;
    }
    cx.faults.crash_server();
    cx.rt.sleep(DOWN).await;
    cx.faults.restart_server();
    cx.rt.sleep(SETTLE).await;
    let t0 = cx.rt.now();
    let write = match within(&cx.rt, DEADLINE_AFTER, s.write_all(b"ping")).await {
        Some(Ok(())) => "ok".to_string(),
        Some(Err(e)) => {
            let d = cx.rt.now().saturating_duration_since(t0);
            return obs(
                Some(millis(d)),
                classify(&e),
                format!("the first write failed after {:.3} ms: {e}", millis(d)),
            );
        }
        None => "never completed".to_string(),
    };
    let (class, what) = read_outcome(&cx.rt, &mut s, DEADLINE_AFTER).await;
    let d = cx.rt.now().saturating_duration_since(t0);
    let detail = format!(
        "write after restart: {write}; then read: {what} ({:.3} ms after the write)",
        millis(d)
    );
    if class == DEADLINE {
        return obs(Some(millis(DEADLINE_AFTER)), DEADLINE, detail);
    }
    obs(Some(millis(d)), class, detail)
}
