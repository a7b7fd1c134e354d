//! Row 4: SYNs into a partition. Phase 1 heals the partition 4 s after the connect began:
//! the connect completes with the first SYN retransmission after the heal, which shows the
//! SYN retransmission schedule (Linux: SYNs at 0, 1, 3, 7 s, so about 7 s). Phase 2 keeps
//! the partition and gives the connect a 20 s application deadline: what surfaces first.

use super::outcome::DEADLINE;
use super::wait::{obs, secs, with_action_at, within};
use super::{classify, Client, SERVER_PORT};
use crate::row::Obs;
use std::net::SocketAddr;
use testbed_model::{Duration, Net, Runtime};

/// When phase 1 heals the partition, counted from the connect.
const HEAL_AFTER: Duration = Duration::from_secs(4);
/// Phase 1 gives up after this.
const PHASE1_DEADLINE: Duration = Duration::from_secs(40);
/// Phase 2's application connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

pub(super) async fn run<R: Runtime, N: Net>(cx: &Client<'_, R, N>) -> Obs {
    let addr = SocketAddr::new(cx.server, SERVER_PORT);
    // Phase 1.
    cx.faults.partition();
    let t0 = cx.rt.now();
    let heal = || cx.faults.heal();
    let r = with_action_at(
        &cx.rt,
        t0 + HEAL_AFTER,
        heal,
        within(&cx.rt, PHASE1_DEADLINE, cx.net.connect(addr)),
    )
    .await;
    cx.faults.heal();
    let took = cx.rt.now().saturating_duration_since(t0);
    let phase1 = match &r {
        Some(Ok(_)) => format!(
            "healed at {} s, connected at {:.3} s",
            HEAL_AFTER.as_secs(),
            secs(took)
        ),
        Some(Err(e)) => format!(
            "healed at {} s, connect failed at {:.3} s: {e}",
            HEAL_AFTER.as_secs(),
            secs(took)
        ),
        None => format!(
            "healed at {} s, no connection within {} s",
            HEAL_AFTER.as_secs(),
            PHASE1_DEADLINE.as_secs()
        ),
    };
    let value = match r {
        Some(Ok(s)) => {
            drop(s);
            Some(secs(took))
        }
        _ => Some(secs(took)),
    };
    // Phase 2.
    cx.faults.partition();
    let t1 = cx.rt.now();
    let r2 = within(&cx.rt, CONNECT_TIMEOUT, cx.net.connect(addr)).await;
    let took2 = cx.rt.now().saturating_duration_since(t1);
    cx.faults.heal();
    let (class, phase2) = match r2 {
        Some(Ok(_)) => ("ok", "connected through a partition".to_string()),
        Some(Err(e)) => {
            let e: std::io::Error = e.into();
            (classify(&e), format!("{e} after {:.3} s", secs(took2)))
        }
        None => (
            DEADLINE,
            format!(
                "still connecting when the {} s timeout fired",
                CONNECT_TIMEOUT.as_secs()
            ),
        ),
    };
    obs(
        value,
        class,
        format!("phase 1: {phase1}; phase 2 (permanent partition): {phase2}"),
    )
}
