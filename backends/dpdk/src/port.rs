//! Ethernet ports (ethdev): find one ([`PortId`]), configure and start it ([`Port::open`]),
//! move bursts of [`Mbuf`]s, read its MAC address, link, MTU and counters. Dropping a
//! [`Port`] drains its receive queues, stops and closes it.
#![allow(unsafe_code)]

use crate::{sys, Eal, MacAddr, Mbuf, Mempool, PortError};
use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::sync::Mutex;

/// Most mbufs one rx or tx burst moves (larger requests are clamped).
pub const BURST_MAX: usize = 512;

/// Ports open through a [`Port`] in this process (one handle per port).
static OPEN: Mutex<[bool; sys::RTE_MAX_ETHPORTS as usize]> =
    Mutex::new([false; sys::RTE_MAX_ETHPORTS as usize]);

/// A DPDK port that exists, borrowed from whatever created it (the [`Eal`] for `--vdev`
/// and PCI ports, a [`crate::Vdev`] or [`crate::RingPair`] for ports made at run time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortId<'d> {
    pub(crate) id: u16,
    /// For software ring ports: the one pool whose mbufs may be sent (see RingPair).
    pub(crate) pinned: Option<*const sys::rte_mempool>,
    pub(crate) _d: PhantomData<&'d ()>,
}

// SAFETY: the pinned pool pointer is only compared, never dereferenced.
unsafe impl Send for PortId<'_> {}
// SAFETY: as above.
unsafe impl Sync for PortId<'_> {}

fn name_of(id: u16) -> Option<String> {
    let mut buf = [0 as std::ffi::c_char; sys::RTE_ETH_NAME_MAX_LEN as usize];
    // SAFETY: buf has RTE_ETH_NAME_MAX_LEN bytes, as rte_eth_dev_get_name_by_port requires;
    // on success it holds a NUL-terminated name.
    let rc = unsafe { sys::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) };
    // SAFETY: written NUL-terminated on success (rc == 0).
    (rc == 0).then(|| {
        unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    })
}

fn driver_of(id: u16) -> Option<String> {
    let mut info = sys::rte_eth_dev_info::default();
    // SAFETY: info is a valid, writable rte_eth_dev_info.
    let rc = unsafe { sys::rte_eth_dev_info_get(id, &mut info) };
    if rc != 0 || info.driver_name.is_null() {
        return None;
    }
    // SAFETY: driver_name points at the driver's static NUL-terminated name.
    Some(
        unsafe { CStr::from_ptr(info.driver_name) }
            .to_string_lossy()
            .into_owned(),
    )
}

impl<'e> PortId<'e> {
    /// The port named `name` (a `--vdev` name such as `net_null0`, or a PCI address).
    /// `net_ring` ports made with `--vdev` are refused: their rings may be shared with other
    /// ports, which this wrapper cannot make safe; use [`crate::RingPair`].
    pub fn by_name(_eal: &'e Eal, name: &str) -> Result<PortId<'e>, PortError> {
        let id = lookup(name)?;
        if driver_of(id).as_deref() == Some("net_ring") {
            return Err(PortError::BadConfig(
                "net_ring ports from --vdev may share rings across ports; use RingPair",
            ));
        }
        Ok(PortId {
            id,
            pinned: None,
            _d: PhantomData,
        })
    }
}

pub(crate) fn lookup(name: &str) -> Result<u16, PortError> {
    let c = CString::new(name).map_err(|_| PortError::NotFound(name.to_owned()))?;
    let mut id = 0u16;
    // SAFETY: c is a valid C string; id is writable.
    let rc = unsafe { sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
    if rc != 0 {
        return Err(PortError::NotFound(name.to_owned()));
    }
    Ok(id)
}

impl Eal {
    /// Names of all ports the EAL knows (probed devices and `--vdev`s).
    pub fn port_names(&self) -> Vec<String> {
        (0..sys::RTE_MAX_ETHPORTS as u16)
            .filter(|&id| {
                // SAFETY: a validity check of a port number.
                unsafe { sys::rte_eth_dev_is_valid_port(id) == 1 }
            })
            .filter_map(name_of)
            .collect()
    }
}

impl PortId<'_> {
    /// The port number.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The port's name.
    pub fn name(&self) -> Option<String> {
        name_of(self.id)
    }
}

/// How to set up a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortConfig {
    /// Receive queues (1..=16).
    pub rx_queues: u16,
    /// Transmit queues (1..=16).
    pub tx_queues: u16,
    /// Descriptors per receive queue.
    pub rx_desc: u16,
    /// Descriptors per transmit queue.
    pub tx_desc: u16,
    /// Receive frames for every destination address.
    pub promiscuous: bool,
}

impl Default for PortConfig {
    /// The seed's l2fwd: one queue each way, 1024 descriptors, promiscuous.
    fn default() -> Self {
        PortConfig {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            promiscuous: true,
        }
    }
}

/// A port's counters (`rte_eth_stats_get`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames received.
    pub rx_packets: u64,
    /// Frames sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Frames dropped by the device because the rx queue was full.
    pub rx_missed: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Receive failures for lack of mbufs.
    pub rx_nombuf: u64,
}

/// A port's link state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Link {
    /// Whether the link is up.
    pub up: bool,
    /// Speed in Mb/s (0 if unknown).
    pub speed_mbps: u32,
    /// Whether it runs full duplex.
    pub full_duplex: bool,
}

/// A configured, started port, open once per process. Its lifetime is bounded by the device
/// ([`PortId`]) and the receive pool; every mbuf it receives borrows for that lifetime.
#[derive(Debug)]
pub struct Port<'p> {
    id: u16,
    rx_queues: u16,
    tx_queues: u16,
    rx_desc: u16,
    started: bool,
    pinned: Option<*const sys::rte_mempool>,
    _p: PhantomData<&'p Mempool<'p>>,
}

// SAFETY: a port handle is an id plus settings; the pinned pointer is only compared. Queue
// operations take &mut self, so one thread at a time drives them.
unsafe impl Send for Port<'_> {}
// SAFETY: &self methods only read counters and settings through thread-safe ethdev calls.
unsafe impl Sync for Port<'_> {}

fn check(op: &'static str, port: u16, rc: i32) -> Result<(), PortError> {
    if rc < 0 {
        Err(PortError::Call {
            op,
            port,
            errno: sys::errno(rc),
        })
    } else {
        Ok(())
    }
}

impl<'p> Port<'p> {
    /// Configures `id` (queues, descriptors), sets up its receive queues on `pool`, starts it
    /// and sets promiscuous mode as asked: the seed's `port_init`.
    pub fn open(
        id: PortId<'p>,
        pool: &'p Mempool<'_>,
        cfg: PortConfig,
    ) -> Result<Port<'p>, PortError> {
        if !(1..=16).contains(&cfg.rx_queues) || !(1..=16).contains(&cfg.tx_queues) {
            return Err(PortError::BadConfig("1 to 16 rx and tx queues"));
        }
        if cfg.rx_desc == 0 || cfg.tx_desc == 0 {
            return Err(PortError::BadConfig("descriptor counts must be positive"));
        }
        if let Some(p) = id.pinned {
            if p != pool.as_ptr().cast_const() {
                return Err(PortError::BadConfig(
                    "a ring-pair port receives into the pool the pair was made with",
                ));
            }
        }
        let port = id.id;
        // SAFETY: a validity check of a port number.
        if unsafe { sys::rte_eth_dev_is_valid_port(port) } != 1 {
            return Err(PortError::Invalid(port));
        }
        {
            let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
            let slot = open
                .get_mut(usize::from(port))
                .ok_or(PortError::Invalid(port))?;
            if *slot {
                return Err(PortError::Busy(port));
            }
            *slot = true;
        }
        // From here on, Drop releases the slot (and stops/closes what was set up).
        let mut p = Port {
            id: port,
            rx_queues: cfg.rx_queues,
            tx_queues: cfg.tx_queues,
            rx_desc: cfg.rx_desc,
            started: false,
            pinned: id.pinned,
            _p: PhantomData,
        };
        let conf = sys::rte_eth_conf::default();
        // SAFETY: conf is a zeroed (all defaults) configuration that DPDK copies.
        let rc = unsafe { sys::rte_eth_dev_configure(port, cfg.rx_queues, cfg.tx_queues, &conf) };
        check("rte_eth_dev_configure", port, rc)?;
        // SAFETY: a read of the port's NUMA socket.
        let socket = unsafe { sys::rte_eth_dev_socket_id(port) };
        let socket = u32::try_from(socket).unwrap_or(0);
        for q in 0..cfg.rx_queues {
            // SAFETY: the port is configured with rx_queues queues; NULL selects the default
            // rx configuration; the pool outlives the port ('p).
            let rc = unsafe {
                sys::rte_eth_rx_queue_setup(
                    port,
                    q,
                    cfg.rx_desc,
                    socket,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            };
            check("rte_eth_rx_queue_setup", port, rc)?;
        }
        for q in 0..cfg.tx_queues {
            // SAFETY: as above, NULL selects the default tx configuration.
            let rc = unsafe {
                sys::rte_eth_tx_queue_setup(port, q, cfg.tx_desc, socket, std::ptr::null())
            };
            check("rte_eth_tx_queue_setup", port, rc)?;
        }
        p.start()?;
        p.set_promiscuous(cfg.promiscuous)?;
        Ok(p)
    }

    /// The port number.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Starts the port (done by [`Port::open`]; for use after [`Port::stop`]).
    pub fn start(&mut self) -> Result<(), PortError> {
        if !self.started {
            // SAFETY: the port is configured with its queues set up.
            check("rte_eth_dev_start", self.id, unsafe {
                sys::rte_eth_dev_start(self.id)
            })?;
            self.started = true;
        }
        Ok(())
    }

    /// Stops the port; bursts then move nothing until [`Port::start`].
    pub fn stop(&mut self) -> Result<(), PortError> {
        if self.started {
            self.drain();
            // SAFETY: stops a started port; &mut self excludes bursts meanwhile.
            check("rte_eth_dev_stop", self.id, unsafe {
                sys::rte_eth_dev_stop(self.id)
            })?;
            self.started = false;
        }
        Ok(())
    }

    /// Whether the port is started.
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Turns promiscuous mode on or off.
    pub fn set_promiscuous(&mut self, on: bool) -> Result<(), PortError> {
        // SAFETY: plain control calls on a configured port.
        let rc = unsafe {
            if on {
                sys::rte_eth_promiscuous_enable(self.id)
            } else {
                sys::rte_eth_promiscuous_disable(self.id)
            }
        };
        match rc {
            // Devices without the notion (some virtual ones) say ENOTSUP: nothing to change.
            r if r == -(sys::ENOTSUP as i32) => Ok(()),
            r => check("rte_eth_promiscuous_enable/disable", self.id, r),
        }
    }

    /// Whether promiscuous mode is on.
    pub fn promiscuous(&self) -> bool {
        // SAFETY: a read of a flag.
        unsafe { sys::rte_eth_promiscuous_get(self.id) == 1 }
    }

    /// The port's MAC address.
    pub fn mac(&self) -> Result<MacAddr, PortError> {
        let mut a = sys::rte_ether_addr::default();
        // SAFETY: a is a valid, writable rte_ether_addr.
        check("rte_eth_macaddr_get", self.id, unsafe {
            sys::rte_eth_macaddr_get(self.id, &mut a)
        })?;
        Ok(MacAddr(a.addr_bytes))
    }

    /// Sets the port's MAC address (`rte_eth_dev_default_mac_addr_set`). Drivers that cannot
    /// change it but start without one (net_ring) get it as their first address instead
    /// (`rte_eth_dev_mac_addr_add` fills the empty default slot).
    pub fn set_mac(&mut self, mac: MacAddr) -> Result<(), PortError> {
        let mut a = sys::rte_ether_addr { addr_bytes: mac.0 };
        // SAFETY: a is a valid rte_ether_addr that DPDK copies.
        let rc = unsafe { sys::rte_eth_dev_default_mac_addr_set(self.id, &mut a) };
        if rc == -(sys::ENOTSUP as i32) && self.mac()? == MacAddr::default() {
            // SAFETY: as above; pool 0 is the default VMDq pool.
            let rc = unsafe { sys::rte_eth_dev_mac_addr_add(self.id, &mut a, 0) };
            check("rte_eth_dev_mac_addr_add", self.id, rc)?;
            return match self.mac()? {
                m if m == mac => Ok(()),
                _ => check(
                    "rte_eth_dev_default_mac_addr_set",
                    self.id,
                    -(sys::ENOTSUP as i32),
                ),
            };
        }
        check("rte_eth_dev_default_mac_addr_set", self.id, rc)
    }

    /// The port's MTU (largest L3 payload).
    pub fn mtu(&self) -> Result<u16, PortError> {
        let mut mtu = 0u16;
        // SAFETY: mtu is writable.
        check("rte_eth_dev_get_mtu", self.id, unsafe {
            sys::rte_eth_dev_get_mtu(self.id, &mut mtu)
        })?;
        Ok(mtu)
    }

    /// The link state, without waiting for negotiation.
    pub fn link(&self) -> Result<Link, PortError> {
        let mut l = sys::rte_eth_link::default();
        // SAFETY: l is a valid, writable rte_eth_link.
        check("rte_eth_link_get_nowait", self.id, unsafe {
            sys::rte_eth_link_get_nowait(self.id, &mut l)
        })?;
        Ok(Link {
            up: l.link_status() == 1,
            speed_mbps: l.link_speed,
            full_duplex: l.link_duplex() == 1,
        })
    }

    /// The port's counters.
    pub fn stats(&self) -> Result<Stats, PortError> {
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: s is a valid, writable rte_eth_stats.
        check("rte_eth_stats_get", self.id, unsafe {
            sys::rte_eth_stats_get(self.id, &mut s)
        })?;
        Ok(Stats {
            rx_packets: s.ipackets,
            tx_packets: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Zeroes the port's counters.
    pub fn reset_stats(&mut self) -> Result<(), PortError> {
        // SAFETY: a control call on a configured port.
        check("rte_eth_stats_reset", self.id, unsafe {
            sys::rte_eth_stats_reset(self.id)
        })
    }

    /// Receives up to `max` (at most [`BURST_MAX`]) frames from `queue`, appending them to
    /// `out`; returns how many arrived. Nothing arrives on a stopped port or a bad queue.
    pub fn rx_burst(&mut self, queue: u16, out: &mut Vec<Mbuf<'p>>, max: usize) -> usize {
        if !self.started || queue >= self.rx_queues {
            return 0;
        }
        let n = max.min(BURST_MAX);
        out.reserve(n);
        let len = out.len();
        // SAFETY: the port is started and the queue exists; out's spare capacity holds n
        // pointers; Mbuf is a transparent non-null mbuf pointer, so DPDK may fill the array.
        // &mut self makes this the only thread polling the port.
        let got = unsafe {
            sys::tb_rx_burst(
                self.id,
                queue,
                out.as_mut_ptr().add(len).cast::<*mut sys::rte_mbuf>(),
                n as u16,
            )
        };
        // SAFETY: DPDK wrote `got` valid, non-null mbufs that are now ours; their pool is the
        // queue's, which outlives 'p.
        unsafe { out.set_len(len + usize::from(got)) };
        usize::from(got)
    }

    /// Transmits the first mbufs of `bufs` (at most [`BURST_MAX`]) on `queue`; returns how
    /// many the device accepted. Those leave `bufs`; the unsent ones stay, in order, for the
    /// caller to retry or drop. A ring-pair port sends only mbufs of its own pool: a foreign
    /// one stops the burst there.
    pub fn tx_burst(&mut self, queue: u16, bufs: &mut Vec<Mbuf<'p>>) -> usize {
        if !self.started || queue >= self.tx_queues {
            return 0;
        }
        let mut n = bufs.len().min(BURST_MAX);
        if let Some(pool) = self.pinned {
            n = bufs[..n]
                .iter()
                .position(|m| m.pool_ptr() != pool)
                .unwrap_or(n);
        }
        if n == 0 {
            return 0;
        }
        // SAFETY: the port is started and the queue exists; the first n elements are valid
        // owned mbufs (Mbuf is a transparent pointer). DPDK takes ownership of the first
        // `sent` of them.
        let sent = usize::from(unsafe {
            sys::tb_tx_burst(
                self.id,
                queue,
                bufs.as_mut_ptr().cast::<*mut sys::rte_mbuf>(),
                n as u16,
            )
        });
        let rest = bufs.len() - sent;
        // SAFETY: the first `sent` mbufs now belong to the device: they are overwritten by the
        // unsent tail (moved down) without being dropped, and the length shrinks to match.
        unsafe {
            std::ptr::copy(bufs.as_ptr().add(sent), bufs.as_mut_ptr(), rest);
            bufs.set_len(rest);
        }
        sent
    }

    /// Like [`Port::tx_burst`], then frees what the device did not accept (the seed's
    /// l2fwd); returns (sent, freed).
    pub fn tx_burst_or_free(&mut self, queue: u16, bufs: &mut Vec<Mbuf<'p>>) -> (usize, usize) {
        let sent = self.tx_burst(queue, bufs);
        let freed = bufs.len();
        bufs.clear();
        (sent, freed)
    }

    /// Frees what is waiting in the receive queues, boundedly (a device that makes frames
    /// forever, like net_null, is not drained dry).
    fn drain(&mut self) {
        let mut bufs = Vec::with_capacity(BURST_MAX);
        let rounds = usize::from(self.rx_desc) / 32 + 4;
        for q in 0..self.rx_queues {
            for _ in 0..rounds {
                bufs.clear();
                if self.rx_burst(q, &mut bufs, 32) == 0 {
                    break;
                }
            }
        }
    }
}

impl Drop for Port<'_> {
    fn drop(&mut self) {
        let _ = self.stop();
        // SAFETY: the port is stopped; closing releases its queues (and the mbufs a device
        // holds in them) while the pool is still alive ('p).
        unsafe { sys::rte_eth_dev_close(self.id) };
        let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = open.get_mut(usize::from(self.id)) {
            *slot = false;
        }
    }
}
