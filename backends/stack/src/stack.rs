//! The stack and its run loop: receive a burst from the port, let smoltcp process it and
//! whatever the tasks wrote, hand what smoltcp transmitted to the port, fire due timers, run
//! ready tasks; sleep (or wait on the port) only when none of that found work, and never
//! past smoltcp's next deadline or the next timer.

use crate::config::{StackBuilder, StackConfig, BURST, FRAME_MAX, NEIGHBORS_MAX};
use crate::device::{Flow, PortDevice};
use crate::error::RunError;
use crate::exec::Exec;
use crate::handle::Handle;
use crate::tcp::{smol_duration, ListenerState};
use bytes::Bytes;
use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::task::Waker;
use testbed_model::packet::PacketPort;
use testbed_model::rng::derive_seed;
use testbed_model::wire::{self, tcp_flags};
use testbed_model::{Duration, Instant, SeededRng};

/// Flows remembered as reset by the peer (then the set starts over).
const RESETS_MAX: usize = 4096;
/// Sleep timers pending at most; beyond it a sleep polls the clock on every round instead.
pub(crate) const TIMERS_MAX: usize = 1 << 16;
/// Shortest idle wait.
const IDLE_MIN: Duration = Duration::from_micros(10);

/// Counters of one stack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StackStats {
    /// Frames received from the port.
    pub frames_rx: u64,
    /// Frames the port accepted for transmission.
    pub frames_tx: u64,
    /// Times the port accepted fewer frames than offered (they were retried).
    pub tx_port_full: u64,
    /// TCP segments that re-sent sequence space already sent.
    pub tcp_retransmits: u64,
    /// Stale pure ACKs whose sequence number was repaired.
    pub acks_repaired: u64,
    /// ARP requests answered from the static neighbour table.
    pub static_arp_answers: u64,
    /// Connections accepted by listeners.
    pub accepted: u64,
    /// Connections established by `connect`.
    pub connected: u64,
    /// Run-loop rounds that found no work and waited.
    pub idle_waits: u64,
}

/// Everything the tasks share with the run loop: smoltcp's interface and sockets and the
/// bookkeeping around them.
pub(crate) struct Core {
    pub(crate) iface: Interface,
    pub(crate) sockets: SocketSet<'static>,
    pub(crate) cfg: StackConfig,
    pub(crate) listeners: BTreeMap<u16, ListenerState>,
    /// Local TCP ports of connected client sockets.
    pub(crate) tcp_ports: BTreeSet<u16>,
    pub(crate) udp_ports: BTreeSet<u16>,
    /// Sockets the application let go of, removed once smoltcp is done with them, with the
    /// ephemeral port to free (0 for none).
    pub(crate) zombies: Vec<(SocketHandle, u16)>,
    pub(crate) reset_by_peer: BTreeSet<Flow>,
    pub(crate) port_rng: SeededRng,
    pub(crate) timers: BTreeMap<(Instant, u64), Waker>,
    pub(crate) timer_seq: u64,
    pub(crate) rng_draws: u64,
    pub(crate) stats: StackStats,
    pub(crate) epoch: std::time::Instant,
    /// Largest IP packet the port carries.
    pub(crate) ip_mtu: usize,
}

pub(crate) struct Inner {
    pub(crate) core: RefCell<Core>,
    pub(crate) exec: Exec,
}

/// The stack's own reference to [`Inner`]: dropping it drops the remaining tasks, which hold
/// references to `Inner` themselves (a cycle that would otherwise leak).
struct Owner(Rc<Inner>);

impl std::ops::Deref for Owner {
    type Target = Rc<Inner>;
    fn deref(&self) -> &Rc<Inner> {
        &self.0
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.exec.clear();
    }
}

#[allow(clippy::disallowed_methods)] // a real backend reads the real clock
fn std_now() -> std::time::Instant {
    std::time::Instant::now()
}

pub(crate) fn smol_time(t: Instant) -> SmolInstant {
    SmolInstant::from_micros(i64::try_from(t.as_nanos() / 1000).unwrap_or(i64::MAX))
}

impl Core {
    pub(crate) fn now(&self) -> Instant {
        Instant::ZERO + std_now().saturating_duration_since(self.epoch)
    }

    /// A fresh TCP socket with the configured buffers.
    pub(crate) fn new_tcp_socket(&self) -> tcp::Socket<'static> {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; self.cfg.tcp_rx_buffer_bytes]),
            tcp::SocketBuffer::new(vec![0; self.cfg.tcp_tx_buffer_bytes]),
        );
        s.set_congestion_control(tcp::CongestionControl::Reno);
        // Linux's RTO: srtt + max(4·rttvar, rto_min), doubling up to rto_max (the vendored
        // smoltcp's setters; the builder checked rto_min <= rto_max).
        let (min, max) = (
            smol_duration(self.cfg.rto_min),
            smol_duration(self.cfg.rto_max),
        );
        s.set_rto_bounds(min, max);
        s.set_rto_min_margin(min);
        s
    }

    /// Notes an incoming frame: remembers flows the peer reset.
    fn note_received(&mut self, frame: &[u8]) {
        let Some(ip) = wire::ipv4(frame) else {
            return;
        };
        let Some(t) = wire::tcp(frame, &ip) else {
            return;
        };
        if t.flags & tcp_flags::RST != 0 {
            if self.reset_by_peer.len() >= RESETS_MAX {
                self.reset_by_peer.clear();
            }
            self.reset_by_peer.insert((t.dst_port, ip.src, t.src_port));
        }
    }

    /// Runs smoltcp over what the device holds, answers static-neighbour ARP, and does the
    /// socket housekeeping.
    fn poll(&mut self, now: Instant, dev: &mut PortDevice) {
        let ts = smol_time(now);
        let mut changed = false;
        // A static ARP answer lets the waiting packet leave on the next pass; a few passes
        // bound the work.
        for _ in 0..4 {
            changed |=
                self.iface.poll(ts, dev, &mut self.sockets) == PollResult::SocketStateChanged;
            let answered = dev.answer_static_arp(&self.cfg.neighbors);
            self.stats.static_arp_answers += answered as u64;
            if answered == 0 {
                break;
            }
        }
        if changed {
            self.housekeeping();
        }
        self.stats.tcp_retransmits = dev.retransmits;
        self.stats.acks_repaired = dev.acks_repaired;
    }

    /// Removes closed sockets the application let go of, re-arms listener slots whose
    /// half-open connection died, and wakes listeners with a connection to accept.
    fn housekeeping(&mut self) {
        let sockets = &mut self.sockets;
        let (tcp_ports, resets) = (&mut self.tcp_ports, &mut self.reset_by_peer);
        self.zombies.retain(|&(h, port)| {
            let state = sockets.get::<tcp::Socket>(h).state();
            if matches!(state, tcp::State::Closed | tcp::State::TimeWait) {
                sockets.remove(h);
                if port != 0 {
                    tcp_ports.remove(&port);
                    resets.retain(|f| f.0 != port);
                }
                false
            } else {
                true
            }
        });
        let listeners: Vec<u16> = self.listeners.keys().copied().collect();
        for port in listeners {
            self.rearm_listener(port);
        }
    }

    pub(crate) fn add_neighbor(&mut self, ip: Ipv4Addr, mac: [u8; 6]) -> bool {
        if self.cfg.neighbors.len() >= NEIGHBORS_MAX && !self.cfg.neighbors.contains_key(&ip) {
            return false;
        }
        self.cfg.neighbors.insert(ip, mac);
        true
    }

    pub(crate) fn add_timer(&mut self, at: Instant, waker: Waker) -> Option<(Instant, u64)> {
        if self.timers.len() >= TIMERS_MAX {
            return None;
        }
        self.timer_seq += 1;
        let key = (at, self.timer_seq);
        self.timers.insert(key, waker);
        Some(key)
    }

    /// Wakes every timer due at `now`; returns how many.
    fn fire_timers(&mut self, now: Instant) -> usize {
        let mut n = 0;
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            entry.remove().wake();
            n += 1;
        }
        n
    }
}

/// A smoltcp TCP/IP stack over packet port `P`, with a single-threaded executor whose tasks
/// see it through a [`Handle`] (`model::Net + model::Runtime`).
pub struct Stack<P: PacketPort> {
    port: P,
    dev: PortDevice,
    inner: Owner,
    #[allow(clippy::type_complexity)]
    idle_wait: Option<Box<dyn FnMut(&mut P, Duration)>>,
    rx_buf: Vec<Bytes>,
}

impl<P: PacketPort> std::fmt::Debug for Stack<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("ip", &self.inner.core.borrow().cfg.ip)
            .field("stats", &self.stats())
            .finish()
    }
}

impl<P: PacketPort> Stack<P> {
    /// A builder with the defaults (see [`StackBuilder`]); `StackBuilder::new()` is the same
    /// without naming the port type first.
    pub fn builder() -> StackBuilder {
        StackBuilder::default()
    }

    pub(crate) fn new(cfg: StackConfig, port: P) -> Stack<P> {
        let mut dev = PortDevice::new(port.mtu());
        let epoch = std_now();
        let mut icfg = Config::new(HardwareAddress::Ethernet(EthernetAddress(cfg.mac)));
        icfg.random_seed = derive_seed(cfg.seed, "smoltcp");
        let mut iface = Interface::new(icfg, &mut dev, smol_time(Instant::ZERO));
        iface.update_ip_addrs(|a| {
            // One address on a fresh interface always fits.
            let _ = a.push(IpCidr::Ipv4(cfg.ip));
        });
        if let Some(gw) = cfg.gateway {
            // A fresh route table has room for the default route.
            let _ = iface.routes_mut().add_default_ipv4_route(gw);
        }
        let core = Core {
            iface,
            sockets: SocketSet::new(Vec::new()),
            listeners: BTreeMap::new(),
            tcp_ports: BTreeSet::new(),
            udp_ports: BTreeSet::new(),
            zombies: Vec::new(),
            reset_by_peer: BTreeSet::new(),
            port_rng: SeededRng::new(derive_seed(cfg.seed, "ephemeral-ports")),
            timers: BTreeMap::new(),
            timer_seq: 0,
            rng_draws: 0,
            stats: StackStats::default(),
            epoch,
            ip_mtu: port.mtu().min(FRAME_MAX - wire::ETH_LEN),
            cfg,
        };
        Stack {
            port,
            dev,
            inner: Owner(Rc::new(Inner {
                core: RefCell::new(core),
                exec: Exec::default(),
            })),
            idle_wait: None,
            rx_buf: Vec::with_capacity(BURST),
        }
    }

    /// A handle on this stack (usable inside [`Stack::run`]; outside it nothing progresses).
    pub fn handle(&self) -> Handle {
        Handle::new(Rc::clone(&self.inner))
    }

    /// Adds a static neighbour entry (a peer that never answers ARP); false if the table
    /// is full.
    pub fn insert_neighbor(&mut self, ip: Ipv4Addr, mac: [u8; 6]) -> bool {
        self.inner.core.borrow_mut().add_neighbor(ip, mac)
    }

    /// How the run loop waits when idle: `f(port, at_most)` (e.g. a poll on the port's fd).
    /// Without it the loop sleeps with exponential backoff up to the configured `idle_max`.
    pub fn set_idle_wait(&mut self, f: impl FnMut(&mut P, Duration) + 'static) {
        self.idle_wait = Some(Box::new(f));
    }

    /// Counters so far.
    pub fn stats(&self) -> StackStats {
        self.inner.core.borrow().stats
    }

    /// The port.
    pub fn port(&self) -> &P {
        &self.port
    }

    /// The port, mutably.
    pub fn port_mut(&mut self) -> &mut P {
        &mut self.port
    }

    /// Tears the stack down (sockets and tasks go) and gives the port back.
    pub fn into_port(self) -> P {
        self.port // the other fields drop here, the tasks with them
    }

    /// Runs `f(handle)` and every task it spawns until `f`'s future completes; then drops the
    /// remaining tasks (their sockets close) and sends what that produced.
    pub fn run<F, Fut, T>(&mut self, f: F) -> Result<T, RunError<P::Error>>
    where
        F: FnOnce(Handle) -> Fut,
        Fut: Future<Output = T> + 'static,
        T: 'static,
    {
        let out: Rc<RefCell<Option<T>>> = Rc::default();
        let o = out.clone();
        let main = f(self.handle());
        self.inner.exec.spawn(Box::pin(async move {
            *o.borrow_mut() = Some(main.await);
        }));
        let r = self.run_loop(&out);
        self.inner.exec.clear();
        // Let the closes of the dropped tasks' sockets leave.
        let now = self.inner.core.borrow().now();
        self.inner.core.borrow_mut().poll(now, &mut self.dev);
        let flushed = self.flush_tx();
        r?;
        flushed?;
        let v = out.borrow_mut().take();
        Ok(v.expect("the loop ends only once the main future has completed"))
    }

    fn run_loop<T>(&mut self, out: &Rc<RefCell<Option<T>>>) -> Result<(), RunError<P::Error>> {
        let idle_max = self.inner.core.borrow().cfg.idle_max.max(IDLE_MIN);
        let mut backoff = IDLE_MIN;
        loop {
            let polled = self.inner.exec.run_ready();
            if out.borrow().is_some() {
                return Ok(());
            }
            let received = self.receive()?;
            let now = self.inner.core.borrow().now();
            self.inner.core.borrow_mut().poll(now, &mut self.dev);
            let sent = self.flush_tx()?;
            let fired = self.inner.core.borrow_mut().fire_timers(now);
            if polled + received + sent + fired > 0 || self.inner.exec.has_ready() {
                backoff = IDLE_MIN;
                continue;
            }
            let wait = {
                let mut core = self.inner.core.borrow_mut();
                let now2 = core.now();
                let Core {
                    iface,
                    sockets,
                    timers,
                    ..
                } = &mut *core;
                let smol = iface
                    .poll_delay(smol_time(now2), sockets)
                    .map(|d| Duration::from_micros(d.total_micros()));
                let timer = timers.first_key_value().map(|(k, _)| k.0 - now2);
                core.stats.idle_waits += 1;
                [Some(backoff), smol, timer].into_iter().flatten().min()
            };
            let wait = wait.unwrap_or(backoff);
            if !wait.is_zero() {
                match &mut self.idle_wait {
                    Some(f) => f(&mut self.port, wait),
                    None => std::thread::sleep(wait),
                }
            }
            backoff = (backoff * 2).min(idle_max);
        }
    }

    /// Moves frames from the port into the device while it has room; returns how many.
    fn receive(&mut self) -> Result<usize, RunError<P::Error>> {
        let mut total = 0;
        while self.dev.rx_room() >= BURST && total < BURST * 4 {
            self.rx_buf.clear();
            let n = self
                .port
                .rx_burst(&mut self.rx_buf, BURST)
                .map_err(RunError::Port)?;
            let mut core = self.inner.core.borrow_mut();
            for f in self.rx_buf.drain(..) {
                core.note_received(&f);
                self.dev.rx.push_back(f);
            }
            core.stats.frames_rx += n as u64;
            total += n;
            if n < BURST {
                break;
            }
        }
        Ok(total)
    }

    /// Hands queued frames to the port; returns how many it took.
    fn flush_tx(&mut self) -> Result<usize, RunError<P::Error>> {
        let mut total = 0;
        while !self.dev.tx.is_empty() {
            let frames = self.dev.tx.make_contiguous();
            let offered = frames.len().min(BURST);
            let n = self
                .port
                .tx_burst(&frames[..offered])
                .map_err(RunError::Port)?
                .min(offered);
            self.dev.tx.drain(..n);
            total += n;
            if n < offered {
                self.inner.core.borrow_mut().stats.tx_port_full += 1;
                break;
            }
        }
        self.inner.core.borrow_mut().stats.frames_tx += total as u64;
        Ok(total)
    }
}
