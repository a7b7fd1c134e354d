//! SYN cookies with the Linux encoding (net/ipv4/syncookies.c).
//!
//! A cookie is the server's initial sequence number, computed so that the handshake's final
//! ACK alone lets the server rebuild the connection request — no state is kept per SYN:
//!
//! ```text
//! cookie = H0(saddr, daddr, sport, dport) + client_isn + (count << 24)
//!        + ((H1(saddr, daddr, sport, dport, count) + mss_index) mod 2^24)
//! ```
//!
//! `count` is a minute counter (its low 8 bits ride in the cookie's top 8 bits), `mss_index`
//! indexes the MSS table {536, 1300, 1440, 1460}, H0/H1 are keyed SipHash-2-4. The check
//! subtracts H0 and the client's ISN, reads the counter, rejects cookies two or more periods
//! old, and accepts only if what is left after subtracting H1 is a valid MSS index (a forged
//! or tampered cookie passes with probability 4 / 2^24). As in Linux the client's ISN is added,
//! not hashed: the tuple and the cookie are authenticated, the ISN only shifts the decoded MSS.
//!
//! Unlike Linux, whose two secrets are fixed at boot, the secrets rotate: each rotation epoch
//! (a number of counter periods) has its own key pair derived from a master key, and a cookie
//! is checked with the keys of the epoch it was made in.
//!
//! When both ends use TCP timestamps, Linux also hides the options a cookie cannot carry
//! (window scale, SACK, ECN) in the low 6 bits of the SYN-ACK's timestamp value;
//! [`encode_ts_options`] and [`decode_ts_options`] are that encoding.

use siphasher::sip::SipHasher24;
use std::hash::Hasher;
use std::net::Ipv4Addr;
use testbed_model::{Duration, Instant, Rng};

/// Bits of a cookie below the counter.
pub const COOKIE_BITS: u32 = 24;
const COOKIE_MASK: u32 = (1 << COOKIE_BITS) - 1;
/// Cookies this many counter periods old (or older) are rejected.
pub const MAX_AGE: u32 = 2;
/// The MSS values a cookie can encode (Linux's msstab).
pub const MSS_TABLE: [u16; 4] = [536, 1300, 1440, 1460];

/// The connection a SYN asks for, as the server sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SynTuple {
    /// Client address.
    pub saddr: Ipv4Addr,
    /// Server address.
    pub daddr: Ipv4Addr,
    /// Client port.
    pub sport: u16,
    /// Server port.
    pub dport: u16,
}

/// Why a cookie was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    /// Made two or more counter periods ago (or in the future).
    #[error("SYN cookie too old")]
    TooOld,
    /// Not a cookie we made for this tuple and client sequence number.
    #[error("SYN cookie invalid (forged, or for another connection)")]
    Invalid,
}

/// Makes and checks SYN cookies.
#[derive(Clone, Debug)]
pub struct SynCookies {
    master: [u64; 2],
    period: Duration,
    rotate_every: u32,
}

impl SynCookies {
    /// Cookies with Linux's one-minute counter, secrets rotating every 16 minutes, keyed from
    /// `rng` (pass a seeded rng: the simulator replays cookies exactly).
    pub fn new(rng: &mut impl Rng) -> SynCookies {
        SynCookies::with_period(rng, Duration::from_secs(60), 16)
    }

    /// Cookies with a counter period of `period` and secrets rotating every `rotate_every`
    /// periods.
    pub fn with_period(rng: &mut impl Rng, period: Duration, rotate_every: u32) -> SynCookies {
        assert!(!period.is_zero() && rotate_every > 0);
        SynCookies {
            master: [rng.next_u64(), rng.next_u64()],
            period,
            rotate_every,
        }
    }

    /// The counter at `now` (Linux: jiffies / (60 * HZ)).
    pub fn counter(&self, now: Instant) -> u32 {
        (now.as_nanos() / self.period.as_nanos() as u64) as u32
    }

    fn keys(&self, count: u32) -> [(u64, u64); 2] {
        let epoch = (count / self.rotate_every) as u64;
        let derive = |i: u64| {
            let mut h = SipHasher24::new_with_keys(self.master[0], self.master[1]);
            h.write_u64(epoch);
            h.write_u64(i);
            h.finish()
        };
        [(derive(0), derive(1)), (derive(2), derive(3))]
    }

    fn hash(key: (u64, u64), t: &SynTuple, count: u32) -> u32 {
        let mut h = SipHasher24::new_with_keys(key.0, key.1);
        h.write_u32(u32::from(t.saddr));
        h.write_u32(u32::from(t.daddr));
        h.write_u32((t.sport as u32) << 16 | t.dport as u32);
        h.write_u32(count);
        h.finish() as u32
    }

    /// The cookie (our ISN) answering a SYN with sequence number `client_isn` and MSS option
    /// `mss`, and the MSS the cookie encodes (the largest table entry not above `mss`).
    pub fn make(&self, now: Instant, t: &SynTuple, client_isn: u32, mss: u16) -> (u32, u16) {
        let idx = MSS_TABLE.iter().rposition(|m| mss >= *m).unwrap_or(0);
        (
            self.make_with_index(self.counter(now), t, client_isn, idx as u32),
            MSS_TABLE[idx],
        )
    }

    fn make_with_index(&self, count: u32, t: &SynTuple, client_isn: u32, data: u32) -> u32 {
        let [k0, k1] = self.keys(count);
        Self::hash(k0, t, 0)
            .wrapping_add(client_isn)
            .wrapping_add(count << COOKIE_BITS)
            .wrapping_add(Self::hash(k1, t, count).wrapping_add(data) & COOKIE_MASK)
    }

    /// Checks the final ACK of a handshake: `ack` and `seq` are its acknowledgement and
    /// sequence numbers (cookie + 1 and client ISN + 1). Returns the MSS the SYN asked for.
    pub fn check(
        &self,
        now: Instant,
        t: &SynTuple,
        ack: u32,
        seq: u32,
    ) -> Result<u16, CookieError> {
        let cookie = ack.wrapping_sub(1);
        let client_isn = seq.wrapping_sub(1);
        let count = self.counter(now);
        // The counter the cookie was made with; the key depends on it, and the low 8 bits it
        // carries say which of the last few periods it was.
        for age in 0..MAX_AGE {
            let made = count.wrapping_sub(age);
            let [k0, k1] = self.keys(made);
            let rest = cookie
                .wrapping_sub(Self::hash(k0, t, 0))
                .wrapping_sub(client_isn);
            let diff = count.wrapping_sub(rest >> COOKIE_BITS) & (u32::MAX >> COOKIE_BITS);
            if diff != age {
                continue;
            }
            let data = rest.wrapping_sub(Self::hash(k1, t, made)) & COOKIE_MASK;
            return MSS_TABLE
                .get(data as usize)
                .copied()
                .ok_or(CookieError::Invalid);
        }
        // No recent counter matched: an old cookie if it decodes with its own period's keys
        // (within the 8-bit counter window), otherwise a forgery.
        for age in MAX_AGE..256 {
            let made = count.wrapping_sub(age);
            if made > count {
                break;
            }
            let [k0, k1] = self.keys(made);
            let rest = cookie
                .wrapping_sub(Self::hash(k0, t, 0))
                .wrapping_sub(client_isn);
            if count.wrapping_sub(rest >> COOKIE_BITS) & 0xFF == age
                && (rest.wrapping_sub(Self::hash(k1, t, made)) & COOKIE_MASK)
                    < MSS_TABLE.len() as u32
            {
                return Err(CookieError::TooOld);
            }
            if age >= self.rotate_every * 2 {
                break; // older keys would need many derivations; call it a forgery
            }
        }
        Err(CookieError::Invalid)
    }
}

/// Options a SYN asked for that a cookie cannot carry, hidden in the low 6 bits of the
/// SYN-ACK's timestamp value (Linux's cookie_init_timestamp).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TsOptions {
    /// The client's window scale shift (0–14), if it sent one.
    pub wscale: Option<u8>,
    /// SACK permitted.
    pub sack: bool,
    /// ECN.
    pub ecn: bool,
}

const TS_BITS: u32 = 6;
const TS_MASK: u32 = (1 << TS_BITS) - 1;
const TS_WSCALE_MASK: u32 = 0xF;
const TS_SACK: u32 = 1 << 4;
const TS_ECN: u32 = 1 << 5;

/// The timestamp value to send in a cookie SYN-ACK at local timestamp `ts_now`: `ts_now`
/// with its low 6 bits replaced by the options, never ahead of `ts_now`.
pub fn encode_ts_options(ts_now: u32, o: TsOptions) -> u32 {
    let mut bits = o.wscale.map_or(TS_WSCALE_MASK, |w| (w.min(14)) as u32);
    if o.sack {
        bits |= TS_SACK;
    }
    if o.ecn {
        bits |= TS_ECN;
    }
    let ts = (ts_now & !TS_MASK) | bits;
    if ts > ts_now {
        ts.wrapping_sub(1 << TS_BITS)
    } else {
        ts
    }
}

/// The options hidden in the timestamp echo (`tsecr`) of the handshake's final ACK.
pub fn decode_ts_options(tsecr: u32) -> TsOptions {
    let bits = tsecr & TS_MASK;
    let w = bits & TS_WSCALE_MASK;
    TsOptions {
        wscale: (w != TS_WSCALE_MASK).then_some(w as u8),
        sack: bits & TS_SACK != 0,
        ecn: bits & TS_ECN != 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testbed_model::SeededRng;

    fn tuple() -> SynTuple {
        SynTuple {
            saddr: Ipv4Addr::new(192, 0, 2, 7),
            daddr: Ipv4Addr::new(10, 0, 0, 1),
            sport: 40_000,
            dport: 80,
        }
    }

    fn at_secs(s: u64) -> Instant {
        Instant::from_secs(s)
    }

    #[test]
    fn every_mss_bucket_round_trips() {
        let c = SynCookies::new(&mut SeededRng::new(1));
        let t = tuple();
        for (asked, want) in [
            (536, 536),
            (1000, 536),
            (1300, 1300),
            (1439, 1300),
            (1440, 1440),
            (1460, 1460),
            (9000, 1460),
            (100, 536),
        ] {
            for isn in [0u32, 1, 0x7fff_ffff, u32::MAX] {
                let (cookie, mss) = c.make(at_secs(3600), &t, isn, asked);
                assert_eq!(mss, want);
                let got = c.check(
                    at_secs(3600 + 30),
                    &t,
                    cookie.wrapping_add(1),
                    isn.wrapping_add(1),
                );
                assert_eq!(got, Ok(want), "mss {asked} isn {isn}");
            }
        }
    }

    #[test]
    fn the_counter_rides_in_the_top_8_bits() {
        let c = SynCookies::new(&mut SeededRng::new(2));
        let t = tuple();
        let isn = 12345;
        let (a, _) = c.make(at_secs(60 * 10), &t, isn, 1460);
        let [k0, _] = c.keys(10);
        let rest = a
            .wrapping_sub(SynCookies::hash(k0, &t, 0))
            .wrapping_sub(isn);
        assert_eq!(rest >> COOKIE_BITS, 10);
    }

    #[test]
    fn cookies_expire_after_two_counter_periods() {
        let c = SynCookies::new(&mut SeededRng::new(3));
        let t = tuple();
        let (cookie, _) = c.make(at_secs(600), &t, 99, 1460);
        let check = |s| c.check(at_secs(s), &t, cookie.wrapping_add(1), 100);
        assert_eq!(check(600), Ok(1460));
        assert_eq!(check(659), Ok(1460), "same period");
        assert_eq!(check(719), Ok(1460), "one period later");
        assert_eq!(check(720), Err(CookieError::TooOld), "two periods later");
        assert!(check(3000).is_err(), "forty periods later");
    }

    #[test]
    fn secrets_rotate_and_old_epoch_cookies_still_verify_while_young() {
        let c = SynCookies::with_period(&mut SeededRng::new(4), Duration::from_secs(60), 2);
        let t = tuple();
        // Made in the last period of epoch 0 (counter 1), checked in epoch 1 (counter 2).
        let (cookie, _) = c.make(at_secs(119), &t, 5, 1440);
        assert_eq!(c.check(at_secs(121), &t, cookie + 1, 6), Ok(1440));
        // The same tuple and ISN in another epoch give another cookie.
        let (other, _) = c.make(at_secs(121), &t, 5, 1440);
        assert_ne!(cookie, other);
    }

    #[test]
    fn tampering_with_anything_is_rejected() {
        let c = SynCookies::new(&mut SeededRng::new(5));
        let t = tuple();
        let now = at_secs(7200);
        let (cookie, _) = c.make(now, &t, 1000, 1460);
        let ack = cookie.wrapping_add(1);
        assert_eq!(c.check(now, &t, ack, 1001), Ok(1460));
        let tampered = [
            SynTuple {
                saddr: Ipv4Addr::new(192, 0, 2, 8),
                ..t
            },
            SynTuple {
                daddr: Ipv4Addr::new(10, 0, 0, 2),
                ..t
            },
            SynTuple { sport: 40_001, ..t },
            SynTuple { dport: 81, ..t },
        ];
        for bad in tampered {
            assert!(c.check(now, &bad, ack, 1001).is_err(), "{bad:?}");
        }
        // As in Linux, the client ISN is folded in additively, not hashed: an ISN off by k
        // shifts the decoded MSS index by k, so only the tuple and the cookie are
        // authenticated (a forger still needs a cookie made for the tuple).
        assert_ne!(c.check(now, &t, ack, 1002), Ok(1460), "client ISN changed");
        for bit in 2..32 {
            assert!(
                c.check(now, &t, ack ^ (1 << bit), 1001).is_err(),
                "bit {bit} flipped"
            );
        }
        // The two lowest bits hold the MSS index (as in Linux): flipping them changes the MSS.
        for bit in 0..2 {
            assert_ne!(
                c.check(now, &t, ack ^ (1 << bit), 1001),
                Ok(1460),
                "bit {bit} flipped"
            );
        }
        // Another server's secrets.
        let other = SynCookies::new(&mut SeededRng::new(6));
        assert!(other.check(now, &t, ack, 1001).is_err());
    }

    #[test]
    fn random_acks_almost_never_pass() {
        let c = SynCookies::new(&mut SeededRng::new(7));
        let t = tuple();
        let mut rng = SeededRng::new(8);
        let passed = (0..100_000)
            .filter(|_| {
                c.check(
                    at_secs(100),
                    &t,
                    rng.next_u64() as u32,
                    rng.next_u64() as u32,
                )
                .is_ok()
            })
            .count();
        assert!(passed <= 1, "{passed} forged cookies passed");
    }

    #[test]
    fn timestamp_option_bits_round_trip_and_never_run_ahead() {
        for wscale in [None, Some(0), Some(7), Some(14)] {
            for sack in [false, true] {
                for ecn in [false, true] {
                    let o = TsOptions { wscale, sack, ecn };
                    for now in [1_000_000u32, 1_000_063, 64] {
                        let ts = encode_ts_options(now, o);
                        assert!(ts <= now);
                        assert_eq!(decode_ts_options(ts), o);
                    }
                }
            }
        }
    }
}
