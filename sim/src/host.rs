//! [`Host`]: one simulated machine's handle, implementing `model::Runtime` (its skewed clock,
//! timers, spawning, seeded randomness) and `model::Net` (streams and datagrams from its IP).
//! Handles are `Clone + Send + Sync`.

use crate::control::Control;
use crate::datagram::SimDatagram;
use crate::executor;
use crate::packet::{Fidelity, Hook, PSock, PacketStats, VerdictCounts};
use crate::slab::Key;
use crate::stream::ListenerState;
use crate::stream_handles::{ListenVia, SimListener, SimStream, Via};
use crate::world::{HostId, TimerSlot, World};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use testbed_model::packet::PacketFilter;
use testbed_model::runtime::join_pair;
use testbed_model::{BindError, ConnectError, Instant, JoinHandle, Net, Runtime, SeededRng};

/// State shared by every handle of one simulation.
pub(crate) struct Shared {
    pub(crate) world: Mutex<World>,
    /// The `std::time::Instant` that sim time zero maps to, for libraries that insist on std
    /// instants (quinn): read once per simulation; only differences from it reach them.
    pub(crate) std_base: std::time::Instant,
}

#[inline]
pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, World> {
    shared.world.lock().unwrap_or_else(|p| p.into_inner())
}

/// A simulated host: its clock, tasks and sockets.
#[derive(Clone)]
pub struct Host {
    pub(crate) shared: Arc<Shared>,
    pub(crate) id: HostId,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("name", &self.name())
            .field("ip", &self.ip())
            .finish()
    }
}

impl Host {
    /// The host's name.
    pub fn name(&self) -> String {
        lock(&self.shared).hosts[self.id as usize].name.clone()
    }
    /// The host's IP address.
    pub fn ip(&self) -> IpAddr {
        lock(&self.shared).hosts[self.id as usize].ip
    }
    /// The IP address of the host named `name`, if there is one.
    pub fn lookup(&self, name: &str) -> Option<IpAddr> {
        let w = lock(&self.shared);
        w.host_id(name).map(|id| w.hosts[id as usize].ip)
    }
    /// The handle of another host of the same simulation (e.g. to spawn a task on it).
    pub fn other(&self, name: &str) -> Option<Host> {
        let id = lock(&self.shared).host_id(name)?;
        Some(Host {
            shared: self.shared.clone(),
            id,
        })
    }
    /// Fault injection for the whole simulation.
    pub fn control(&self) -> Control {
        Control {
            shared: self.shared.clone(),
        }
    }
    /// What this host's socket calls would have cost on a kernel so far (one syscall and one
    /// CPU copy per successful read, write, send or receive).
    pub fn costs(&self) -> testbed_model::CostCounters {
        lock(&self.shared).hosts[self.id as usize].costs
    }
    /// The `std::time::Instant` that sim time zero corresponds to (fixed per simulation), for
    /// libraries whose clocks are std instants, such as quinn: map sim time `t` to
    /// `std_base() + t.since_epoch()`. Only differences ever matter, so runs stay deterministic.
    pub fn std_base(&self) -> std::time::Instant {
        self.shared.std_base
    }
    /// The host's wall clock as nanoseconds since the Unix epoch (what
    /// [`Runtime::wall_clock`] returns; `clock_skew` steps it).
    pub fn wall_nanos(&self) -> u64 {
        let w = lock(&self.shared);
        w.hosts[self.id as usize].clock.wall_ns(w.now)
    }
    /// The simulation's global (unskewed) time.
    pub fn global_now(&self) -> Instant {
        lock(&self.shared).now
    }
    /// The host's index in the simulation (what `Verdict::Redirect` takes).
    pub fn index(&self) -> u32 {
        self.id
    }
    /// How this simulation carries streams.
    pub fn fidelity(&self) -> Fidelity {
        lock(&self.shared).cfg.fidelity
    }
    /// Attaches a packet filter at `hook`, replacing any there. Filters see frames in packet
    /// fidelity (TCP and UDP) and, in stream fidelity, nothing.
    pub fn attach_filter(&self, hook: Hook, filter: impl PacketFilter + Send + 'static) {
        let mut w = lock(&self.shared);
        let f = &mut w.hosts[self.id as usize].filters;
        let slot = match hook {
            Hook::Ingress => &mut f.ingress,
            Hook::Egress => &mut f.egress,
        };
        *slot = Some(Box::new(filter));
    }
    /// Removes the filter at `hook`.
    pub fn detach_filter(&self, hook: Hook) {
        let mut w = lock(&self.shared);
        let f = &mut w.hosts[self.id as usize].filters;
        match hook {
            Hook::Ingress => f.ingress = None,
            Hook::Egress => f.egress = None,
        }
    }
    /// How often the filters at `hook` returned each verdict so far.
    pub fn filter_counts(&self, hook: Hook) -> VerdictCounts {
        lock(&self.shared).hosts[self.id as usize].filters.counts[hook as usize]
    }
    /// Packet fidelity: the counters of this host's stack (zero in stream fidelity or while
    /// the host is down).
    pub fn packet_stats(&self) -> PacketStats {
        lock(&self.shared).hosts[self.id as usize]
            .stack
            .as_ref()
            .map_or_else(PacketStats::default, |s| s.stats)
    }
    /// Packet fidelity: sends a raw Ethernet/IPv4 frame from this host, whatever its source
    /// address says (a raw socket: how a flood scenario spoofs sources). It goes through the
    /// host's egress filter and the links like any frame.
    pub fn send_frame(&self, frame: Vec<u8>) -> Result<(), std::io::Error> {
        let mut w = lock(&self.shared);
        if w.cfg.fidelity != Fidelity::Packet {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "raw frames need packet fidelity",
            ));
        }
        if !w.hosts[self.id as usize].up {
            return Err(std::io::ErrorKind::NotConnected.into());
        }
        w.hosts[self.id as usize].costs.syscall(1);
        w.send_frame(self.id, frame, true);
        Ok(())
    }
}

/// The future of [`Runtime::sleep_until`] on a simulated host: completes when the host's
/// monotonic clock reaches the deadline (its timer follows drift changes).
pub struct Sleep {
    shared: Arc<Shared>,
    host: HostId,
    /// On the host's monotonic clock.
    deadline: Instant,
    timer: Option<Key>,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut w = lock(&this.shared);
        if w.local_time(this.host) >= this.deadline {
            if let Some(k) = this.timer.take() {
                w.timers.remove(k);
            }
            return Poll::Ready(());
        }
        match this.timer.and_then(|k| w.timers.get_mut(k)) {
            Some(slot) => {
                if !slot.waker.as_ref().is_some_and(|x| x.will_wake(cx.waker())) {
                    slot.waker = Some(cx.waker().clone());
                }
            }
            None => {
                let at = w.to_global(this.host, this.deadline);
                let k = w.timers.insert(TimerSlot {
                    waker: Some(cx.waker().clone()),
                    host: this.host,
                    local_deadline: this.deadline,
                    global_deadline: at,
                });
                w.schedule(at, crate::world::Ev::Timer(k));
                this.timer = Some(k);
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(k) = self.timer.take() {
            lock(&self.shared).timers.remove(k);
        }
    }
}

impl Runtime for Host {
    type Sleep = Sleep;

    fn now(&self) -> Instant {
        lock(&self.shared).local_time(self.id)
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep {
            shared: self.shared.clone(),
            host: self.id,
            deadline,
            timer: None,
        }
    }

    fn wall_clock(&self) -> std::time::SystemTime {
        let w = lock(&self.shared);
        let ns = w.hosts[self.id as usize].clock.wall_ns(w.now);
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns)
    }

    fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let exec = executor::current();
        if !lock(&self.shared).hosts[self.id as usize].up {
            let (tx, handle) = join_pair(None);
            drop(tx); // a down host runs nothing: the handle reports Cancelled
            return handle;
        }
        let key = exec.reserve(self.id);
        let weak = Rc::downgrade(&exec);
        let (tx, handle) = join_pair(Some(Box::new(move || {
            if let Some(e) = weak.upgrade() {
                e.abort(key);
            }
        })));
        exec.set_future(key, Box::pin(async move { tx.send(fut.await) }));
        handle
    }

    fn rng(&self) -> SeededRng {
        lock(&self.shared).host_rng(self.id)
    }

    fn buggify(&self, name: &'static str) -> bool {
        lock(&self.shared).buggify.reach(name)
    }
}

struct ConnectGuard<'a> {
    shared: &'a Shared,
    key: Key,
    armed: bool,
}

impl Drop for ConnectGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            lock(self.shared).abandon_connect(self.key);
        }
    }
}

/// Closes a packet-fidelity socket whose connect did not complete (failed or abandoned).
struct PktConnectGuard<'a> {
    shared: &'a Shared,
    sock: Option<PSock>,
}

impl Drop for PktConnectGuard<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.sock.take() {
            lock(self.shared).pkt_close(p);
        }
    }
}

async fn pkt_connect(
    shared: Arc<Shared>,
    id: HostId,
    addr: SocketAddr,
) -> Result<SimStream, ConnectError> {
    let p = lock(&shared).pkt_connect_start(id, addr)?;
    let mut guard = PktConnectGuard {
        shared: &shared,
        sock: Some(p),
    };
    let (local, peer) = std::future::poll_fn(|cx| lock(&shared).pkt_poll_connect(p, cx)).await?;
    guard.sock = None;
    drop(guard);
    Ok(SimStream {
        shared: shared.clone(),
        via: Via::Packet(p),
        local,
        peer,
    })
}

fn check_local_ip(w: &World, host: HostId, ip: IpAddr) -> Result<(), BindError> {
    if ip.is_unspecified() || ip.is_loopback() || ip == w.hosts[host as usize].ip {
        Ok(())
    } else {
        Err(BindError::AddrNotAvailable)
    }
}

impl Net for Host {
    type Stream = SimStream;
    type Listener = SimListener;
    type Datagram = SimDatagram;

    fn local_ip(&self) -> IpAddr {
        self.ip()
    }

    fn listen(&self, addr: SocketAddr) -> Result<SimListener, BindError> {
        let mut w = lock(&self.shared);
        check_local_ip(&w, self.id, addr.ip())?;
        if w.cfg.fidelity == Fidelity::Packet {
            let bound = w.pkt_listen(self.id, addr)?;
            let incarnation = w.hosts[self.id as usize].incarnation;
            return Ok(SimListener {
                shared: self.shared.clone(),
                via: ListenVia::Packet {
                    host: self.id,
                    incarnation,
                    port: bound.port(),
                },
                addr: bound,
            });
        }
        let h = &mut w.hosts[self.id as usize];
        let port = match addr.port() {
            0 => h.ephemeral_port().ok_or(BindError::AddrNotAvailable)?,
            p if h.listeners.contains_key(&p) => return Err(BindError::AddrInUse),
            p => p,
        };
        let bound = SocketAddr::new(addr.ip(), port);
        let incarnation = h.incarnation;
        let key = w.listeners.insert(ListenerState {
            host: self.id,
            incarnation,
            addr: bound,
            backlog: Default::default(),
            half_open: Vec::new(),
            waker: None,
        });
        w.hosts[self.id as usize].listeners.insert(port, key);
        Ok(SimListener {
            shared: self.shared.clone(),
            via: ListenVia::Stream(key),
            addr: bound,
        })
    }

    fn connect(&self, addr: SocketAddr) -> impl Future<Output = Result<SimStream, ConnectError>> {
        let shared = self.shared.clone();
        let id = self.id;
        async move {
            if lock(&shared).cfg.fidelity == Fidelity::Packet {
                return pkt_connect(shared, id, addr).await;
            }
            let key = lock(&shared).connect_start(id, addr)?;
            let mut guard = ConnectGuard {
                shared: &shared,
                key,
                armed: true,
            };
            std::future::poll_fn(|cx| lock(&shared).poll_connect(key, cx)).await?;
            guard.armed = false;
            let w = lock(&shared);
            let c = w.conns.get(key).ok_or(ConnectError::Reset)?;
            let (local, peer) = (c.ends[0].addr, c.ends[1].addr);
            drop(w);
            Ok(SimStream {
                shared: shared.clone(),
                via: Via::Stream { conn: key, end: 0 },
                local,
                peer,
            })
        }
    }

    fn bind_datagram(&self, addr: SocketAddr) -> Result<SimDatagram, BindError> {
        let mut w = lock(&self.shared);
        check_local_ip(&w, self.id, addr.ip())?;
        let h = &mut w.hosts[self.id as usize];
        let port = match addr.port() {
            0 => h.ephemeral_port().ok_or(BindError::AddrNotAvailable)?,
            p if h.datagrams.contains_key(&p) => return Err(BindError::AddrInUse),
            p => p,
        };
        let bound = SocketAddr::new(addr.ip(), port);
        let key = w.bind_datagram_sock(self.id, bound);
        Ok(SimDatagram {
            shared: self.shared.clone(),
            key,
            addr: bound,
            host: self.id,
        })
    }
}
