//! The simulated world: global virtual time, the event heap, hosts and links. Everything the
//! async handles touch lives here, behind one uncontended mutex (handles are `Send + Sync`
//! although the executor is single-threaded; quinn requires that).

use crate::clock::HostClock;
use crate::config::{LinkConfig, SimConfig};
use crate::datagram::{DatagramSock, InFlightDatagram};
pub(crate) use crate::events::Ev;
use crate::events::Events;
use crate::packet::{Filters, InFlightFrame, PacketStack, PcapWriter, StackParams};
use crate::slab::{Key, Slab};
use crate::stream::{Conn, ListenerState};
use crate::trace::{DropReason, Event, Kind, Trace};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::task::Waker;
use testbed_model::link::{Fate, LinkDrop, LinkQueue};
use testbed_model::rng::{derive_seed, derive_seed_indexed};
use testbed_model::{CostCounters, Duration, Instant, SeededRng};

pub(crate) type HostId = u32;
/// "No host" in trace records.
pub(crate) const NO_HOST: u32 = u32::MAX;

/// A scheduled fault (or any control action) run at its sim time.
pub(crate) type FaultFn = Box<dyn FnOnce(&crate::Control) + Send>;

pub(crate) struct HostState {
    pub(crate) name: String,
    pub(crate) ip: IpAddr,
    pub(crate) up: bool,
    pub(crate) incarnation: u64,
    /// Its monotonic and wall clocks.
    pub(crate) clock: HostClock,
    pub(crate) listeners: BTreeMap<u16, Key>,
    pub(crate) datagrams: BTreeMap<u16, Key>,
    pub(crate) ports_in_use: BTreeSet<u16>,
    /// Stream fidelity: (local port, remote) pairs in TIME-WAIT and when each ends.
    pub(crate) time_wait: BTreeMap<(u16, SocketAddr), Instant>,
    pub(crate) next_ephemeral: u16,
    pub(crate) rng_draws: u64,
    /// Whether the host has an init to run at start and restart (the init itself lives
    /// with the executor: it need not be `Send`).
    pub(crate) has_init: bool,
    /// What this host's socket calls would have cost on a kernel: one syscall and one CPU
    /// copy per read or write call.
    pub(crate) costs: CostCounters,
    /// Packet fidelity: the host's TCP/IP stack (none while the host is down).
    pub(crate) stack: Option<Box<PacketStack>>,
    /// Packet filters at ingress and egress.
    pub(crate) filters: Filters,
    /// Packet fidelity: the host's capture file.
    pub(crate) pcap: Option<PcapWriter>,
}

/// Linux's default ephemeral range (net.ipv4.ip_local_port_range 32768 60999: 28,232 ports).
pub(crate) const EPHEMERAL_FIRST: u16 = 32768;
pub(crate) const EPHEMERAL_LAST: u16 = 60999;

impl HostState {
    pub(crate) fn new(name: String, ip: IpAddr, has_init: bool) -> HostState {
        HostState {
            name,
            ip,
            up: true,
            incarnation: 0,
            clock: HostClock::default(),
            listeners: BTreeMap::new(),
            datagrams: BTreeMap::new(),
            ports_in_use: BTreeSet::new(),
            time_wait: BTreeMap::new(),
            next_ephemeral: EPHEMERAL_FIRST,
            rng_draws: 0,
            costs: CostCounters::default(),
            has_init,
            stack: None,
            filters: Filters::default(),
            pcap: None,
        }
    }

    /// A free ephemeral port (for a listener or datagram socket), or `None` if all are taken.
    pub(crate) fn ephemeral_port(&mut self) -> Option<u16> {
        self.pick_port(|_, _| false)
    }

    /// A free ephemeral port for a connection to `remote` at `now`: one whose earlier
    /// connection to `remote` still sits in TIME-WAIT is taken too.
    pub(crate) fn ephemeral_port_to(&mut self, remote: SocketAddr, now: Instant) -> Option<u16> {
        self.pick_port(|h, p| h.time_wait.get(&(p, remote)).is_some_and(|t| *t > now))
    }

    fn pick_port(&mut self, also_taken: impl Fn(&HostState, u16) -> bool) -> Option<u16> {
        for _ in 0..=(EPHEMERAL_LAST - EPHEMERAL_FIRST) {
            let p = self.next_ephemeral;
            self.next_ephemeral = if p >= EPHEMERAL_LAST {
                EPHEMERAL_FIRST
            } else {
                p + 1
            };
            if !self.ports_in_use.contains(&p)
                && !self.listeners.contains_key(&p)
                && !self.datagrams.contains_key(&p)
                && !also_taken(self, p)
            {
                return Some(p);
            }
        }
        None
    }

    /// Stream fidelity: the local `port` of a connection to `remote` that this host closed
    /// first stays in TIME-WAIT until `until` (expired entries are dropped as new ones come).
    pub(crate) fn enter_time_wait(&mut self, port: u16, remote: SocketAddr, now: Instant) {
        if self.time_wait.len() >= TIME_WAIT_MAX {
            self.time_wait.retain(|_, t| *t > now);
        }
        if self.time_wait.len() < TIME_WAIT_MAX {
            self.time_wait.insert((port, remote), now + TIME_WAIT);
        }
    }
}

/// How long a connection's local port stays in TIME-WAIT (Linux: TCP_TIMEWAIT_LEN, 60 s).
pub(crate) const TIME_WAIT: Duration = Duration::from_secs(60);
/// TIME-WAIT entries a host keeps (Linux's tcp_max_tw_buckets default for small machines).
const TIME_WAIT_MAX: usize = 65_536;

/// Whether a link carries traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkState {
    Up,
    /// Packets are queued and delivered on release.
    Held,
    /// Packets are lost (streams retransmit once repaired).
    Partitioned,
}

pub(crate) struct Link {
    pub(crate) cfg: LinkConfig,
    pub(crate) rng: SeededRng,
    /// The bandwidth limiter.
    pub(crate) queue: LinkQueue,
    pub(crate) state: LinkState,
    /// Stream pipes (conn, direction) whose segments wait for this link.
    pub(crate) stalled: Vec<(Key, usize)>,
    /// Datagrams held on this link.
    pub(crate) held: Vec<Key>,
    /// Frames (packet fidelity) held on this link.
    pub(crate) held_frames: Vec<Key>,
}

/// Result of putting a packet on a link.
pub(crate) enum Transit {
    /// Arrives at this time.
    Arrive(Instant),
    /// Dropped for this reason.
    Dropped(DropReason),
    /// The link is held or partitioned: the caller parks the packet.
    Blocked(LinkState),
}

impl Link {
    /// An idle link that is up.
    pub(crate) fn new(cfg: LinkConfig, rng: SeededRng) -> Link {
        Link {
            cfg,
            rng,
            queue: LinkQueue::default(),
            state: LinkState::Up,
            stalled: Vec::new(),
            held: Vec::new(),
            held_frames: Vec::new(),
        }
    }

    /// Transmission + propagation of one packet of `bytes` sent at `now`: the link model's
    /// decision ([`LinkConfig::transit`]: loss, bandwidth queueing, latency, jitter and
    /// reordering, in that fixed order) unless the link is held or partitioned.
    pub(crate) fn transit(&mut self, now: Instant, bytes: usize) -> Transit {
        if self.state != LinkState::Up {
            return Transit::Blocked(self.state);
        }
        match self.cfg.transit(&mut self.queue, &mut self.rng, now, bytes) {
            Fate::Arrive { at, .. } => Transit::Arrive(at),
            Fate::Dropped(LinkDrop::QueueFull) => Transit::Dropped(DropReason::QueueFull),
            Fate::Dropped(LinkDrop::Mtu) => Transit::Dropped(DropReason::Mtu),
            Fate::Dropped(_) => Transit::Dropped(DropReason::Loss),
        }
    }

    /// Whether the link duplicates this packet (one draw when duplication is configured).
    pub(crate) fn duplicates(&mut self) -> bool {
        self.cfg.duplicates(&mut self.rng)
    }
}

pub(crate) struct TimerSlot {
    pub(crate) waker: Option<Waker>,
    /// The host whose monotonic clock the deadline is on.
    pub(crate) host: HostId,
    pub(crate) local_deadline: Instant,
    /// When the timer's current event fires (re-armed when the host's drift changes; an
    /// event for an earlier arming is ignored).
    pub(crate) global_deadline: Instant,
}

pub(crate) struct World {
    pub(crate) cfg: SimConfig,
    pub(crate) now: Instant,
    pub(crate) events: Events,
    pub(crate) hosts: Vec<HostState>,
    pub(crate) by_ip: BTreeMap<IpAddr, HostId>,
    links: crate::link_table::LinkTable,
    /// How a link not created yet reads: [loopback, between two hosts].
    link_protos: Vec<Link>,
    /// Host ids by name.
    by_name: BTreeMap<String, HostId>,
    link_overrides: BTreeMap<(HostId, HostId), LinkConfig>,
    pub(crate) timers: Slab<TimerSlot>,
    pub(crate) conns: Slab<Conn>,
    pub(crate) listeners: Slab<ListenerState>,
    pub(crate) dgram_socks: Slab<DatagramSock>,
    pub(crate) dgrams_in_flight: Slab<InFlightDatagram>,
    pub(crate) frames: Slab<InFlightFrame>,
    pub(crate) trace: Trace,
    /// Hosts whose tasks the executor must drop (crashed).
    pub(crate) pending_kills: Vec<HostId>,
    /// Hosts whose init the executor must run (start, restart).
    pub(crate) pending_starts: Vec<HostId>,
    /// Set when pending work is queued for the executor.
    pub(crate) executor_work: bool,
    pub(crate) started: bool,
    /// The run's buggify points.
    pub(crate) buggify: crate::buggify::Buggify,
}

impl World {
    pub(crate) fn new(cfg: SimConfig) -> World {
        let record = cfg.record_trace;
        let mut buggify = crate::buggify::Buggify::new(
            cfg.buggify,
            cfg.seed,
            cfg.buggify_enable,
            cfg.buggify_fire,
        );
        buggify.set_mask(cfg.buggify_mask);
        World {
            cfg,
            now: Instant::ZERO,
            events: Events::default(),
            hosts: Vec::new(),
            by_ip: BTreeMap::new(),
            links: Default::default(),
            link_protos: Vec::new(),
            by_name: BTreeMap::new(),
            link_overrides: BTreeMap::new(),
            timers: Slab::default(),
            conns: Slab::default(),
            listeners: Slab::default(),
            dgram_socks: Slab::default(),
            dgrams_in_flight: Slab::default(),
            frames: Slab::default(),
            trace: Trace::new(record),
            pending_kills: Vec::new(),
            pending_starts: Vec::new(),
            executor_work: false,
            started: false,
            buggify,
        }
    }

    pub(crate) fn schedule(&mut self, time: Instant, ev: Ev) {
        self.events.schedule(time.max(self.now), ev);
    }

    pub(crate) fn next_event_time(&self) -> Option<Instant> {
        self.events.next_time()
    }

    /// Whether the next event is a timer firing at `t`.
    pub(crate) fn next_is_timer_at(&self, t: Instant) -> bool {
        self.events.next_is_timer_at(t)
    }

    pub(crate) fn pop_event(&mut self) -> Option<Ev> {
        let (time, ev) = self.events.pop()?;
        debug_assert!(time >= self.now, "time went backwards");
        self.now = time;
        Some(ev)
    }

    #[inline]
    pub(crate) fn record(
        &mut self,
        kind: Kind,
        reason: DropReason,
        src: u32,
        dst: u32,
        a: u64,
        b: u64,
    ) {
        self.trace.record(Event {
            time: self.now,
            kind,
            reason,
            src,
            dst,
            a,
            b,
        });
    }

    pub(crate) fn add_host(&mut self, name: String, ip: IpAddr, has_init: bool) -> HostId {
        assert!(
            !self.started,
            "hosts must be added before the simulation runs"
        );
        assert!(
            !self.by_name.contains_key(&name),
            "duplicate host name {name:?}"
        );
        assert!(!self.by_ip.contains_key(&ip), "duplicate host address {ip}");
        let id = self.hosts.len() as HostId;
        self.by_name.insert(name.clone(), id);
        self.hosts.push(HostState::new(name, ip, has_init));
        self.by_ip.insert(ip, id);
        id
    }

    pub(crate) fn host_id(&self, name: &str) -> Option<HostId> {
        self.by_name.get(name).copied()
    }

    pub(crate) fn set_link_config(&mut self, from: HostId, to: HostId, cfg: LinkConfig) {
        if self.started {
            self.link_mut(from, to).cfg = cfg;
        } else {
            self.link_overrides.insert((from, to), cfg);
        }
    }

    /// Link `from` → `to` as it starts: its configured (or the default) properties, its own
    /// random stream.
    fn new_link(&self, from: HostId, to: HostId) -> Link {
        let cfg = match self.link_overrides.get(&(from, to)) {
            Some(c) => c.clone(),
            None if from == to => LinkConfig {
                latency: crate::Latency::Fixed(Duration::ZERO),
                ..self.cfg.default_link.clone()
            },
            None => self.cfg.default_link.clone(),
        };
        let (a, b) = (
            &self.hosts[from as usize].name,
            &self.hosts[to as usize].name,
        );
        let label = format!("link:{a}->{b}");
        Link::new(cfg, SeededRng::new(derive_seed(self.cfg.seed, &label)))
    }

    /// Starts the run: sizes the link table (links are created on first use), opens pcaps,
    /// boots stacks and queues the hosts' inits (called once).
    pub(crate) fn start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        let n = self.hosts.len();
        self.links.start(n);
        // Links with settings of their own exist from the start; every other link starts as
        // one of the two prototypes (host 0 to itself, host 0 to another).
        let own: Vec<(HostId, HostId)> = self.link_overrides.keys().copied().collect();
        for (from, to) in own {
            self.link_mut(from, to);
        }
        let loopback = LinkConfig {
            latency: crate::Latency::Fixed(Duration::ZERO),
            ..self.cfg.default_link.clone()
        };
        self.link_protos = [loopback, self.cfg.default_link.clone()]
            .into_iter()
            .map(|cfg| Link::new(cfg, SeededRng::new(0)))
            .collect();
        if let Some(dir) = self.cfg.pcap_dir.clone() {
            if let Err(e) = self.start_pcap(&dir) {
                eprintln!("testbed-sim: cannot write pcaps to {}: {e}", dir.display());
            }
        }
        for id in 0..n as HostId {
            self.boot_stack(id);
            if self.hosts[id as usize].has_init {
                self.pending_starts.push(id);
                self.executor_work = true;
            }
        }
    }

    /// Link `from` → `to`, created on first use.
    #[inline]
    pub(crate) fn link_mut(&mut self, from: HostId, to: HostId) -> &mut Link {
        let i = match self.links.find(from, to) {
            Some(i) => i,
            None => {
                let link = self.new_link(from, to);
                self.links.insert(from, to, link)
            }
        };
        self.links.get_mut(i)
    }

    /// Link `from` → `to` to read: a link not created yet reads as it will start (every link
    /// with its own settings is created when the run starts).
    pub(crate) fn link(&self, from: HostId, to: HostId) -> &Link {
        match self.links.find(from, to) {
            Some(i) => self.links.get(i),
            None => &self.link_protos[usize::from(from != to)],
        }
    }

    /// The links created so far (every other link is up, with its configured properties).
    pub(crate) fn created_links(&self) -> Vec<(HostId, HostId)> {
        self.links.created()
    }

    /// The host an address refers to, as seen from `from` (loopback is `from` itself).
    pub(crate) fn resolve(&self, from: HostId, ip: IpAddr) -> Option<HostId> {
        if ip.is_loopback() {
            return Some(from);
        }
        self.by_ip.get(&ip).copied()
    }

    /// `host`'s monotonic clock now.
    pub(crate) fn local_time(&self, host: HostId) -> Instant {
        self.hosts[host as usize].clock.mono(self.now)
    }

    /// The earliest global time (not before now) at which `host`'s monotonic clock reads at
    /// least `local`.
    pub(crate) fn to_global(&self, host: HostId, local: Instant) -> Instant {
        self.hosts[host as usize].clock.global_at(self.now, local)
    }

    /// Sets `host`'s clocks (see [`HostClock::set`]). A drift change re-arms the host's
    /// pending timers and its TCP stack's next poll at their new global times: they follow
    /// the monotonic clock.
    pub(crate) fn set_clock(&mut self, host: HostId, offset_ns: i64, drift_ppm: i64) {
        let now = self.now;
        let clock = &mut self.hosts[host as usize].clock;
        let old_drift = clock.drift_ppm();
        clock.set(now, offset_ns, drift_ppm);
        if old_drift == drift_ppm {
            return;
        }
        for key in self.timers.keys() {
            let Some(slot) = self.timers.get(key) else {
                continue;
            };
            if slot.host != host {
                continue;
            }
            let at = self.to_global(host, slot.local_deadline);
            if let Some(slot) = self.timers.get_mut(key) {
                slot.global_deadline = at;
            }
            self.schedule(at, Ev::Timer(key));
        }
        if self.stack(host).is_some() {
            self.stack_poll(host);
        }
    }

    /// Packet fidelity: gives `host` a fresh TCP/IP stack (at start and restart).
    pub(crate) fn boot_stack(&mut self, host: HostId) {
        if self.cfg.fidelity != crate::Fidelity::Packet {
            return;
        }
        let h = &self.hosts[host as usize];
        let IpAddr::V4(ip) = h.ip else {
            panic!(
                "packet fidelity needs IPv4 host addresses; {} has {}",
                h.name, h.ip
            );
        };
        let seed =
            derive_seed_indexed(self.cfg.seed, &format!("smoltcp:{}", h.name), h.incarnation);
        let params = StackParams {
            mtu: self.link(host, host).cfg.mtu.min(self.cfg.default_link.mtu),
            buffer_bytes: self.cfg.tcp_buffer_bytes,
            backlog: self.cfg.accept_backlog,
            half_open_timeout: self.cfg.half_open_timeout,
            user_timeout: self.cfg.tcp_user_timeout,
            rto_min: self.cfg.min_rto,
            rto_max: self.cfg.max_rto,
        };
        let local = self.local_time(host);
        self.cancel_stack_poll(host);
        self.hosts[host as usize].stack = Some(Box::new(PacketStack::new(ip, seed, params, local)));
    }

    /// A fresh rng stream for `host` (the n-th call on a host is the same stream per seed).
    pub(crate) fn host_rng(&mut self, host: HostId) -> SeededRng {
        let h = &mut self.hosts[host as usize];
        h.rng_draws += 1;
        SeededRng::new(derive_seed_indexed(
            self.cfg.seed,
            &format!("host:{}", h.name),
            h.rng_draws,
        ))
    }

    /// Runs one event. Returns a fault closure to run outside the lock, if it was one.
    pub(crate) fn dispatch(&mut self, ev: Ev) -> Option<FaultFn> {
        match ev {
            Ev::Timer(key) => {
                if self
                    .timers
                    .get(key)
                    .is_some_and(|s| s.global_deadline != self.now)
                {
                    return None; // re-armed for another time by a drift change
                }
                if let Some(slot) = self.timers.remove(key) {
                    self.record(
                        Kind::Timer,
                        DropReason::None,
                        NO_HOST,
                        NO_HOST,
                        key.as_u64(),
                        0,
                    );
                    if let Some(w) = slot.waker {
                        w.wake();
                    }
                }
            }
            Ev::Segment { conn, dir, epoch } => self.on_segment(conn, dir, epoch),
            Ev::Syn { conn, attempt } => self.on_syn(conn, attempt),
            Ev::SynAck { conn } => self.on_syn_ack(conn),
            Ev::SynTimeout { conn, attempt } => self.on_syn_timeout(conn, attempt),
            Ev::SynAckRetry { conn, attempt } => self.try_complete(conn, attempt),
            Ev::Rst { conn, to_end } => self.on_rst(conn, to_end),
            Ev::Retransmit { conn, dir, gen } => self.on_retransmit(conn, dir, gen),
            Ev::GiveUp { conn, dir, gen } => self.on_give_up(conn, dir, gen),
            Ev::Keepalive { conn, end, gen } => self.on_keepalive(conn, end, gen),
            Ev::NagleFlush { conn, dir } => self.on_nagle_flush(conn, dir),
            Ev::Datagram(key) => self.on_datagram(key),
            Ev::Frame(key) => self.on_frame(key),
            Ev::StackPoll { host } => self.on_stack_poll(host),
            Ev::Superseded => {}
            Ev::Fault(f) => return Some(f),
        }
        None
    }
}
