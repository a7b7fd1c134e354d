//! The smoltcp `phy::Device` of a simulated host: frames the simulator delivered wait in `rx`,
//! frames smoltcp transmits collect in `tx` until the simulator puts them on links.
//!
//! Frame buffers are recycled: a frame smoltcp has consumed goes back to a small pool that the
//! next transmitted frame is built in, so a steady exchange allocates nothing per frame.
//!
//! smoltcp runs with `Medium::Ip` (no ARP: the simulator knows every host's address), and the
//! device adds and strips a 14-byte Ethernet header, so what travels on the simulated wire,
//! what packet filters see and what pcap files hold are ordinary Ethernet frames.

use smoltcp::phy::{self, Checksum, DeviceCapabilities, Medium};
use smoltcp::time::Instant as SmolInstant;
use std::cell::RefCell;
use std::collections::VecDeque;

use testbed_model::wire::{fill_ethernet, ETH_LEN};

/// Consumed frame buffers kept for reuse, at most.
const POOL_MAX: usize = 64;

pub(crate) struct SimDevice {
    pub(crate) rx: VecDeque<Vec<u8>>,
    pub(crate) tx: Vec<Vec<u8>>,
    pub(crate) mtu: usize,
    /// Buffers of consumed frames, for the next frames to transmit.
    pool: RefCell<Vec<Vec<u8>>>,
}

impl SimDevice {
    pub(crate) fn new(mtu: usize) -> SimDevice {
        SimDevice {
            rx: VecDeque::new(),
            tx: Vec::new(),
            mtu,
            pool: RefCell::new(Vec::new()),
        }
    }
}

pub(crate) struct Rx<'a> {
    frame: Vec<u8>,
    pool: &'a RefCell<Vec<Vec<u8>>>,
}
pub(crate) struct Tx<'a> {
    tx: &'a mut Vec<Vec<u8>>,
    pool: &'a RefCell<Vec<Vec<u8>>>,
}

impl phy::RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.frame[ETH_LEN..]);
        let mut pool = self.pool.borrow_mut();
        if pool.len() < POOL_MAX {
            pool.push(self.frame);
        }
        r
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = self.pool.borrow_mut().pop().unwrap_or_default();
        frame.clear();
        frame.resize(ETH_LEN + len, 0);
        let r = f(&mut frame[ETH_LEN..]);
        fill_ethernet(&mut frame);
        self.tx.push(frame);
        r
    }
}

impl phy::Device for SimDevice {
    type RxToken<'a> = Rx<'a>;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _now: SmolInstant) -> Option<(Rx<'_>, Tx<'_>)> {
        let frame = self.rx.pop_front()?;
        let pool = &self.pool;
        Some((
            Rx { frame, pool },
            Tx {
                tx: &mut self.tx,
                pool,
            },
        ))
    }

    fn transmit(&mut self, _now: SmolInstant) -> Option<Tx<'_>> {
        Some(Tx {
            tx: &mut self.tx,
            pool: &self.pool,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        // Compute checksums on transmit (so pcaps and filters see valid packets), skip
        // verifying them on receive: simulated links never corrupt bits, and filters that
        // rewrite a packet fix its checksums.
        caps.checksum.ipv4 = Checksum::Tx;
        caps.checksum.tcp = Checksum::Tx;
        caps.checksum.udp = Checksum::Tx;
        caps.checksum.icmpv4 = Checksum::Tx;
        caps
    }
}
