//! Row 3: a black hole (partition) under a pending write with TCP_USER_TIMEOUT = 5 s: when
//! the error surfaces and which (Linux: ETIMEDOUT after about 5 s).

use super::outcome::DEADLINE;
use super::wait::{connect, echo, obs, read_outcome, secs, within};
use super::{apply_knobs, Client, Knobs};
use crate::row::Obs;
use testbed_model::{Duration, Net, Runtime};
use tokio::io::AsyncWriteExt;

/// How long the row waits for the error.
const DEADLINE_AFTER: Duration = Duration::from_secs(60);

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
    let o = blackholed_write_outcome(cx, &mut s, DEADLINE_AFTER).await;
    cx.faults.heal();
    match o {
        (DEADLINE, what) => obs(
            Some(secs(DEADLINE_AFTER)),
            DEADLINE,
            format!(
                "no error within {} s: {what}{note}",
                DEADLINE_AFTER.as_secs()
            ),
        ),
        (class, what) => {
            let d = cx.rt.now().saturating_duration_since(t0);
            obs(
                Some(secs(d)),
                class,
                format!("{class} {:.3} s into the black hole: {what}{note}", secs(d)),
            )
        }
    }
}

/// Writes 1 KiB into the black hole and reads until something happens, within `d`.
async fn blackholed_write_outcome<R: Runtime, N: Net>(
    cx: &Client<'_, R, N>,
    s: &mut N::Stream,
    d: Duration,
) -> (super::Class, String) {
    let t0 = cx.rt.now();
    match within(&cx.rt, d, s.write_all(&[7u8; 1024])).await {
        Some(Ok(())) => {}
        Some(Err(e)) => return (super::classify(&e), format!("write: {e}")),
        None => return (DEADLINE, "the write never completed".into()),
    }
    let left = d.saturating_sub(cx.rt.now().saturating_duration_since(t0));
    read_outcome(&cx.rt, s, left).await
}
