//! An in-memory [`PacketPort`] pair: what one end transmits the other receives, through
//! bounded queues shared across threads. For tests and for wiring stacks and bridges
//! together without a NIC. A full queue refuses frames (`tx_burst` returns fewer, as a NIC
//! ring would); a dropped end makes the other end's calls fail with
//! [`MemPortError::Disconnected`] once its queue is drained.

use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use testbed_model::packet::PacketPort;

/// Why a [`MemPort`] call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemPortError {
    /// The other end was dropped.
    #[error("the other end of the port pair was dropped")]
    Disconnected,
    /// A frame is longer than the port's MTU plus an Ethernet header, or shorter than one.
    #[error("frame of {len} bytes does not fit the port (14..={max})")]
    BadFrame {
        /// The frame's length.
        len: usize,
        /// The largest frame accepted.
        max: usize,
    },
}

#[derive(Debug, Default)]
struct Queue {
    frames: Mutex<VecDeque<Bytes>>,
    ready: Condvar,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Bytes>> {
        self.frames.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One end of an in-memory link.
#[derive(Debug)]
pub struct MemPort {
    rx: Arc<Queue>,
    tx: Arc<Queue>,
    capacity: usize,
    mtu: usize,
}

impl MemPort {
    /// Two connected ends; each direction holds at most `capacity` frames; MTU 1500.
    pub fn pair(capacity: usize) -> (MemPort, MemPort) {
        Self::pair_with_mtu(capacity, 1500)
    }

    /// Two connected ends with the given per-direction capacity and MTU.
    pub fn pair_with_mtu(capacity: usize, mtu: usize) -> (MemPort, MemPort) {
        let (ab, ba) = (Arc::new(Queue::default()), Arc::new(Queue::default()));
        let capacity = capacity.max(1);
        (
            MemPort {
                rx: ba.clone(),
                tx: ab.clone(),
                capacity,
                mtu,
            },
            MemPort {
                rx: ab,
                tx: ba,
                capacity,
                mtu,
            },
        )
    }

    /// Waits up to `timeout` for a frame to receive; true if one is waiting.
    pub fn wait_rx(&self, timeout: Duration) -> bool {
        let q = self.rx.lock();
        if !q.is_empty() {
            return true;
        }
        let (q, _) = self
            .rx
            .ready
            .wait_timeout(q, timeout)
            .unwrap_or_else(|p| p.into_inner());
        !q.is_empty()
    }

    /// Frames waiting to be received.
    pub fn rx_pending(&self) -> usize {
        self.rx.lock().len()
    }

    fn peer_gone(&self) -> bool {
        // Each queue is held by exactly the two ends.
        Arc::strong_count(&self.rx) < 2
    }
}

impl PacketPort for MemPort {
    type Error = MemPortError;

    fn rx_burst(&mut self, out: &mut Vec<Bytes>, max: usize) -> Result<usize, MemPortError> {
        let mut q = self.rx.lock();
        let n = max.min(q.len());
        out.extend(q.drain(..n));
        if n == 0 && self.peer_gone() {
            return Err(MemPortError::Disconnected);
        }
        Ok(n)
    }

    fn tx_burst(&mut self, frames: &[Bytes]) -> Result<usize, MemPortError> {
        if self.peer_gone() {
            return Err(MemPortError::Disconnected);
        }
        let max = self.mtu + 14;
        if let Some(f) = frames.iter().find(|f| f.len() < 14 || f.len() > max) {
            return Err(MemPortError::BadFrame { len: f.len(), max });
        }
        let mut q = self.tx.lock();
        let n = frames.len().min(self.capacity.saturating_sub(q.len()));
        q.extend(frames[..n].iter().cloned());
        drop(q);
        if n > 0 {
            self.tx.ready.notify_all();
        }
        Ok(n)
    }

    fn mtu(&self) -> usize {
        self.mtu
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tag: u8) -> Bytes {
        Bytes::from(vec![tag; 60])
    }

    #[test]
    fn frames_cross_in_order_and_full_queues_refuse() {
        let (mut a, mut b) = MemPort::pair(3);
        let sent: Vec<Bytes> = (0..5).map(frame).collect();
        assert_eq!(a.tx_burst(&sent).unwrap(), 3, "capacity 3");
        let mut got = Vec::new();
        assert_eq!(b.rx_burst(&mut got, 2).unwrap(), 2, "max honoured");
        assert_eq!(b.rx_burst(&mut got, 8).unwrap(), 1);
        assert_eq!(got, sent[..3].to_vec());
        assert_eq!(b.rx_burst(&mut got, 8).unwrap(), 0);
        assert_eq!(
            a.tx_burst(&[Bytes::from(vec![0u8; 1515])]),
            Err(MemPortError::BadFrame {
                len: 1515,
                max: 1514
            })
        );
        drop(a);
        assert_eq!(b.rx_burst(&mut got, 8), Err(MemPortError::Disconnected));
        assert_eq!(b.tx_burst(&[frame(1)]), Err(MemPortError::Disconnected));
    }
}
