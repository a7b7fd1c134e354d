//! The smoltcp `phy::Device` of a simulated host: frames the simulator delivered wait in `rx`,
//! frames smoltcp transmits collect in `tx` until the simulator puts them on links.
//!
//! smoltcp runs with `Medium::Ip` (no ARP: the simulator knows every host's address), and the
//! device adds and strips a 14-byte Ethernet header, so what travels on the simulated wire,
//! what packet filters see and what pcap files hold are ordinary Ethernet frames.

use smoltcp::phy::{self, Checksum, DeviceCapabilities, Medium};
use smoltcp::time::Instant as SmolInstant;
use std::collections::VecDeque;

use testbed_model::wire::{fill_ethernet, ETH_LEN};

pub(crate) struct SimDevice {
    pub(crate) rx: VecDeque<Vec<u8>>,
    pub(crate) tx: Vec<Vec<u8>>,
    pub(crate) mtu: usize,
}

impl SimDevice {
    pub(crate) fn new(mtu: usize) -> SimDevice {
        SimDevice {
            rx: VecDeque::new(),
            tx: Vec::new(),
            mtu,
        }
    }
}

pub(crate) struct Rx(Vec<u8>);
pub(crate) struct Tx<'a>(&'a mut Vec<Vec<u8>>);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0[ETH_LEN..])
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0u8; ETH_LEN + len];
        let r = f(&mut frame[ETH_LEN..]);
        fill_ethernet(&mut frame);
        self.0.push(frame);
        r
    }
}

impl phy::Device for SimDevice {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _now: SmolInstant) -> Option<(Rx, Tx<'_>)> {
        let frame = self.rx.pop_front()?;
        Some((Rx(frame), Tx(&mut self.tx)))
    }

    fn transmit(&mut self, _now: SmolInstant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
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
