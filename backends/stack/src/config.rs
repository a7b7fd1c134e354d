//! The stack's configuration: addresses, seed, socket buffer sizes, listener backlog,
//! ephemeral ports and timeouts, with a builder that validates them.

use crate::error::BuildError;
use crate::stack::Stack;
use smoltcp::wire::Ipv4Cidr;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use testbed_model::packet::PacketPort;
use testbed_model::Duration;

/// Largest frame the stack sends or accepts: 1500 bytes of IP plus the Ethernet header.
pub(crate) const FRAME_MAX: usize = 1514;
/// Frames per `rx_burst` / smoltcp burst.
pub(crate) const BURST: usize = 32;
/// Largest socket buffer (either direction) the builder accepts.
const BUFFER_MAX: usize = 16 << 20;
/// Most sockets one listener keeps armed.
const BACKLOG_MAX: usize = 1024;
/// Most static neighbour entries.
pub(crate) const NEIGHBORS_MAX: usize = 1024;
/// Largest RTO bound the builder accepts, milliseconds (one hour).
const RTO_MAX_MS: usize = 3_600_000;

/// Everything a [`Stack`] is built from. Build it with [`Stack::builder`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackConfig {
    /// Interface address and prefix.
    pub ip: Ipv4Cidr,
    /// Interface MAC address.
    pub mac: [u8; 6],
    /// Default gateway (off-subnet destinations go there); `None` reaches the subnet only.
    pub gateway: Option<Ipv4Addr>,
    /// Seed of smoltcp's initial sequence numbers, ephemeral port choice and `rng()`.
    pub seed: u64,
    /// Receive buffer of each TCP socket, bytes.
    pub tcp_rx_buffer_bytes: usize,
    /// Send buffer of each TCP socket, bytes.
    pub tcp_tx_buffer_bytes: usize,
    /// Payload buffer of each UDP socket per direction, bytes.
    pub udp_buffer_bytes: usize,
    /// Datagrams each UDP socket queues per direction.
    pub udp_datagrams_max: usize,
    /// LISTEN sockets per listener: connections it can have half-open or unaccepted.
    pub backlog: usize,
    /// Ports `connect` and port-0 binds choose from (inclusive).
    pub ephemeral_ports: (u16, u16),
    /// A connect fails with `TimedOut` if the handshake does not finish within this.
    pub connect_timeout: Duration,
    /// An established connection is aborted when its peer acknowledges nothing for this
    /// long while data is outstanding; `None` waits forever.
    pub user_timeout: Option<Duration>,
    /// Neighbours whose MAC is fixed (peers that never answer ARP).
    pub neighbors: BTreeMap<Ipv4Addr, [u8; 6]>,
    /// Longest the run loop sleeps when idle (it wakes sooner for timers and smoltcp).
    pub idle_max: Duration,
    /// Floor of each TCP socket's retransmission timeout and of its variance term: RTO =
    /// srtt + max(4·rttvar, `rto_min`) (default Linux's TCP_RTO_MIN, 200 ms; smoltcp's own
    /// floor, 1 s on the whole RTO, recovers five times slower from a lost segment).
    pub rto_min: Duration,
    /// Cap of the RTO's exponential backoff (default Linux's TCP_RTO_MAX, 120 s).
    pub rto_max: Duration,
}

impl StackConfig {
    fn defaults() -> StackConfig {
        StackConfig {
            ip: Ipv4Cidr::new(Ipv4Addr::UNSPECIFIED, 0),
            mac: [0x02, 0, 0, 0, 0, 1],
            gateway: None,
            seed: 0,
            tcp_rx_buffer_bytes: 64 << 10,
            tcp_tx_buffer_bytes: 64 << 10,
            udp_buffer_bytes: 64 << 10,
            udp_datagrams_max: 64,
            backlog: 16,
            ephemeral_ports: (49152, 65535),
            connect_timeout: Duration::from_secs(10),
            user_timeout: Some(Duration::from_secs(60)),
            neighbors: BTreeMap::new(),
            idle_max: Duration::from_millis(1),
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(120),
        }
    }

    /// Checks every field; the first problem found is returned.
    pub fn validate(&self) -> Result<(), BuildError> {
        let ip = self.ip.address();
        if ip.is_unspecified() && self.ip.prefix_len() == 0 {
            return Err(BuildError::NoAddress);
        }
        if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() {
            return Err(BuildError::BadAddress(ip));
        }
        if self.mac[0] & 1 != 0 || self.mac == [0; 6] {
            return Err(BuildError::BadMac);
        }
        if let Some(gw) = self.gateway {
            if !self.ip.contains_addr(&gw) {
                return Err(BuildError::GatewayOffLink(gw));
            }
        }
        let (lo, hi) = self.ephemeral_ports;
        if lo == 0 || lo > hi {
            return Err(BuildError::EphemeralRange { lo, hi });
        }
        range(
            "tcp_rx_buffer_bytes",
            self.tcp_rx_buffer_bytes,
            1024,
            BUFFER_MAX,
        )?;
        range(
            "tcp_tx_buffer_bytes",
            self.tcp_tx_buffer_bytes,
            1024,
            BUFFER_MAX,
        )?;
        range("udp_buffer_bytes", self.udp_buffer_bytes, 2048, BUFFER_MAX)?;
        range("udp_datagrams_max", self.udp_datagrams_max, 1, 1 << 16)?;
        range("backlog", self.backlog, 1, BACKLOG_MAX)?;
        range("neighbors", self.neighbors.len(), 0, NEIGHBORS_MAX)?;
        let ms = |d: Duration| usize::try_from(d.as_millis()).unwrap_or(usize::MAX);
        range("rto_max_ms", ms(self.rto_max), 1, RTO_MAX_MS)?;
        range("rto_min_ms", ms(self.rto_min), 1, ms(self.rto_max))?;
        Ok(())
    }
}

fn range(field: &'static str, value: usize, min: usize, max: usize) -> Result<(), BuildError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(BuildError::OutOfRange {
            field,
            value,
            min,
            max,
        })
    }
}

/// Builds a [`Stack`]: `StackBuilder::new().ip(cidr).mac(mac).seed(7).build(port)`.
#[derive(Clone, Debug)]
pub struct StackBuilder {
    cfg: StackConfig,
}

impl Default for StackBuilder {
    fn default() -> Self {
        StackBuilder {
            cfg: StackConfig::defaults(),
        }
    }
}

impl StackBuilder {
    /// A builder with the defaults (64 KiB buffers, backlog 16, ports 49152..=65535,
    /// connect timeout 10 s, user timeout 60 s, idle sleep at most 1 ms, RTO 200 ms to
    /// 120 s).
    pub fn new() -> Self {
        Self::default()
    }
    /// Interface address and prefix (required).
    pub fn ip(mut self, ip: Ipv4Cidr) -> Self {
        self.cfg.ip = ip;
        self
    }
    /// Interface MAC address (default 02:00:00:00:00:01).
    pub fn mac(mut self, mac: [u8; 6]) -> Self {
        self.cfg.mac = mac;
        self
    }
    /// Default gateway.
    pub fn gateway(mut self, gw: Ipv4Addr) -> Self {
        self.cfg.gateway = Some(gw);
        self
    }
    /// Seed of every random choice (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.cfg.seed = seed;
        self
    }
    /// TCP receive and send buffer of each socket (default 64 KiB each).
    pub fn tcp_buffers(mut self, rx_bytes: usize, tx_bytes: usize) -> Self {
        self.cfg.tcp_rx_buffer_bytes = rx_bytes;
        self.cfg.tcp_tx_buffer_bytes = tx_bytes;
        self
    }
    /// UDP payload buffer per direction and datagrams queued per direction (default
    /// 64 KiB, 64).
    pub fn udp_buffers(mut self, bytes: usize, datagrams: usize) -> Self {
        self.cfg.udp_buffer_bytes = bytes;
        self.cfg.udp_datagrams_max = datagrams;
        self
    }
    /// LISTEN sockets per listener (default 16).
    pub fn backlog(mut self, n: usize) -> Self {
        self.cfg.backlog = n;
        self
    }
    /// Ephemeral port range, inclusive (default 49152..=65535).
    pub fn ephemeral_ports(mut self, lo: u16, hi: u16) -> Self {
        self.cfg.ephemeral_ports = (lo, hi);
        self
    }
    /// Handshake deadline of `connect` (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.cfg.connect_timeout = d;
        self
    }
    /// Abort connections whose peer stops acknowledging for this long (default 60 s).
    pub fn user_timeout(mut self, d: Option<Duration>) -> Self {
        self.cfg.user_timeout = d;
        self
    }
    /// A static neighbour entry: frames to `ip` go to `mac` without asking ARP.
    pub fn neighbor(mut self, ip: Ipv4Addr, mac: [u8; 6]) -> Self {
        self.cfg.neighbors.insert(ip, mac);
        self
    }
    /// Longest idle sleep of the run loop (default 1 ms).
    pub fn idle_max(mut self, d: Duration) -> Self {
        self.cfg.idle_max = d;
        self
    }
    /// Bounds of each TCP socket's retransmission timeout (default Linux's 200 ms and
    /// 120 s; `min` also floors the variance term, as Linux's TCP_RTO_MIN does). Both are
    /// whole milliseconds, `1 ms <= min <= max <= 1 h`.
    pub fn rto_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.cfg.rto_min = min;
        self.cfg.rto_max = max;
        self
    }
    /// The configuration so far.
    pub fn config(&self) -> &StackConfig {
        &self.cfg
    }
    /// Validates the configuration and builds the stack over `port`.
    pub fn build<P: PacketPort>(self, port: P) -> Result<Stack<P>, BuildError> {
        self.cfg.validate()?;
        if port.mtu() < 576 {
            return Err(BuildError::MtuTooSmall(port.mtu()));
        }
        Ok(Stack::new(self.cfg, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> StackBuilder {
        StackBuilder::default().ip(Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 1), 24))
    }

    #[test]
    fn validation_names_the_problem() {
        assert_eq!(
            StackBuilder::default().config().validate(),
            Err(BuildError::NoAddress)
        );
        assert_eq!(base().config().validate(), Ok(()));
        assert_eq!(
            base().mac([1, 0, 0, 0, 0, 1]).config().validate(),
            Err(BuildError::BadMac)
        );
        assert_eq!(
            base()
                .gateway(Ipv4Addr::new(10, 0, 1, 1))
                .config()
                .validate(),
            Err(BuildError::GatewayOffLink(Ipv4Addr::new(10, 0, 1, 1)))
        );
        assert_eq!(
            base().ephemeral_ports(0, 10).config().validate(),
            Err(BuildError::EphemeralRange { lo: 0, hi: 10 })
        );
        assert_eq!(
            base().backlog(0).config().validate(),
            Err(BuildError::OutOfRange {
                field: "backlog",
                value: 0,
                min: 1,
                max: BACKLOG_MAX
            })
        );
        let ms = Duration::from_millis;
        assert_eq!(
            base().rto_bounds(ms(300), ms(200)).config().validate(),
            Err(BuildError::OutOfRange {
                field: "rto_min_ms",
                value: 300,
                min: 1,
                max: 200
            })
        );
        assert_eq!(
            base().rto_bounds(ms(0), ms(200)).config().validate(),
            Err(BuildError::OutOfRange {
                field: "rto_min_ms",
                value: 0,
                min: 1,
                max: 200
            })
        );
        assert_eq!(
            base()
                .rto_bounds(ms(200), Duration::from_secs(7200))
                .config()
                .validate(),
            Err(BuildError::OutOfRange {
                field: "rto_max_ms",
                value: 7_200_000,
                min: 1,
                max: RTO_MAX_MS
            })
        );
        assert_eq!(base().rto_bounds(ms(1), ms(1)).config().validate(), Ok(()));
    }
}
