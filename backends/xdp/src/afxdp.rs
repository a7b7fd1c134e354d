//! An AF_XDP socket as a [`PacketPort`]: frames that arrive on one receive queue of an
//! interface are redirected by a small XDP program (bpf/xsk.c) into the socket's rx ring, and
//! frames handed to [`PacketPort::tx_burst`] leave through the socket's tx ring. Built directly
//! on the syscalls (socket, setsockopt, getsockopt, mmap, bind, sendto, recvfrom, poll).
//!
//! Frame accounting: the UMEM holds `rx_ring_size + tx_ring_size` frames. At most
//! `rx_ring_size` of them are with the kernel for receiving (fill + rx rings) and at most
//! `tx_ring_size` for sending (tx + completion rings), so neither direction can starve the
//! other and no ring can overflow. Received frames are copied out into [`Bytes`] (the frame
//! goes straight back to the fill ring); sent frames are copied into a UMEM frame.
//!
//! One port per interface: the port attaches its own redirect program and detaches it on
//! drop. While it is open the kernel stack sees nothing that arrives on the bound queue, ARP
//! included: peers need static neighbour entries (or the caller answers ARP itself).

mod error;
#[allow(unsafe_code)] // mmap/munmap of the UMEM and the rings
mod mmap;
mod program;
#[allow(unsafe_code)] // ring indices and entries in memory shared with the kernel
mod ring;
#[allow(unsafe_code)] // the AF_XDP socket's setsockopt/getsockopt/bind/sendto/recvfrom/poll
mod socket;
#[allow(unsafe_code)] // frames of the UMEM as slices
mod umem;

pub use error::XskError;

use crate::AttachMode;
use bytes::Bytes;
use mmap::Mmap;
use program::{XskProgram, QUEUES_MAX};
use ring::{Ring, RingLayout};
use socket::XskSocket;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;
use testbed_model::packet::PacketPort;
use umem::Umem;

/// Shortest frame `tx_burst` accepts: an Ethernet header.
pub const TX_FRAME_MIN: usize = 14;
/// Bytes a frame may carry beyond the MTU: Ethernet header and one VLAN tag.
const L2_OVERHEAD: usize = 14 + 4;
/// Smallest and largest ring (entries).
const RING_SIZE_MIN: u32 = 64;
const RING_SIZE_MAX: u32 = 16384;

/// How a port is set up. The defaults: 2048-entry rings, 4096-byte frames (16 MiB of UMEM),
/// copy mode, the redirect program in driver mode if the interface has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XskConfig {
    /// Entries of the rx ring and of the fill ring (a power of two, 64..=16384); also the
    /// most frames the kernel holds for receiving.
    pub rx_ring_size: u32,
    /// Entries of the tx ring and of the completion ring (a power of two, 64..=16384); also
    /// the most frames in flight for sending.
    pub tx_ring_size: u32,
    /// Bytes per UMEM frame: 2048 or 4096 (the page size); bounds the longest frame.
    pub frame_size: u32,
    /// Try a zero-copy bind first, falling back to copy mode if the driver refuses.
    pub zero_copy: bool,
    /// Attach the redirect program in generic (skb) mode only.
    pub skb_only: bool,
}

impl Default for XskConfig {
    fn default() -> XskConfig {
        XskConfig {
            rx_ring_size: 2048,
            tx_ring_size: 2048,
            frame_size: 4096,
            zero_copy: false,
            skb_only: false,
        }
    }
}

impl XskConfig {
    /// Checks every bound; the error names the field.
    pub fn validate(&self) -> Result<(), XskError> {
        for (field, v) in [
            ("rx_ring_size", self.rx_ring_size),
            ("tx_ring_size", self.tx_ring_size),
        ] {
            if !v.is_power_of_two() || !(RING_SIZE_MIN..=RING_SIZE_MAX).contains(&v) {
                return Err(XskError::Config {
                    field,
                    value: v.into(),
                    rule: "a power of two from 64 to 16384",
                });
            }
        }
        if self.frame_size != 2048 && self.frame_size != 4096 {
            return Err(XskError::Config {
                field: "frame_size",
                value: self.frame_size.into(),
                rule: "2048 or 4096",
            });
        }
        Ok(())
    }
}

/// How the socket was bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindMode {
    /// XDP_COPY: the kernel copies frames between its buffers and the UMEM.
    Copy,
    /// XDP_ZEROCOPY: the driver DMAs straight into the UMEM.
    ZeroCopy,
}

/// How a port ended up running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XskMode {
    /// The socket's bind mode.
    pub bind: BindMode,
    /// The errno of a refused zero-copy bind, when zero copy was tried and refused.
    pub zero_copy_errno: Option<i32>,
    /// How the redirect program is attached.
    pub attach: AttachMode,
}

/// What the port has done, counted in userspace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XskCounters {
    /// Frames received (handed out by `rx_burst`).
    pub rx_frames: u64,
    /// Bytes received (and copied out of the UMEM).
    pub rx_bytes: u64,
    /// `rx_burst` calls that found the rx ring empty.
    pub rx_empty_polls: u64,
    /// rx descriptors that pointed outside the UMEM (dropped).
    pub rx_invalid_descs: u64,
    /// recvfrom wakeups because the fill ring asked for one.
    pub rx_wakeups: u64,
    /// Times frames were added to the fill ring.
    pub fill_refills: u64,
    /// Frames added to the fill ring.
    pub fill_frames: u64,
    /// Frames accepted by `tx_burst`.
    pub tx_frames: u64,
    /// Bytes accepted by `tx_burst` (and copied into the UMEM).
    pub tx_bytes: u64,
    /// `tx_burst` calls that accepted fewer frames than offered (tx room exhausted).
    pub tx_short_bursts: u64,
    /// sendto kicks.
    pub tx_kicks: u64,
    /// Kicks the kernel answered with a transient error (EBUSY, ENOBUFS, ENETDOWN); the
    /// frames stay queued for the next kick.
    pub tx_kick_deferred: u64,
    /// Sent frames reaped from the completion ring (back on the free list).
    pub tx_completions: u64,
    /// Frames the kernel handed back at an address outside the UMEM (a kernel bug; the
    /// frame is gone for good).
    pub frames_lost: u64,
}

/// The kernel's counts for the socket (XDP_STATISTICS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XskKernelStats {
    /// Frames dropped for reasons other than invalid descriptors.
    pub rx_dropped: u64,
    /// Invalid rx descriptors.
    pub rx_invalid_descs: u64,
    /// Invalid tx descriptors.
    pub tx_invalid_descs: u64,
    /// Frames dropped because the rx ring was full.
    pub rx_ring_full: u64,
    /// Times the fill ring was empty when a frame arrived.
    pub rx_fill_ring_empty_descs: u64,
    /// Times the tx ring was empty when the kernel looked.
    pub tx_ring_empty_descs: u64,
}

/// An AF_XDP socket bound to one receive queue of one interface, with its UMEM, rings and
/// redirect program. Not `Sync`: one thread drives it.
pub struct XskPort {
    // Field order is drop order: detach the program first (no more redirects into the
    // socket), unmap the rings, close the socket (the kernel lets go of the UMEM), and only
    // then unmap the UMEM.
    _program: XskProgram,
    rx: Ring<libc::xdp_desc>,
    tx: Ring<libc::xdp_desc>,
    fill: Ring<u64>,
    comp: Ring<u64>,
    socket: XskSocket,
    umem: Umem,
    iface: String,
    queue: u32,
    mtu: usize,
    tx_frame_max: usize,
    mode: XskMode,
    /// Frames in the fill and rx rings (at most the fill ring's size).
    rx_kernel: u32,
    /// Frames in the tx and completion rings (at most the tx ring's size).
    tx_kernel: u32,
    counters: XskCounters,
}

/// The socket with its four rings, bound.
struct Bound {
    socket: XskSocket,
    fill: Ring<u64>,
    comp: Ring<u64>,
    rx: Ring<libc::xdp_desc>,
    tx: Ring<libc::xdp_desc>,
}

impl XskPort {
    /// Opens a port on receive queue `queue` of `iface` with the default [`XskConfig`].
    pub fn open(iface: &str, queue: u32) -> Result<XskPort, XskError> {
        XskPort::open_with(iface, queue, XskConfig::default())
    }

    /// Opens a port on receive queue `queue` of `iface`: maps the UMEM, binds the socket
    /// (zero copy first if `cfg.zero_copy`, else or on EBUSY/EOPNOTSUPP/EINVAL copy mode),
    /// attaches the redirect program and stocks the fill ring. Needs root; the error names the
    /// step that failed (a bind to a queue the interface lacks is `Sys { op: "bind", .. }`).
    pub fn open_with(iface: &str, queue: u32, cfg: XskConfig) -> Result<XskPort, XskError> {
        cfg.validate()?;
        if queue >= QUEUES_MAX {
            return Err(XskError::Config {
                field: "queue",
                value: queue.into(),
                rule: "below 64 (the redirect program's XSKMAP slots)",
            });
        }
        crate::available()?;
        let ifindex = sys_net_u64(iface, "ifindex")?;
        let ifindex = u32::try_from(ifindex).map_err(|_| XskError::Interface {
            iface: iface.into(),
            why: format!("ifindex {ifindex} does not fit in 32 bits"),
        })?;
        let mtu = usize::try_from(sys_net_u64(iface, "mtu")?).unwrap_or(usize::MAX);
        let frames = cfg.rx_ring_size + cfg.tx_ring_size;
        let umem = Umem::new(frames, cfg.frame_size).map_err(|e| XskError::sys("mmap(UMEM)", e))?;

        let copy = libc::XDP_COPY | libc::XDP_USE_NEED_WAKEUP;
        let (bound, bind, zero_copy_errno) = if cfg.zero_copy {
            let zc = libc::XDP_ZEROCOPY | libc::XDP_USE_NEED_WAKEUP;
            match bind(&umem, &cfg, ifindex, queue, zc) {
                Ok(b) => (b, BindMode::ZeroCopy, None),
                Err(XskError::Sys { op: "bind", errno })
                    if [libc::EBUSY, libc::EOPNOTSUPP, libc::EINVAL].contains(&errno) =>
                {
                    (
                        bind(&umem, &cfg, ifindex, queue, copy)?,
                        BindMode::Copy,
                        Some(errno),
                    )
                }
                Err(e) => return Err(e),
            }
        } else {
            (
                bind(&umem, &cfg, ifindex, queue, copy)?,
                BindMode::Copy,
                None,
            )
        };
        let Bound {
            socket,
            fill,
            comp,
            rx,
            tx,
        } = bound;
        let (program, attach) = XskProgram::attach(iface, queue, &socket.as_fd(), cfg.skb_only)?;
        let mut port = XskPort {
            _program: program,
            rx,
            tx,
            fill,
            comp,
            socket,
            umem,
            iface: iface.into(),
            queue,
            mtu,
            tx_frame_max: (cfg.frame_size as usize).min(mtu.saturating_add(L2_OVERHEAD)),
            mode: XskMode {
                bind,
                zero_copy_errno,
                attach,
            },
            rx_kernel: 0,
            tx_kernel: 0,
            counters: XskCounters::default(),
        };
        port.refill();
        Ok(port)
    }

    /// The interface.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// The receive queue.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// How the socket is bound and the program attached.
    pub fn mode(&self) -> XskMode {
        self.mode
    }

    /// Longest frame `tx_burst` accepts (MTU + Ethernet header + one VLAN tag, at most a UMEM
    /// frame).
    pub fn tx_frame_max(&self) -> usize {
        self.tx_frame_max
    }

    /// What the port has counted.
    pub fn counters(&self) -> XskCounters {
        self.counters
    }

    /// Frames sent but not yet completed by the kernel.
    pub fn tx_in_flight(&self) -> u32 {
        self.tx_kernel
    }

    /// The kernel's drop and error counts for the socket.
    pub fn kernel_stats(&self) -> Result<XskKernelStats, XskError> {
        let s = self.socket.statistics()?;
        Ok(XskKernelStats {
            rx_dropped: s.rx_dropped,
            rx_invalid_descs: s.rx_invalid_descs,
            tx_invalid_descs: s.tx_invalid_descs,
            rx_ring_full: s.rx_ring_full,
            rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: s.tx_ring_empty_descs,
        })
    }

    /// Waits up to `timeout` (capped at about 24 days) for frames to arrive; true if the rx
    /// ring holds some.
    pub fn wait_rx(&mut self, timeout: Duration) -> Result<bool, XskError> {
        if self.rx.peek(1) > 0 {
            return Ok(true);
        }
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        self.socket
            .poll_in(ms)
            .map_err(|e| XskError::sys("poll (rx)", e))
    }

    /// Reaps completed sends and kicks the kernel if frames are still queued: call it when
    /// not otherwise calling `tx_burst`/`rx_burst` to let queued frames go out.
    pub fn flush(&mut self) -> Result<(), XskError> {
        self.reap();
        self.kick()
    }

    /// Every frame is free, with the kernel for rx, or with the kernel for tx.
    fn check_accounting(&self) {
        debug_assert_eq!(
            self.umem.free_frames() as u64
                + u64::from(self.rx_kernel)
                + u64::from(self.tx_kernel)
                + self.counters.frames_lost,
            u64::from(self.umem.frames()),
            "UMEM frame accounting"
        );
        debug_assert!(self.rx_kernel <= self.fill.size() && self.tx_kernel <= self.tx.size());
    }

    /// Moves completed sends back to the free list.
    fn reap(&mut self) {
        let n = self.comp.peek(self.comp.size());
        for i in 0..n {
            let addr = self.comp.read(i);
            if !self.umem.free(addr) {
                self.counters.frames_lost += 1;
            }
        }
        self.comp.release(n);
        self.tx_kernel = self.tx_kernel.saturating_sub(n);
        self.counters.tx_completions += u64::from(n);
    }

    /// Keeps the fill ring stocked, up to its size in frames held by the kernel for rx.
    fn refill(&mut self) {
        let want = self.fill.size().saturating_sub(self.rx_kernel);
        let n = self.fill.reserve(want);
        let mut k = 0;
        while k < n {
            let Some(addr) = self.umem.alloc() else { break };
            self.fill.write(k, addr);
            k += 1;
        }
        if k > 0 {
            self.fill.submit(k);
            self.rx_kernel += k;
            self.counters.fill_refills += 1;
            self.counters.fill_frames += u64::from(k);
        }
    }

    /// Kicks the kernel while it has tx descriptors left. In copy mode one sendto sends at most
    /// 32 frames and says EAGAIN while more are queued, so this loops, bounded by the ring.
    fn kick(&mut self) -> Result<(), XskError> {
        let rounds = self.tx.size() / 32 + 2;
        for _ in 0..rounds {
            if self.tx.unconsumed() == 0 {
                break;
            }
            // Copy mode sends only from sendto, whatever the flag says; a zero-copy driver
            // asks for a kick when it needs one.
            if self.mode.bind == BindMode::ZeroCopy && !self.tx.needs_wakeup() {
                break;
            }
            self.counters.tx_kicks += 1;
            match self.socket.kick_tx() {
                Ok(()) => {}
                Err(e) => match e.raw_os_error() {
                    Some(libc::EAGAIN | libc::EINTR) => {}
                    Some(libc::EBUSY | libc::ENOBUFS | libc::ENETDOWN) => {
                        self.counters.tx_kick_deferred += 1;
                        break;
                    }
                    _ => return Err(XskError::sys("sendto (tx kick)", e)),
                },
            }
            self.reap();
        }
        Ok(())
    }
}

impl PacketPort for XskPort {
    type Error = XskError;

    fn rx_burst(&mut self, out: &mut Vec<Bytes>, max: usize) -> Result<usize, XskError> {
        self.reap();
        let max = u32::try_from(max).unwrap_or(u32::MAX).min(self.rx.size());
        let n = self.rx.peek(max);
        let mut got = 0;
        for i in 0..n {
            let d = self.rx.read(i);
            match self.umem.frame(d.addr, d.len) {
                Some(frame) => {
                    out.push(Bytes::copy_from_slice(frame));
                    self.counters.rx_bytes += u64::from(d.len);
                    got += 1;
                }
                None => self.counters.rx_invalid_descs += 1,
            }
            if !self.umem.free(d.addr) {
                self.counters.frames_lost += 1;
            }
        }
        self.rx.release(n);
        self.rx_kernel = self.rx_kernel.saturating_sub(n);
        self.counters.rx_frames += got as u64;
        self.refill();
        if n == 0 {
            self.counters.rx_empty_polls += 1;
            if self.fill.needs_wakeup() {
                self.counters.rx_wakeups += 1;
                // Only a nudge: EAGAIN/EBUSY here mean nothing is pending.
                let _ = self.socket.wake_rx();
            }
        }
        if self.tx_kernel > 0 {
            self.kick()?;
        }
        self.check_accounting();
        Ok(got)
    }

    fn tx_burst(&mut self, frames: &[Bytes]) -> Result<usize, XskError> {
        if let Some((index, f)) = frames
            .iter()
            .enumerate()
            .find(|(_, f)| f.len() < TX_FRAME_MIN || f.len() > self.tx_frame_max)
        {
            return Err(XskError::FrameLength {
                index,
                len: f.len(),
                min: TX_FRAME_MIN,
                max: self.tx_frame_max,
            });
        }
        self.reap();
        let room = self.tx.size().saturating_sub(self.tx_kernel);
        let offered = u32::try_from(frames.len()).unwrap_or(u32::MAX);
        let n = self.tx.reserve(room.min(offered));
        let mut k = 0u32;
        for f in &frames[..n as usize] {
            let Some(addr) = self.umem.alloc() else { break };
            let len = f.len() as u32; // <= frame_size, checked above
            match self.umem.frame_mut(addr, len) {
                Some(buf) => buf.copy_from_slice(f),
                None => {
                    self.umem.free(addr);
                    break;
                }
            }
            self.tx.write(
                k,
                libc::xdp_desc {
                    addr,
                    len,
                    options: 0,
                },
            );
            self.counters.tx_bytes += u64::from(len);
            k += 1;
        }
        if k > 0 {
            self.tx.submit(k);
            self.tx_kernel += k;
            self.counters.tx_frames += u64::from(k);
        }
        if (k as usize) < frames.len() {
            self.counters.tx_short_bursts += 1;
        }
        self.kick()?;
        self.check_accounting();
        Ok(k as usize)
    }

    fn mtu(&self) -> usize {
        self.mtu
    }
}

/// Binds a fresh socket over `umem` with `flags`: register the UMEM, size and map the rings,
/// bind (the order the kernel requires).
fn bind(
    umem: &Umem,
    cfg: &XskConfig,
    ifindex: u32,
    queue: u32,
    flags: u16,
) -> Result<Bound, XskError> {
    let socket = XskSocket::new()?;
    socket.register_umem(umem.addr(), umem.len(), umem.frame_size())?;
    let (rxn, txn) = (cfg.rx_ring_size, cfg.tx_ring_size);
    socket.set_ring_size(
        "setsockopt(XDP_UMEM_FILL_RING)",
        libc::XDP_UMEM_FILL_RING,
        rxn,
    )?;
    socket.set_ring_size(
        "setsockopt(XDP_UMEM_COMPLETION_RING)",
        libc::XDP_UMEM_COMPLETION_RING,
        txn,
    )?;
    socket.set_ring_size("setsockopt(XDP_RX_RING)", libc::XDP_RX_RING, rxn)?;
    socket.set_ring_size("setsockopt(XDP_TX_RING)", libc::XDP_TX_RING, txn)?;
    let off = socket.mmap_offsets()?;
    let fill = map_ring(
        &socket,
        off.fr,
        rxn,
        libc::XDP_UMEM_PGOFF_FILL_RING,
        "mmap(fill ring)",
    )?;
    let comp = map_ring(
        &socket,
        off.cr,
        txn,
        libc::XDP_UMEM_PGOFF_COMPLETION_RING,
        "mmap(completion ring)",
    )?;
    let rx = map_ring(
        &socket,
        off.rx,
        rxn,
        libc::XDP_PGOFF_RX_RING as u64,
        "mmap(rx ring)",
    )?;
    let tx = map_ring(
        &socket,
        off.tx,
        txn,
        libc::XDP_PGOFF_TX_RING as u64,
        "mmap(tx ring)",
    )?;
    socket.bind(ifindex, queue, flags)?;
    Ok(Bound {
        socket,
        fill,
        comp,
        rx,
        tx,
    })
}

fn map_ring<T: Copy>(
    socket: &XskSocket,
    off: libc::xdp_ring_offset,
    size: u32,
    pgoff: u64,
    op: &'static str,
) -> Result<Ring<T>, XskError> {
    let layout = RingLayout::from(off);
    let map = Mmap::ring(socket.as_fd(), layout.map_len::<T>(size), pgoff)
        .map_err(|e| XskError::sys(op, e))?;
    Ring::new(Arc::new(map), layout, size).map_err(|e| XskError::Abi(format!("{op}: {}", e.0)))
}

/// `/sys/class/net/<iface>/<attr>` as a number; the name is checked first so it cannot
/// leave that directory.
fn sys_net_u64(iface: &str, attr: &str) -> Result<u64, XskError> {
    let bad = |why: String| XskError::Interface {
        iface: iface.into(),
        why,
    };
    let valid = !iface.is_empty()
        && iface.len() < libc::IFNAMSIZ
        && iface != "."
        && iface != ".."
        && !iface
            .bytes()
            .any(|b| b == b'/' || b == 0 || b.is_ascii_whitespace());
    if !valid {
        return Err(bad(
            "not a valid interface name (1 to 15 bytes, no '/', NUL or spaces)".into(),
        ));
    }
    let path = format!("/sys/class/net/{iface}/{attr}");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            bad("no such interface".into())
        } else {
            bad(format!("reading {path}: {e}"))
        }
    })?;
    text.trim()
        .parse()
        .map_err(|e| bad(format!("{path} holds {:?}: {e}", text.trim())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_bounds_name_the_field() {
        XskConfig::default().validate().unwrap();
        let e = XskConfig {
            rx_ring_size: 1000,
            ..XskConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(matches!(
            e,
            XskError::Config {
                field: "rx_ring_size",
                value: 1000,
                ..
            }
        ));
        let e = XskConfig {
            tx_ring_size: 32768,
            ..XskConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(matches!(
            e,
            XskError::Config {
                field: "tx_ring_size",
                ..
            }
        ));
        let e = XskConfig {
            frame_size: 8192,
            ..XskConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(matches!(
            e,
            XskError::Config {
                field: "frame_size",
                ..
            }
        ));
    }

    #[test]
    fn interface_names_cannot_escape_sysfs() {
        for name in ["", "..", "../../etc", "a/b", "sixteen-bytes-xx", "a b"] {
            let e = sys_net_u64(name, "mtu").unwrap_err();
            assert!(
                matches!(e, XskError::Interface { ref why, .. } if why.starts_with("not a valid")),
                "{name:?}: {e}"
            );
        }
        assert!(matches!(
            sys_net_u64("tbnosuchif0", "mtu"),
            Err(XskError::Interface { ref why, .. }) if why == "no such interface"
        ));
        assert!(sys_net_u64("lo", "mtu").unwrap() > 0);
    }

    #[test]
    fn bad_queue_and_config_fail_before_any_syscall() {
        assert!(matches!(
            XskPort::open("lo", 64),
            Err(XskError::Config {
                field: "queue",
                value: 64,
                ..
            })
        ));
        let cfg = XskConfig {
            frame_size: 1024,
            ..XskConfig::default()
        };
        assert!(matches!(
            XskPort::open_with("lo", 0, cfg),
            Err(XskError::Config {
                field: "frame_size",
                ..
            })
        ));
    }

    #[test]
    fn port_is_send() {
        fn send<T: Send>() {}
        send::<XskPort>();
    }
}
