//! Bounded waits and the small steps rows share (connect, one echo round trip, read until
//! something happens), each with a deadline on the client's clock.

use super::outcome::{classify, Class, DEADLINE};
use super::{Client, SERVER_PORT};
use crate::row::Obs;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::Poll;
use testbed_model::{timeout, Duration, Instant, Net, Runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Connect deadline of rows that do not measure connecting.
pub(crate) const CONNECT_DEADLINE: Duration = Duration::from_secs(10);

/// `fut`, or `None` when `d` passes first.
pub(crate) async fn within<R: Runtime, F: Future>(
    rt: &R,
    d: Duration,
    fut: F,
) -> Option<F::Output> {
    timeout(rt, d, fut).await.ok()
}

/// Polls `fut` to completion and calls `action` once when `at` passes (if `fut` is still
/// running then): a fault in the middle of an operation without a second task.
pub(crate) async fn with_action_at<R: Runtime, F: Future>(
    rt: &R,
    at: Instant,
    action: impl FnOnce(),
    fut: F,
) -> F::Output {
    let mut fut = pin!(fut);
    let mut timer = pin!(rt.sleep_until(at));
    let mut action = Some(action);
    std::future::poll_fn(|cx| {
        if action.is_some() && timer.as_mut().poll(cx).is_ready() {
            if let Some(a) = action.take() {
                a();
            }
        }
        match fut.as_mut().poll(cx) {
            Poll::Ready(v) => Poll::Ready(v),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Seconds.
pub(crate) fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Milliseconds.
pub(crate) fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// An observation.
pub(crate) fn obs(value: Option<f64>, outcome: &str, detail: String) -> Obs {
    Obs {
        value,
        outcome: outcome.to_string(),
        detail,
    }
}

/// A row that could not get to its measurement (setup step failed).
pub(crate) fn setup_failed(step: &str, class: Class, what: String) -> Obs {
    obs(None, class, format!("{step} failed: {what}"))
}

/// Connects to the row's server within [`CONNECT_DEADLINE`].
pub(crate) async fn connect<R: Runtime, N: Net>(cx: &Client<'_, R, N>) -> Result<N::Stream, Obs> {
    connect_to(cx, SERVER_PORT).await
}

/// Connects to `port` on the server within [`CONNECT_DEADLINE`].
pub(crate) async fn connect_to<R: Runtime, N: Net>(
    cx: &Client<'_, R, N>,
    port: u16,
) -> Result<N::Stream, Obs> {
    let addr = SocketAddr::new(cx.server, port);
    match within(&cx.rt, CONNECT_DEADLINE, cx.net.connect(addr)).await {
        Some(Ok(s)) => Ok(s),
        Some(Err(e)) => {
            let e: std::io::Error = e.into();
            Err(setup_failed("connect", classify(&e), e.to_string()))
        }
        None => Err(setup_failed(
            "connect",
            DEADLINE,
            format!("no answer in {CONNECT_DEADLINE:?}"),
        )),
    }
}

/// One echo round trip of `msg` (the server echoes), within `d`.
pub(crate) async fn echo<R: Runtime, S: AsyncReadExt + AsyncWriteExt + Unpin>(
    rt: &R,
    s: &mut S,
    msg: &[u8],
    d: Duration,
) -> Result<(), Obs> {
    let round = async {
        s.write_all(msg).await?;
        let mut buf = vec![0u8; msg.len()];
        s.read_exact(&mut buf).await?;
        if buf != msg {
            return Err(std::io::Error::other("echo returned other bytes"));
        }
        Ok(())
    };
    match within(rt, d, round).await {
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(setup_failed("echo", classify(&e), e.to_string())),
        None => Err(setup_failed("echo", DEADLINE, format!("no echo in {d:?}"))),
    }
}

/// Reads until the stream errors, ends or delivers data, within `d`: the class ("EOF", "ok"
/// for data, an errno name, or [`DEADLINE`]) and the error text.
pub(crate) async fn read_outcome<R: Runtime, S: AsyncReadExt + Unpin>(
    rt: &R,
    s: &mut S,
    d: Duration,
) -> (Class, String) {
    let mut buf = [0u8; 4096];
    match within(rt, d, s.read(&mut buf)).await {
        Some(Ok(0)) => ("EOF", "read returned 0 (end of stream)".into()),
        Some(Ok(n)) => ("ok", format!("read {n} bytes")),
        Some(Err(e)) => (classify(&e), e.to_string()),
        None => (DEADLINE, format!("nothing happened in {d:?}")),
    }
}
