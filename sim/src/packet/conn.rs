//! What packet fidelity knows about an application's connection beyond smoltcp: its flow,
//! its socket options, and how it ended, so reads, writes and connects fail as they do on
//! Linux. smoltcp forgets a connection's endpoints when it is reset and has no error state:
//! a reset socket and a timed-out one both just read as CLOSED.
//!
//! - How it ended, decided right after the stack poll in which the socket went CLOSED: an
//!   RST from the peer is `ConnectionReset` (or, after the peer's FIN, `BrokenPipe` on the
//!   next write and EOF on reads, as Linux's tcp_reset in CLOSE-WAIT); an RST smoltcp sent
//!   itself on a socket the application still holds is its timeout giving up: `TimedOut`.
//!   Linux reports the error once; later calls read EOF and write `BrokenPipe`.
//! - Timeouts: smoltcp has one per-socket timeout, "the peer silent this long", checked even
//!   on an idle connection (it would kill every idle connection after the user timeout).
//!   Here it is armed only while data or a FIN is unacknowledged (the user timeout, or the
//!   host's `SimConfig::tcp_user_timeout`) and, on an idle connection, only with keepalive
//!   (idle + interval × probes, as Linux gives up).

use super::stack::Flow;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use std::collections::BTreeMap;
use testbed_model::Duration;

/// How a connection ended abnormally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The peer reset it; `after_fin`: the peer had closed its side first.
    Reset { after_fin: bool },
    /// The user timeout (or keepalive) gave up.
    TimedOut,
}

/// Keepalive settings: idle time before the first probe, time between probes, probes.
pub(crate) type Keepalive = (Duration, Duration, u32);

/// One connection the application holds (connecting, connected or closed but not dropped).
#[derive(Clone, Debug)]
pub(crate) struct Conn {
    pub(crate) flow: Flow,
    /// Nagle's algorithm on (TCP_NODELAY off).
    pub(crate) nagle: bool,
    pub(crate) user_timeout: Option<Duration>,
    pub(crate) keepalive: Option<Keepalive>,
    /// SO_LINGER 0: dropping the socket resets the connection.
    pub(crate) linger_zero: bool,
    /// The application shut down its sending side.
    pub(crate) shut: bool,
    /// The peer's FIN arrived.
    pub(crate) fin_in: bool,
    pub(crate) end: Option<End>,
    /// The error of `end` was returned to the application once.
    pub(crate) reported: bool,
}

impl Conn {
    pub(crate) fn new(flow: Flow) -> Conn {
        Conn {
            flow,
            nagle: false,
            user_timeout: None,
            keepalive: None,
            linger_zero: false,
            shut: false,
            fin_in: false,
            end: None,
            reported: false,
        }
    }
}

/// Control segments the stack is handed before a poll, at most (more are not classified).
const CTL_IN_MAX: usize = 1 << 16;

/// The application's connections on one host.
pub(crate) struct Conns {
    by_handle: BTreeMap<SocketHandle, Conn>,
    by_flow: BTreeMap<Flow, SocketHandle>,
    /// Connections whose smoltcp timeout is armed because something is unacknowledged
    /// (sorted; a vector because it is scanned after every stack poll and holds few).
    armed: Vec<SocketHandle>,
    /// RST and FIN segments handed to the stack since its last poll: (flow, TCP flags).
    ctl_in: Vec<(Flow, u8)>,
    /// Sockets with Nagle on written since the last poll.
    pub(crate) written: Vec<SocketHandle>,
    /// The host's user timeout (SimConfig::tcp_user_timeout) for sockets without their own.
    pub(crate) default_user_timeout: Duration,
}

pub(crate) fn smol(d: Duration) -> smoltcp::time::Duration {
    smoltcp::time::Duration::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

impl Conns {
    pub(crate) fn new(default_user_timeout: Duration) -> Conns {
        Conns {
            by_handle: BTreeMap::new(),
            by_flow: BTreeMap::new(),
            armed: Vec::new(),
            ctl_in: Vec::new(),
            written: Vec::new(),
            default_user_timeout,
        }
    }

    pub(crate) fn insert(&mut self, h: SocketHandle, conn: Conn) {
        self.by_flow.insert(conn.flow, h);
        self.by_handle.insert(h, conn);
    }

    /// The application let go of `h`.
    pub(crate) fn remove(&mut self, h: SocketHandle) -> Option<Conn> {
        let c = self.by_handle.remove(&h)?;
        if self.by_flow.get(&c.flow) == Some(&h) {
            self.by_flow.remove(&c.flow);
        }
        if let Ok(i) = self.armed.binary_search(&h) {
            self.armed.remove(i);
        }
        Some(c)
    }

    pub(crate) fn get(&self, h: SocketHandle) -> Option<&Conn> {
        self.by_handle.get(&h)
    }

    pub(crate) fn get_mut(&mut self, h: SocketHandle) -> Option<&mut Conn> {
        self.by_handle.get_mut(&h)
    }

    /// Notes an RST or FIN segment handed to the stack.
    pub(crate) fn control_in(&mut self, flow: Flow, flags: u8) {
        if self.ctl_in.len() < CTL_IN_MAX {
            self.ctl_in.push((flow, flags));
        }
    }

    /// The timeout while something is unacknowledged.
    fn busy_timeout(&self, c: &Conn) -> Duration {
        c.user_timeout.unwrap_or(self.default_user_timeout)
    }

    /// The timeout of an idle connection: none without keepalive; with it, the probes'
    /// budget (Linux: with a user timeout set, that instead, but not before the first probe).
    fn idle_timeout(c: &Conn) -> Option<Duration> {
        let (idle, interval, probes) = c.keepalive?;
        Some(match c.user_timeout {
            Some(u) => u.max(idle),
            None => idle.saturating_add(interval.saturating_mul(probes)),
        })
    }

    /// Something was queued for sending on `h` (data or a FIN): the user timeout runs.
    pub(crate) fn arm(&mut self, h: SocketHandle, s: &mut tcp::Socket<'_>) {
        let Some(c) = self.by_handle.get(&h) else {
            return;
        };
        let t = self.busy_timeout(c);
        s.set_timeout(Some(smol(t)));
        if let Err(i) = self.armed.binary_search(&h) {
            self.armed.insert(i, h);
        }
    }

    /// Applies `h`'s options to its socket (after a setter changed them).
    pub(crate) fn apply(&mut self, h: SocketHandle, s: &mut tcp::Socket<'_>) {
        let Some(c) = self.by_handle.get(&h) else {
            return;
        };
        s.set_nagle_enabled(c.nagle);
        s.set_keep_alive(c.keepalive.map(|k| smol(k.0)));
        if self.armed.binary_search(&h).is_ok() {
            s.set_timeout(Some(smol(self.busy_timeout(c))));
        } else if matches!(s.state(), tcp::State::SynSent) {
            // The connect keeps its SYN budget.
        } else {
            s.set_timeout(Self::idle_timeout(c).map(smol));
        }
    }

    /// After a stack poll: decides how sockets that went CLOSED ended (`rst_out`: flows this
    /// host just sent an RST on) and disarms the timeout of sockets with nothing left
    /// unacknowledged.
    pub(crate) fn after_poll(&mut self, sockets: &mut SocketSet<'_>, rst_out: &[Flow]) {
        for (flow, flags) in std::mem::take(&mut self.ctl_in) {
            let Some(&h) = self.by_flow.get(&flow) else {
                continue;
            };
            let state = sockets.get::<tcp::Socket>(h).state();
            let c = self.by_handle.get_mut(&h).expect("indexed");
            if flags & testbed_model::wire::tcp_flags::FIN != 0
                && matches!(
                    state,
                    tcp::State::CloseWait
                        | tcp::State::LastAck
                        | tcp::State::Closing
                        | tcp::State::TimeWait
                )
            {
                c.fin_in = true;
            }
            if flags & testbed_model::wire::tcp_flags::RST != 0
                && state == tcp::State::Closed
                && c.end.is_none()
            {
                c.end = Some(End::Reset {
                    after_fin: c.fin_in,
                });
            }
        }
        for flow in rst_out {
            let Some(&h) = self.by_flow.get(flow) else {
                continue;
            };
            let state = sockets.get::<tcp::Socket>(h).state();
            let c = self.by_handle.get_mut(&h).expect("indexed");
            // A socket both sides closed normally may draw an RST for a stray segment; any
            // other CLOSED socket that sent one gave up on its own.
            if state == tcp::State::Closed && c.end.is_none() && !(c.shut && c.fin_in) {
                c.end = Some(End::TimedOut);
            }
        }
        self.written.clear();
        if self.armed.is_empty() {
            return;
        }
        let by_handle = &self.by_handle;
        self.armed.retain(|&h| {
            let s = sockets.get_mut::<tcp::Socket>(h);
            let busy = s.send_queue() > 0
                || matches!(
                    s.state(),
                    tcp::State::SynSent
                        | tcp::State::SynReceived
                        | tcp::State::FinWait1
                        | tcp::State::Closing
                        | tcp::State::LastAck
                );
            if busy {
                return true;
            }
            if s.state() != tcp::State::Closed {
                let c = by_handle.get(&h).expect("armed sockets are held");
                s.set_timeout(Self::idle_timeout(c).map(smol));
            }
            false
        });
    }
}
