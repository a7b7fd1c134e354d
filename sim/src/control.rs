//! Fault verbs: `partition` (both ways or one way), `repair`, `hold`/`release`, `crash`,
//! `restart`, `clock_skew`, `set_link`. Callable from scenario code at any sim time (from a
//! task, or scheduled with `Sim::at`); each is recorded in the trace.

use crate::config::LinkConfig;
use crate::host::{lock, Shared};
use crate::trace::{DropReason, Kind};
use crate::world::{HostId, LinkState, World, NO_HOST};
use std::sync::Arc;
use testbed_model::Instant;

/// The `tracing` target of fault events (one INFO event per verb, after it took effect,
/// naming the hosts concerned; `set_link` at DEBUG).
pub const FAULT: &str = "testbed_sim::fault";

/// Codes of fault verbs in trace events (`a` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Verb {
    /// Link state set to partitioned.
    Partition = 1,
    /// Link state set to up.
    Repair = 2,
    /// Link state set to held.
    Hold = 3,
    /// Host crashed.
    Crash = 4,
    /// Host restarted.
    Restart = 5,
    /// Host clock skew changed.
    ClockSkew = 6,
    /// Link configuration changed.
    SetLink = 7,
}

/// Injects faults into a running simulation. `Clone + Send + Sync`.
#[derive(Clone)]
pub struct Control {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Control")
    }
}

fn id(w: &World, name: &str) -> HostId {
    w.host_id(name).unwrap_or_else(|| {
        let names: Vec<&str> = w.hosts.iter().map(|h| h.name.as_str()).collect();
        panic!("no host named {name:?}; hosts are {names:?}")
    })
}

impl World {
    pub(crate) fn set_link_state(&mut self, from: HostId, to: HostId, state: LinkState) {
        let verb = match state {
            LinkState::Up => Verb::Repair,
            LinkState::Held => Verb::Hold,
            LinkState::Partitioned => Verb::Partition,
        };
        self.record(Kind::Fault, DropReason::None, from, to, verb as u64, 0);
        let link = self.link_mut(from, to);
        let old = link.state;
        link.state = state;
        if state == LinkState::Up && old != LinkState::Up {
            let stalled = std::mem::take(&mut link.stalled);
            let held = std::mem::take(&mut link.held);
            let frames = std::mem::take(&mut link.held_frames);
            for (conn, dir) in stalled {
                self.unstall_pipe(conn, dir);
            }
            for d in held {
                self.release_datagram(d);
            }
            for f in frames {
                self.release_frame(f);
            }
        } else if state == LinkState::Partitioned && old == LinkState::Held {
            let held = std::mem::take(&mut link.held);
            let frames = std::mem::take(&mut link.held_frames);
            for d in held {
                if self.dgrams_in_flight.remove(d).is_some() {
                    self.record(Kind::Drop, DropReason::Partition, from, to, 0, 0);
                }
            }
            for f in frames {
                if self.frames.remove(f).is_some() {
                    self.record(Kind::Drop, DropReason::Partition, from, to, 0, 0);
                }
            }
        }
    }

    pub(crate) fn crash_host(&mut self, h: HostId) {
        self.record(
            Kind::Fault,
            DropReason::None,
            h,
            NO_HOST,
            Verb::Crash as u64,
            0,
        );
        let host = &mut self.hosts[h as usize];
        if !host.up {
            return;
        }
        self.drop_host_sends(h);
        self.cancel_stack_poll(h);
        let host = &mut self.hosts[h as usize];
        host.up = false;
        host.incarnation += 1;
        host.listeners.clear();
        host.datagrams.clear();
        host.ports_in_use.clear();
        host.time_wait.clear();
        host.stack = None; // every socket gone: peers learn it from RSTs after the restart
        self.pending_kills.push(h);
        self.executor_work = true;
    }

    pub(crate) fn restart_host(&mut self, h: HostId) {
        if self.hosts[h as usize].up {
            self.crash_host(h);
        }
        self.record(
            Kind::Fault,
            DropReason::None,
            h,
            NO_HOST,
            Verb::Restart as u64,
            0,
        );
        self.hosts[h as usize].up = true;
        self.boot_stack(h);
        if self.hosts[h as usize].has_init {
            self.pending_starts.push(h);
            self.executor_work = true;
        }
    }
}

impl Control {
    fn with<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut lock(&self.shared))
    }

    /// Global simulated time.
    pub fn now(&self) -> Instant {
        self.with(|w| w.now)
    }

    /// Cuts both directions between `a` and `b`: datagrams are lost, stream segments wait
    /// (TCP retransmits) until [`Control::repair`].
    pub fn partition(&self, a: &str, b: &str) {
        self.with(|w| {
            let (a, b) = (id(w, a), id(w, b));
            w.set_link_state(a, b, LinkState::Partitioned);
            w.set_link_state(b, a, LinkState::Partitioned);
        });
        tracing::info!(target: FAULT, a, b, "partition");
    }

    /// Cuts only the direction `from` → `to`.
    pub fn partition_oneway(&self, from: &str, to: &str) {
        self.with(|w| {
            let (a, b) = (id(w, from), id(w, to));
            w.set_link_state(a, b, LinkState::Partitioned);
        });
        tracing::info!(target: FAULT, from, to, "partition one way");
    }

    /// Cuts `host` off from every other host, both ways.
    pub fn isolate(&self, host: &str) {
        self.with(|w| {
            let h = id(w, host);
            for o in 0..w.hosts.len() as HostId {
                if o != h {
                    w.set_link_state(h, o, LinkState::Partitioned);
                    w.set_link_state(o, h, LinkState::Partitioned);
                }
            }
        });
        tracing::info!(target: FAULT, host, "isolate");
    }

    /// Restores both directions between `a` and `b` (ends a partition or a hold).
    pub fn repair(&self, a: &str, b: &str) {
        self.set_up(a, b);
        tracing::info!(target: FAULT, a, b, "repair");
    }

    fn set_up(&self, a: &str, b: &str) {
        self.with(|w| {
            let (a, b) = (id(w, a), id(w, b));
            w.set_link_state(a, b, LinkState::Up);
            w.set_link_state(b, a, LinkState::Up);
        })
    }

    /// Restores every link.
    pub fn repair_all(&self) {
        self.with(|w| {
            // In host order, as when every link existed from the start.
            let mut links = w.created_links();
            links.sort_unstable();
            for (a, b) in links {
                if w.link(a, b).state != LinkState::Up {
                    w.set_link_state(a, b, LinkState::Up);
                }
            }
        });
        tracing::info!(target: FAULT, "repair all");
    }

    /// Queues traffic between `a` and `b` (both ways) until [`Control::release`]: datagrams and
    /// stream segments wait and are delivered on release, in order. Connection attempts
    /// (SYN, SYN-ACK, RST) are lost instead, and the client's SYN timer retries them.
    pub fn hold(&self, a: &str, b: &str) {
        self.with(|w| {
            let (a, b) = (id(w, a), id(w, b));
            w.set_link_state(a, b, LinkState::Held);
            w.set_link_state(b, a, LinkState::Held);
        });
        tracing::info!(target: FAULT, a, b, "hold");
    }

    /// Delivers what [`Control::hold`] queued, and lets traffic flow again.
    pub fn release(&self, a: &str, b: &str) {
        self.set_up(a, b);
        tracing::info!(target: FAULT, a, b, "release");
    }

    /// Crashes `host`: its tasks are dropped and its sockets vanish. Peers see a reset when
    /// they next send to it after it restarts, or silence (timeouts) while it is down.
    pub fn crash(&self, host: &str) {
        self.with(|w| {
            let h = id(w, host);
            w.crash_host(h)
        });
        tracing::info!(target: FAULT, host, "crash");
    }

    /// Restarts `host` (crashing it first if it is up): its init runs again with fresh state.
    pub fn restart(&self, host: &str) {
        self.with(|w| {
            let h = id(w, host);
            w.restart_host(h)
        });
        tracing::info!(target: FAULT, host, "restart");
    }

    /// Whether `host` is up.
    pub fn is_up(&self, host: &str) -> bool {
        self.with(|w| {
            let h = id(w, host);
            w.hosts[h as usize].up
        })
    }

    /// Sets `host`'s clocks from now on: its wall clock reads `offset_ns` past its monotonic
    /// clock (a step for wall-clock readers only), and its monotonic clock runs `drift_ppm`
    /// parts per million fast (negative: slow), continuing from its current reading. Pending
    /// sleeps follow the monotonic clock: a drift change re-arms them, an offset never moves
    /// them.
    ///
    /// # Panics
    /// If `drift_ppm` is past ±[`MAX_DRIFT_PPM`](crate::MAX_DRIFT_PPM) or `offset_ns` past
    /// ±[`MAX_OFFSET_NS`](crate::MAX_OFFSET_NS).
    pub fn clock_skew(&self, host: &str, offset_ns: i64, drift_ppm: i64) {
        self.with(|w| {
            let h = id(w, host);
            w.record(
                Kind::Fault,
                DropReason::None,
                h,
                NO_HOST,
                Verb::ClockSkew as u64,
                offset_ns as u64,
            );
            w.set_clock(h, offset_ns, drift_ppm);
        });
        tracing::info!(target: FAULT, host, offset_ns, drift_ppm, "clock skew");
    }

    /// Replaces the configuration of the directed link `from` → `to`.
    pub fn set_link(&self, from: &str, to: &str, cfg: LinkConfig) {
        self.with(|w| {
            let (a, b) = (id(w, from), id(w, to));
            w.record(Kind::Fault, DropReason::None, a, b, Verb::SetLink as u64, 0);
            w.set_link_config(a, b, cfg);
        });
        tracing::debug!(target: FAULT, from, to, "set link");
    }
}
