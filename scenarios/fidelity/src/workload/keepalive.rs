//! Row 13: keepalive (idle 1 s, interval 1 s, 3 probes) on an idle connection whose peer
//! silently vanished (black hole): when the read fails and how (Linux: ETIMEDOUT ≈ 4 s).

use super::outcome::DEADLINE;
use super::wait::{connect, echo, obs, read_outcome, secs};
use super::{apply_knobs, Client, Knobs};
use crate::row::Obs;
use testbed_model::{Duration, Net, Runtime};

/// How long the row waits for the error.
const DEADLINE_AFTER: Duration = Duration::from_secs(30);

pub(super) async fn run<R, N>(cx: &Client<'_, R, N>, knobs: &Knobs) -> Obs
where
    R: Runtime,
    N: Net,
{
    let mut s = match connect(cx).await {
        Ok(s) => s,
        Err(o) => return o,
    };
    let note = apply_knobs(&s, knobs);
    if let Err(o) = echo(&cx.rt, &mut s, b"warm", Duration::from_secs(5)).await {
        return o;
    }
    cx.faults.partition();
    let t0 = cx.rt.now();
    let (class, what) = read_outcome(&cx.rt, &mut s, DEADLINE_AFTER).await;
    cx.faults.heal();
    if class == DEADLINE {
        return obs(
            Some(secs(DEADLINE_AFTER)),
            DEADLINE,
            format!(
                "idle read still pending after {} s{note}",
                DEADLINE_AFTER.as_secs()
            ),
        );
    }
    let d = cx.rt.now().saturating_duration_since(t0);
    obs(
        Some(secs(d)),
        class,
        format!(
            "{class} {:.3} s after the peer vanished: {what}{note}",
            secs(d)
        ),
    )
}
