//! [`DpdkPacketPort`]: a DPDK port as a `model::PacketPort`. Frames cross as `bytes::Bytes`,
//! so each one is copied once each way (mbuf → Bytes on receive, Bytes → mbuf on send).

use crate::mac::ETH_HEADER_LEN;
use crate::{Mbuf, Mempool, PacketPortError, Port, PortError, BURST_MAX};
use testbed_model::packet::PacketPort;

/// Room for a VLAN tag and the frame check sequence on top of header + MTU.
const FRAME_SLACK: usize = 8;

/// A started [`Port`] (queue 0 each way) plus the pool its sent frames are copied into.
#[derive(Debug)]
pub struct DpdkPacketPort<'p> {
    port: Port<'p>,
    pool: &'p Mempool<'p>,
    mtu: usize,
    frame_max: usize,
    rx: Vec<Mbuf<'p>>,
    tx: Vec<Mbuf<'p>>,
}

impl<'p> DpdkPacketPort<'p> {
    /// Wraps `port`; frames to send are copied into mbufs of `pool` (for a
    /// [`crate::RingPair`] port, the pair's pool).
    pub fn new(port: Port<'p>, pool: &'p Mempool<'p>) -> Result<DpdkPacketPort<'p>, PortError> {
        let mtu = usize::from(port.mtu()?);
        // What one mbuf of this pool holds: probe one (the pool may be empty: then assume the
        // MTU bound alone).
        let room = pool.alloc().map(|m| m.tailroom()).unwrap_or(usize::MAX);
        let frame_max = room.min(mtu + ETH_HEADER_LEN + FRAME_SLACK);
        Ok(DpdkPacketPort {
            port,
            pool,
            mtu,
            frame_max,
            rx: Vec::with_capacity(BURST_MAX),
            tx: Vec::with_capacity(BURST_MAX),
        })
    }

    /// The port underneath (for its MAC address, link and counters).
    pub fn port(&self) -> &Port<'p> {
        &self.port
    }

    /// Longest frame [`PacketPort::tx_burst`] accepts.
    pub fn frame_max(&self) -> usize {
        self.frame_max
    }
}

impl PacketPort for DpdkPacketPort<'_> {
    type Error = PacketPortError;

    fn rx_burst(
        &mut self,
        out: &mut Vec<bytes::Bytes>,
        max: usize,
    ) -> Result<usize, PacketPortError> {
        self.rx.clear();
        let n = self.port.rx_burst(0, &mut self.rx, max.min(BURST_MAX));
        out.reserve(n);
        for m in self.rx.drain(..) {
            out.push(bytes::Bytes::copy_from_slice(m.data()));
        }
        Ok(n)
    }

    fn tx_burst(&mut self, frames: &[bytes::Bytes]) -> Result<usize, PacketPortError> {
        let frames = &frames[..frames.len().min(BURST_MAX)];
        if let Some((index, f)) = frames
            .iter()
            .enumerate()
            .find(|(_, f)| f.len() > self.frame_max)
        {
            return Err(PacketPortError::FrameTooLong {
                index,
                len: f.len(),
                max: self.frame_max,
            });
        }
        self.tx.clear();
        for f in frames {
            // An exhausted pool sends what fits; the rest stays with the caller.
            let Some(mut m) = self.pool.alloc() else {
                break;
            };
            if m.append(f).is_err() {
                break;
            }
            self.tx.push(m);
        }
        let sent = self.port.tx_burst(0, &mut self.tx);
        self.tx.clear();
        Ok(sent)
    }

    fn mtu(&self) -> usize {
        self.mtu
    }
}
