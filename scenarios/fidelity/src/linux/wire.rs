//! The impairment bridge between the two hosts: both hosts' veth pairs end in the root
//! namespace (ends without addresses; AF_XDP ports find interfaces through sysfs, which
//! shows the root namespace), where one AF_XDP port on each end feeds the project's seeded
//! link model (`testbed_stack::bridge`). Every frame, ARP included,
//! crosses the bridge, so the hosts resolve each other as on one L2 segment.

use super::error::LabError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use testbed_model::Duration;
use testbed_stack::bridge::{Bridge, BridgeConfig, BridgeStats};
use testbed_xdp::{XskConfig, XskPort};

/// Longest the bridge sleeps before looking for new frames (adds at most this to a frame's
/// delay).
const IDLE_MAX: Duration = Duration::from_micros(500);
/// How long opening the ports may take (one bridge opens at a time: loading and attaching
/// the redirect program for many ports at once stalls them all).
const START_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Serializes the opening of ports across the labs of a process.
static OPENING: Mutex<()> = Mutex::new(());

/// A running bridge; stopped (and its ports closed) on drop.
pub(crate) struct Wire {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<BridgeStats, String>>>,
}

fn port_cfg() -> XskConfig {
    XskConfig {
        rx_ring_size: 1024,
        tx_ring_size: 1024,
        frame_size: 2048,
        ..XskConfig::default()
    }
}

impl Wire {
    /// Opens AF_XDP ports on `a` and `b` (root-namespace interfaces) and forwards between
    /// them through `cfg` on a thread of its own.
    pub(crate) fn start(a: String, b: String, cfg: BridgeConfig) -> Result<Wire, LabError> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let (tx, rx) = mpsc::channel::<Result<(), String>>();
        let thread = std::thread::Builder::new()
            .name("fid-bridge".into())
            .spawn(move || {
                super::cmd::boost_current_thread();
                let ran = (move || {
                    let open = |iface: &str| {
                        XskPort::open_with(iface, 0, port_cfg())
                            .map_err(|e| format!("{iface}: {e}"))
                    };
                    let opening = OPENING.lock().unwrap_or_else(|p| p.into_inner());
                    let built = open(&a)
                        .and_then(|pa| open(&b).map(|pb| (pa, pb)))
                        .and_then(|(pa, pb)| Bridge::new(cfg, pa, pb).map_err(|e| e.to_string()));
                    let mut bridge = match built {
                        Ok(br) => br,
                        Err(e) => {
                            let _ = tx.send(Err(e.clone()));
                            return Err(e);
                        }
                    };
                    drop(opening);
                    let _ = tx.send(Ok(()));
                    bridge.run(&stop2, IDLE_MAX).map_err(|e| e.to_string())?;
                    Ok(bridge.stats())
                })();
                ran
            })
            .map_err(|e| LabError::Bridge(format!("spawn: {e}")))?;
        let mut wire = Wire {
            stop,
            thread: Some(thread),
        };
        match rx.recv_timeout(START_LIMIT) {
            Ok(Ok(())) => Ok(wire),
            Ok(Err(e)) => {
                let _ = wire.stop();
                Err(LabError::Bridge(e))
            }
            Err(_) => {
                let _ = wire.stop();
                Err(LabError::Bridge("ports did not open within 20 s".into()))
            }
        }
    }

    /// Stops the bridge; its counters, or why it failed.
    pub(crate) fn stop(&mut self) -> Result<BridgeStats, LabError> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| LabError::Bridge("bridge thread panicked".into()))?
                .map_err(LabError::Bridge),
            None => Err(LabError::Bridge("already stopped".into())),
        }
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.stop();
        }
    }
}
