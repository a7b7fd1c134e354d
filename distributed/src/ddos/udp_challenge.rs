//! A UDP challenge–response for unverified sources (网络编程进阶主题 §5.2), as an ingress filter: a
//! datagram from a source that has not proved it receives at its address is answered, in
//! place, with a challenge carrying a keyed token; the client repeats its request with the
//! token in front and is verified for a while. Spoofed sources never see their challenge, so
//! their floods never reach the service; the challenge is never larger than the request
//! (no amplification), and nothing is stored for unverified sources.
//!
//! Wire format (first bytes of the UDP payload): a challenge is `TBCH` + 8-byte token (the
//! rest of the datagram zeroed); a request that answers one is `TBCK` + the token + the
//! request. The service strips the prefix with [`strip_token`].

use siphasher::sip::SipHasher24;
use std::collections::{BTreeMap, VecDeque};
use std::hash::Hasher;
use std::net::Ipv4Addr;
use testbed_model::packet::{PacketFilter, Verdict};
use testbed_model::wire::{self, IPPROTO_UDP};
use testbed_model::{Duration, Instant, Rng};

/// Prefix of a challenge.
pub const CHALLENGE: &[u8; 4] = b"TBCH";
/// Prefix of a request that carries a token.
pub const RESPONSE: &[u8; 4] = b"TBCK";
/// Bytes of prefix plus token.
pub const TOKEN_PREFIX_LEN: usize = 12;

/// Settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpChallengeConfig {
    /// Protected ports.
    pub ports: Vec<u16>,
    /// How long a token stays valid (it is accepted for up to two such periods).
    pub token_period: Duration,
    /// How long a verified source stays verified.
    pub verified_for: Duration,
    /// Most verified sources remembered (oldest forgotten first; they are challenged again).
    pub max_verified: usize,
}

impl Default for UdpChallengeConfig {
    fn default() -> Self {
        UdpChallengeConfig {
            ports: vec![53],
            token_period: Duration::from_secs(30),
            verified_for: Duration::from_secs(300),
            max_verified: 65_536,
        }
    }
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpChallengeStats {
    /// Challenges sent.
    pub challenged: u64,
    /// Sources that answered a challenge correctly.
    pub verified: u64,
    /// Datagrams with a wrong or stale token (dropped).
    pub bad_token: u64,
    /// Datagrams too short to turn into a challenge (dropped).
    pub too_short: u64,
    /// Datagrams of verified sources passed.
    pub passed: u64,
}

/// The filter.
pub struct UdpChallenge {
    cfg: UdpChallengeConfig,
    key: (u64, u64),
    verified: BTreeMap<Ipv4Addr, Instant>,
    order: VecDeque<(Ipv4Addr, Instant)>,
    stats: UdpChallengeStats,
}

/// The request without its token prefix (unchanged if it has none).
pub fn strip_token(payload: &[u8]) -> &[u8] {
    if payload.len() >= TOKEN_PREFIX_LEN && payload[..4] == RESPONSE[..] {
        &payload[TOKEN_PREFIX_LEN..]
    } else {
        payload
    }
}

/// If `payload` is a challenge, the answer prefix (`TBCK` + token) to put before requests.
pub fn answer(payload: &[u8]) -> Option<[u8; TOKEN_PREFIX_LEN]> {
    if payload.len() >= TOKEN_PREFIX_LEN && payload[..4] == CHALLENGE[..] {
        let mut a = [0u8; TOKEN_PREFIX_LEN];
        a[..4].copy_from_slice(RESPONSE);
        a[4..].copy_from_slice(&payload[4..TOKEN_PREFIX_LEN]);
        Some(a)
    } else {
        None
    }
}

impl UdpChallenge {
    /// A filter keyed from `rng`.
    pub fn new(cfg: UdpChallengeConfig, rng: &mut impl Rng) -> UdpChallenge {
        UdpChallenge {
            cfg,
            key: (rng.next_u64(), rng.next_u64()),
            verified: BTreeMap::new(),
            order: VecDeque::new(),
            stats: UdpChallengeStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> UdpChallengeStats {
        self.stats
    }

    fn token(&self, src: Ipv4Addr, port: u16, epoch: u64) -> [u8; 8] {
        let mut h = SipHasher24::new_with_keys(self.key.0, self.key.1);
        h.write_u32(u32::from(src));
        h.write_u16(port);
        h.write_u64(epoch);
        h.finish().to_be_bytes()
    }

    fn is_verified(&mut self, now: Instant, src: Ipv4Addr) -> bool {
        match self.verified.get(&src) {
            Some(until) if *until > now => true,
            Some(_) => {
                self.verified.remove(&src);
                false
            }
            None => false,
        }
    }

    fn verify(&mut self, now: Instant, src: Ipv4Addr) {
        let until = now + self.cfg.verified_for;
        self.verified.insert(src, until);
        self.order.push_back((src, until));
        while self.verified.len() > self.cfg.max_verified
            || self.order.len() > 2 * self.cfg.max_verified
        {
            let Some((old, u)) = self.order.pop_front() else {
                break;
            };
            if self.verified.get(&old) == Some(&u) && self.verified.len() > self.cfg.max_verified {
                self.verified.remove(&old);
            }
        }
        self.stats.verified += 1;
    }
}

impl PacketFilter for UdpChallenge {
    fn on_packet(&mut self, now: Instant, frame: &mut [u8]) -> Verdict {
        let Some(ip) = wire::ipv4(frame) else {
            return Verdict::Pass;
        };
        if ip.proto != IPPROTO_UDP {
            return Verdict::Pass;
        }
        let Some(u) = wire::udp(frame, &ip) else {
            return Verdict::Pass;
        };
        if !self.cfg.ports.contains(&u.dst_port) {
            return Verdict::Pass;
        }
        if self.is_verified(now, ip.src) {
            self.stats.passed += 1;
            return Verdict::Pass;
        }
        let epoch = now.as_nanos() / self.cfg.token_period.as_nanos() as u64;
        let payload = &frame[u.payload..u.payload + u.payload_len];
        if payload.len() >= TOKEN_PREFIX_LEN && payload[..4] == RESPONSE[..] {
            let tok = &payload[4..TOKEN_PREFIX_LEN];
            let ok = [epoch, epoch.saturating_sub(1)]
                .iter()
                .any(|e| tok == self.token(ip.src, u.src_port, *e));
            if ok {
                self.verify(now, ip.src);
                self.stats.passed += 1;
                return Verdict::Pass;
            }
            self.stats.bad_token += 1;
            return Verdict::Drop;
        }
        if u.payload_len < TOKEN_PREFIX_LEN {
            self.stats.too_short += 1;
            return Verdict::Drop;
        }
        // Answer in place: swap the endpoints, payload = challenge (same length).
        let token = self.token(ip.src, u.src_port, epoch);
        for k in 0..4 {
            frame.swap(26 + k, 30 + k);
        }
        for k in 0..2 {
            frame.swap(ip.l4 + k, ip.l4 + 2 + k);
        }
        let p = &mut frame[u.payload..u.payload + u.payload_len];
        p.fill(0);
        p[..4].copy_from_slice(CHALLENGE);
        p[4..TOKEN_PREFIX_LEN].copy_from_slice(&token);
        wire::fill_ethernet(frame);
        wire::fix_checksums(frame);
        self.stats.challenged += 1;
        Verdict::Tx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;
    use testbed_model::SeededRng;

    fn req(from: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
        wire::build_udp(
            from,
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 53),
            payload,
        )
    }

    fn payload(f: &[u8]) -> Vec<u8> {
        let ip = wire::ipv4(f).unwrap();
        let u = wire::udp(f, &ip).unwrap();
        f[u.payload..u.payload + u.payload_len].to_vec()
    }

    #[test]
    fn a_source_that_answers_its_challenge_is_verified() {
        let mut c = UdpChallenge::new(UdpChallengeConfig::default(), &mut SeededRng::new(1));
        let client = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 9), 4444);
        let now = Instant::from_secs(10);
        let mut f = req(client, b"what is the time, please?");
        let len = f.len();
        assert_eq!(c.on_packet(now, &mut f), Verdict::Tx);
        assert_eq!(f.len(), len, "no amplification");
        let ip = wire::ipv4(&f).unwrap();
        assert_eq!(ip.dst, *client.ip());
        assert!(wire::checksums_valid(&f));
        let prefix = answer(&payload(&f)).expect("a challenge");
        let mut again = prefix.to_vec();
        again.extend_from_slice(b"what is the time, please?");
        let mut f = req(client, &again);
        assert_eq!(c.on_packet(now, &mut f), Verdict::Pass);
        assert_eq!(strip_token(&payload(&f)), b"what is the time, please?");
        // Verified: plain requests pass now.
        let mut f = req(client, b"and now?  plain request");
        assert_eq!(c.on_packet(now, &mut f), Verdict::Pass);
        assert_eq!(c.stats().verified, 1);
    }

    #[test]
    fn forged_or_stolen_tokens_are_dropped() {
        let mut c = UdpChallenge::new(UdpChallengeConfig::default(), &mut SeededRng::new(2));
        let victim = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 9), 4444);
        let now = Instant::from_secs(10);
        let mut f = req(victim, &[7u8; 20]);
        c.on_packet(now, &mut f);
        let prefix = answer(&payload(&f)).unwrap();
        // Another source replaying the victim's token.
        let mut msg = prefix.to_vec();
        msg.extend_from_slice(b"x");
        let mut f = req(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 10), 4444), &msg);
        assert_eq!(c.on_packet(now, &mut f), Verdict::Drop);
        // Too late: two token periods on.
        let mut f = req(victim, &msg);
        assert_eq!(
            c.on_packet(now + Duration::from_secs(61), &mut f),
            Verdict::Drop
        );
        // Too short to be answered in place.
        let mut f = req(victim, b"hi");
        assert_eq!(c.on_packet(now, &mut f), Verdict::Drop);
        assert_eq!(c.stats().verified, 0);
    }
}
