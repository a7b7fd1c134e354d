//! Row 5: connect to a port nothing listens on: the error and how long it takes
//! (Linux: ECONNREFUSED after one round trip).

use super::outcome::DEADLINE;
use super::wait::{millis, obs, within};
use super::{classify, Client, CLOSED_PORT};
use crate::row::Obs;
use std::net::SocketAddr;
use testbed_model::{Duration, Net, Runtime};

const DEADLINE_AFTER: Duration = Duration::from_secs(10);

pub(super) async fn run<R: Runtime, N: Net>(cx: &Client<'_, R, N>) -> Obs {
    let t0 = cx.rt.now();
    let r = within(
        &cx.rt,
        DEADLINE_AFTER,
        cx.net.connect(SocketAddr::new(cx.server, CLOSED_PORT)),
    )
    .await;
    let d = cx.rt.now().saturating_duration_since(t0);
    match r {
        Some(Ok(_)) => obs(Some(millis(d)), "ok", "connected to a closed port".into()),
        Some(Err(e)) => {
            let e: std::io::Error = e.into();
            obs(
                Some(millis(d)),
                classify(&e),
                format!("{e} after {:.3} ms", millis(d)),
            )
        }
        None => obs(
            Some(millis(d)),
            DEADLINE,
            format!("no answer in {DEADLINE_AFTER:?}"),
        ),
    }
}
