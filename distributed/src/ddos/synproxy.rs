//! A SYN proxy as a pair of packet filters (iptables SYNPROXY's behaviour): SYNs to the
//! protected ports are answered statelessly with cookie SYN-ACKs, so a SYN flood allocates
//! nothing in the filter or the listener. Only when a client's ACK carries a valid cookie does
//! the proxy open the real connection — it turns that ACK into a SYN to the server, answers
//! the server's SYN-ACK itself (egress) and from then on translates sequence numbers between
//! the cookie the client knows and the ISN the server chose.
//!
//! Attach [`SynProxy::ingress`] at the server host's ingress and [`SynProxy::egress`] at its
//! egress; they share the proxy's state. Frames keep their length: options are rewritten in
//! place (MSS plus NOPs) and payloads are cut by lowering the IP length.
//!
//! Limits of this model: the cookie SYN-ACK offers neither window scaling, SACK nor
//! timestamps (so the connection runs without them), a SYN to the server carries an MSS
//! only if the client's ACK had option space (otherwise the server assumes 536), and data
//! that arrives before the server's handshake completes is dropped (the client resends it).

use super::syncookie::{SynCookies, SynTuple};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};
use testbed_model::packet::{PacketFilter, Verdict};
use testbed_model::wire::{self, tcp_flags, Ipv4View, TcpView, ETH_LEN};
use testbed_model::{Duration, Instant};

/// SYN proxy settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynProxyConfig {
    /// Server ports the proxy protects (other traffic passes untouched).
    pub ports: Vec<u16>,
    /// Most proxied connections tracked at once; ACKs with valid cookies beyond it are
    /// dropped (the client retries).
    pub max_conns: usize,
    /// A tracked connection idle this long is forgotten.
    pub idle_timeout: Duration,
    /// The MSS the cookie SYN-ACK announces.
    pub mss: u16,
    /// The window the cookie SYN-ACK announces.
    pub window: u16,
}

impl Default for SynProxyConfig {
    fn default() -> Self {
        SynProxyConfig {
            ports: vec![80],
            max_conns: 65_536,
            idle_timeout: Duration::from_secs(300),
            mss: 1460,
            window: 65_535,
        }
    }
}

/// Counters of a [`SynProxy`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SynProxyStats {
    /// SYNs answered with a cookie.
    pub cookies_sent: u64,
    /// ACKs whose cookie verified (connections opened to the server).
    pub cookies_valid: u64,
    /// ACKs with no tracked connection and no valid cookie (dropped).
    pub cookies_invalid: u64,
    /// Server handshakes the proxy completed.
    pub server_handshakes: u64,
    /// Frames dropped for other reasons (table full, data before the server handshake).
    pub dropped: u64,
    /// Connections tracked now.
    pub tracked: u64,
}

/// (client address, client port, server port).
type Key = (Ipv4Addr, u16, u16);

struct Conn {
    cookie: u32,
    client_isn: u32,
    client_window: u16,
    /// Server ISN minus cookie, once the server answered.
    delta: Option<u32>,
    last_seen: Instant,
}

struct State {
    cookies: SynCookies,
    cfg: SynProxyConfig,
    conns: BTreeMap<Key, Conn>,
    stats: SynProxyStats,
    last_sweep: Instant,
}

/// The proxy; hands out its two filter halves.
#[derive(Clone)]
pub struct SynProxy {
    state: Arc<Mutex<State>>,
}

/// The ingress half (frames arriving at the server host).
pub struct SynProxyIngress(Arc<Mutex<State>>);
/// The egress half (frames the server host sends).
pub struct SynProxyEgress(Arc<Mutex<State>>);

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SynProxy {
    /// A proxy making cookies with `cookies`.
    pub fn new(cookies: SynCookies, cfg: SynProxyConfig) -> SynProxy {
        SynProxy {
            state: Arc::new(Mutex::new(State {
                cookies,
                cfg,
                conns: BTreeMap::new(),
                stats: SynProxyStats::default(),
                last_sweep: Instant::ZERO,
            })),
        }
    }
    /// The filter for the server host's ingress.
    pub fn ingress(&self) -> SynProxyIngress {
        SynProxyIngress(self.state.clone())
    }
    /// The filter for the server host's egress.
    pub fn egress(&self) -> SynProxyEgress {
        SynProxyEgress(self.state.clone())
    }
    /// Counters so far.
    pub fn stats(&self) -> SynProxyStats {
        let s = lock(&self.state);
        SynProxyStats {
            tracked: s.conns.len() as u64,
            ..s.stats
        }
    }
}

/// The MSS option of a SYN, if any.
pub fn mss_option(frame: &[u8], t: &TcpView) -> Option<u16> {
    let mut i = t.options;
    while i < t.payload {
        match frame[i] {
            0 => return None,
            1 => i += 1,
            kind => {
                let len = *frame.get(i + 1)? as usize;
                if len < 2 || i + len > t.payload {
                    return None;
                }
                if kind == 2 && len == 4 {
                    return Some(u16::from_be_bytes([frame[i + 2], frame[i + 3]]));
                }
                i += len;
            }
        }
    }
    None
}

/// Rewrites the TCP header fields of a frame in place.
struct Rewrite {
    swap: bool,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    /// Write an MSS option if there is room; the rest of the options become NOPs.
    mss: Option<u16>,
    /// Cut the payload (lower the IP length).
    drop_payload: bool,
}

fn rewrite(frame: &mut [u8], ip: &Ipv4View, t: &TcpView, r: Rewrite) {
    if r.swap {
        for k in 0..4 {
            frame.swap(26 + k, 30 + k);
        }
        for k in 0..2 {
            frame.swap(ip.l4 + k, ip.l4 + 2 + k);
        }
    }
    let l4 = ip.l4;
    frame[l4 + 4..l4 + 8].copy_from_slice(&r.seq.to_be_bytes());
    frame[l4 + 8..l4 + 12].copy_from_slice(&r.ack.to_be_bytes());
    frame[l4 + 13] = r.flags;
    frame[l4 + 14..l4 + 16].copy_from_slice(&r.window.to_be_bytes());
    frame[l4 + 18..l4 + 20].copy_from_slice(&[0, 0]); // urgent pointer
    let opts = &mut frame[t.options..t.payload];
    opts.fill(1); // NOP
    if let (Some(mss), true) = (r.mss, opts.len() >= 4) {
        opts[..4].copy_from_slice(&[2, 4, (mss >> 8) as u8, mss as u8]);
    }
    if r.drop_payload && t.payload_len > 0 {
        let total = (t.payload - ETH_LEN) as u16;
        frame[16..18].copy_from_slice(&total.to_be_bytes());
    }
    wire::fill_ethernet(frame);
    wire::fix_checksums(frame);
}

impl State {
    fn sweep(&mut self, now: Instant) {
        if now.saturating_duration_since(self.last_sweep) < Duration::from_secs(1) {
            return;
        }
        self.last_sweep = now;
        let idle = self.cfg.idle_timeout;
        self.conns
            .retain(|_, c| now.saturating_duration_since(c.last_seen) < idle);
    }

    fn ingress(&mut self, now: Instant, frame: &mut [u8]) -> Verdict {
        let Some(ip) = wire::ipv4(frame) else {
            return Verdict::Pass;
        };
        let Some(t) = wire::tcp(frame, &ip) else {
            return Verdict::Pass;
        };
        if !self.cfg.ports.contains(&t.dst_port) {
            return Verdict::Pass;
        }
        self.sweep(now);
        let key = (ip.src, t.src_port, t.dst_port);
        let syn = t.flags & tcp_flags::SYN != 0;
        let ack = t.flags & tcp_flags::ACK != 0;
        if syn && !ack {
            // Answer statelessly with a cookie.
            let tuple = SynTuple {
                saddr: ip.src,
                daddr: ip.dst,
                sport: t.src_port,
                dport: t.dst_port,
            };
            let asked = mss_option(frame, &t).unwrap_or(536);
            let (cookie, _) = self.cookies.make(now, &tuple, t.seq, asked);
            self.stats.cookies_sent += 1;
            let (mss, window) = (self.cfg.mss, self.cfg.window);
            rewrite(
                frame,
                &ip,
                &t,
                Rewrite {
                    swap: true,
                    seq: cookie,
                    ack: t.seq.wrapping_add(1),
                    flags: tcp_flags::SYN | tcp_flags::ACK,
                    window,
                    mss: Some(mss),
                    drop_payload: true,
                },
            );
            return Verdict::Tx;
        }
        if let Some(c) = self.conns.get_mut(&key) {
            c.last_seen = now;
            let Some(delta) = c.delta else {
                self.stats.dropped += 1; // the server has not answered yet: the client resends
                return Verdict::Drop;
            };
            if t.flags & tcp_flags::RST != 0 {
                self.conns.remove(&key);
            }
            if ack {
                let a = t.ack.wrapping_add(delta);
                frame[ip.l4 + 8..ip.l4 + 12].copy_from_slice(&a.to_be_bytes());
                wire::fix_checksums(frame);
            }
            return Verdict::Pass;
        }
        if !ack || syn || t.flags & tcp_flags::RST != 0 {
            self.stats.dropped += 1;
            return Verdict::Drop;
        }
        // The handshake's final ACK: is the cookie ours?
        let tuple = SynTuple {
            saddr: ip.src,
            daddr: ip.dst,
            sport: t.src_port,
            dport: t.dst_port,
        };
        let mss = match self.cookies.check(now, &tuple, t.ack, t.seq) {
            Ok(mss) => mss,
            Err(_) => {
                self.stats.cookies_invalid += 1;
                return Verdict::Drop;
            }
        };
        if self.conns.len() >= self.cfg.max_conns {
            self.stats.dropped += 1;
            return Verdict::Drop;
        }
        self.stats.cookies_valid += 1;
        let client_isn = t.seq.wrapping_sub(1);
        self.conns.insert(
            key,
            Conn {
                cookie: t.ack.wrapping_sub(1),
                client_isn,
                client_window: t.window,
                delta: None,
                last_seen: now,
            },
        );
        // Open the real connection: this ACK becomes the client's SYN.
        rewrite(
            frame,
            &ip,
            &t,
            Rewrite {
                swap: false,
                seq: client_isn,
                ack: 0,
                flags: tcp_flags::SYN,
                window: t.window,
                mss: Some(mss),
                drop_payload: true,
            },
        );
        Verdict::Pass
    }

    fn egress(&mut self, frame: &mut [u8]) -> Verdict {
        let Some(ip) = wire::ipv4(frame) else {
            return Verdict::Pass;
        };
        let Some(t) = wire::tcp(frame, &ip) else {
            return Verdict::Pass;
        };
        if !self.cfg.ports.contains(&t.src_port) {
            return Verdict::Pass;
        }
        let key = (ip.dst, t.dst_port, t.src_port);
        let Some(c) = self.conns.get_mut(&key) else {
            return Verdict::Pass;
        };
        let synack = t.flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN | tcp_flags::ACK;
        match c.delta {
            None if synack => {
                // The server accepted: complete its handshake and start translating.
                c.delta = Some(t.seq.wrapping_sub(c.cookie));
                let (seq, window) = (c.client_isn.wrapping_add(1), c.client_window);
                self.stats.server_handshakes += 1;
                rewrite(
                    frame,
                    &ip,
                    &t,
                    Rewrite {
                        swap: true,
                        seq,
                        ack: t.seq.wrapping_add(1),
                        flags: tcp_flags::ACK,
                        window,
                        mss: None,
                        drop_payload: true,
                    },
                );
                Verdict::Tx
            }
            None => {
                if t.flags & tcp_flags::RST != 0 {
                    self.conns.remove(&key); // the server refused (nothing listens)
                }
                Verdict::Pass
            }
            Some(delta) => {
                let s = t.seq.wrapping_sub(delta);
                frame[ip.l4 + 4..ip.l4 + 8].copy_from_slice(&s.to_be_bytes());
                wire::fix_checksums(frame);
                if t.flags & tcp_flags::RST != 0 {
                    self.conns.remove(&key);
                }
                Verdict::Pass
            }
        }
    }
}

impl PacketFilter for SynProxyIngress {
    fn on_packet(&mut self, now: Instant, frame: &mut [u8]) -> Verdict {
        lock(&self.0).ingress(now, frame)
    }
}

impl PacketFilter for SynProxyEgress {
    fn on_packet(&mut self, _now: Instant, frame: &mut [u8]) -> Verdict {
        lock(&self.0).egress(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;
    use testbed_model::wire::{build_tcp, TcpSegment};
    use testbed_model::SeededRng;

    fn proxy() -> SynProxy {
        SynProxy::new(
            SynCookies::new(&mut SeededRng::new(1)),
            SynProxyConfig::default(),
        )
    }

    fn client() -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 40_000)
    }
    fn server() -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80)
    }

    fn seg(
        from: SocketAddrV4,
        to: SocketAddrV4,
        seq: u32,
        ack: u32,
        flags: u8,
        opts: &[u8],
        payload: &[u8],
    ) -> Vec<u8> {
        build_tcp(
            from,
            to,
            &TcpSegment {
                seq,
                ack,
                flags,
                window: 1000,
                options: opts,
                payload,
            },
        )
    }

    fn view(f: &[u8]) -> (Ipv4View, TcpView) {
        let ip = wire::ipv4(f).unwrap();
        let t = wire::tcp(f, &ip).unwrap();
        (ip, t)
    }

    #[test]
    fn a_full_handshake_through_the_proxy_translates_sequence_numbers() {
        let p = proxy();
        let (mut ing, mut eg) = (p.ingress(), p.egress());
        let now = Instant::from_secs(10);
        // SYN → cookie SYN-ACK bounced back to the client.
        let mut f = seg(
            client(),
            server(),
            1000,
            0,
            tcp_flags::SYN,
            &[2, 4, 5, 180],
            b"",
        );
        assert_eq!(ing.on_packet(now, &mut f), Verdict::Tx);
        let (ip, t) = view(&f);
        assert_eq!(
            (ip.src, ip.dst, t.src_port, t.dst_port),
            (*server().ip(), *client().ip(), 80, 40_000)
        );
        assert_eq!((t.flags, t.ack), (tcp_flags::SYN | tcp_flags::ACK, 1001));
        assert_eq!(mss_option(&f, &t), Some(1460));
        assert!(wire::checksums_valid(&f));
        let cookie = t.seq;
        assert_eq!(p.stats().tracked, 0, "a SYN allocates nothing");
        // The client's ACK → a SYN to the server with the client's ISN.
        let mut f = seg(
            client(),
            server(),
            1001,
            cookie.wrapping_add(1),
            tcp_flags::ACK,
            &[1, 1, 1, 1],
            b"",
        );
        assert_eq!(ing.on_packet(now, &mut f), Verdict::Pass);
        let (_, t) = view(&f);
        assert_eq!((t.flags, t.seq), (tcp_flags::SYN, 1000));
        assert_eq!(mss_option(&f, &t), Some(1460));
        // The server's SYN-ACK (ISN 50,000) → an ACK looped back into the server.
        let mut f = seg(
            server(),
            client(),
            50_000,
            1001,
            tcp_flags::SYN | tcp_flags::ACK,
            &[],
            b"",
        );
        assert_eq!(eg.on_packet(now, &mut f), Verdict::Tx);
        let (ip, t) = view(&f);
        assert_eq!(
            (ip.dst, t.dst_port, t.flags, t.seq, t.ack),
            (*server().ip(), 80, tcp_flags::ACK, 1001, 50_001)
        );
        // Server data: its sequence numbers are shifted into the cookie's space.
        let mut f = seg(
            server(),
            client(),
            50_001,
            1001,
            tcp_flags::ACK | tcp_flags::PSH,
            &[],
            b"hello",
        );
        assert_eq!(eg.on_packet(now, &mut f), Verdict::Pass);
        assert_eq!(view(&f).1.seq, cookie.wrapping_add(1));
        assert!(wire::checksums_valid(&f));
        // Client ACKs of that data are shifted back.
        let mut f = seg(
            client(),
            server(),
            1001,
            cookie.wrapping_add(6),
            tcp_flags::ACK,
            &[],
            b"",
        );
        assert_eq!(ing.on_packet(now, &mut f), Verdict::Pass);
        assert_eq!(view(&f).1.ack, 50_006);
        let s = p.stats();
        assert_eq!(
            (
                s.cookies_sent,
                s.cookies_valid,
                s.server_handshakes,
                s.tracked
            ),
            (1, 1, 1, 1)
        );
    }

    #[test]
    fn forged_acks_are_dropped_and_allocate_nothing() {
        let p = proxy();
        let mut ing = p.ingress();
        let mut rng = SeededRng::new(9);
        for i in 0..1000u32 {
            let from = SocketAddrV4::new(Ipv4Addr::from(0xC612_0000 + i), 1024 + i as u16);
            let mut f = seg(
                from,
                server(),
                rng.next_u64() as u32,
                rng.next_u64() as u32,
                tcp_flags::ACK,
                &[],
                b"",
            );
            assert_eq!(ing.on_packet(Instant::from_secs(5), &mut f), Verdict::Drop);
        }
        let s = p.stats();
        assert_eq!((s.cookies_invalid, s.tracked), (1000, 0));
    }

    #[test]
    fn other_ports_and_protocols_pass_untouched() {
        let p = proxy();
        let mut ing = p.ingress();
        let mut f = seg(
            client(),
            SocketAddrV4::new(*server().ip(), 22),
            1,
            0,
            tcp_flags::SYN,
            &[],
            b"",
        );
        let before = f.clone();
        assert_eq!(ing.on_packet(Instant::ZERO, &mut f), Verdict::Pass);
        assert_eq!(f, before);
        let mut u = wire::build_udp(client(), server(), b"x");
        assert_eq!(ing.on_packet(Instant::ZERO, &mut u), Verdict::Pass);
        let mut junk = vec![0u8; 10];
        assert_eq!(ing.on_packet(Instant::ZERO, &mut junk), Verdict::Pass);
    }

    use testbed_model::Rng;
}
