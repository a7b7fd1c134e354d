//! Blocklists of IPv4 addresses and CIDR ranges, with optional expiry, bounded in size,
//! looked up by longest prefix. Shared between a packet filter (drop at ingress) and
//! application-level guards (which add offenders) through [`SharedBlocklist`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use testbed_model::Instant;

/// An IPv4 network: address and prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    net: u32,
    prefix: u8,
}

/// A malformed CIDR string or prefix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid CIDR {0:?}: expected a.b.c.d or a.b.c.d/n with n in 0..=32")]
pub struct CidrError(pub String);

impl Cidr {
    /// The network `addr/prefix` (host bits are cleared).
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Cidr, CidrError> {
        if prefix > 32 {
            return Err(CidrError(format!("{addr}/{prefix}")));
        }
        Ok(Cidr {
            net: u32::from(addr) & mask(prefix),
            prefix,
        })
    }
    /// A single address (/32).
    pub fn host(addr: Ipv4Addr) -> Cidr {
        Cidr {
            net: u32::from(addr),
            prefix: 32,
        }
    }
    /// Whether `addr` is in the network.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & mask(self.prefix) == self.net
    }
    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix as u32)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.net), self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let bad = || CidrError(s.to_string());
        let (a, p) = s.split_once('/').unwrap_or((s, "32"));
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        Cidr::new(addr, prefix).map_err(|_| bad())
    }
}

/// The blocklist is at its size limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("blocklist full ({0} entries)")]
pub struct BlocklistFull(pub usize);

/// Counters of a [`Blocklist`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlocklistStats {
    /// Entries now.
    pub entries: usize,
    /// Lookups that matched an entry.
    pub hits: u64,
    /// Entries that expired.
    pub expired: u64,
    /// Additions refused because the list was full.
    pub refused: u64,
}

/// Blocked networks with optional expiry.
#[derive(Debug)]
pub struct Blocklist {
    entries: BTreeMap<Cidr, Option<Instant>>,
    prefixes: BTreeSet<u8>,
    max_entries: usize,
    stats: BlocklistStats,
}

/// A blocklist shared between filters and guards.
pub type SharedBlocklist = Arc<Mutex<Blocklist>>;

impl Blocklist {
    /// An empty list holding at most `max_entries` networks.
    pub fn new(max_entries: usize) -> Blocklist {
        Blocklist {
            entries: BTreeMap::new(),
            prefixes: BTreeSet::new(),
            max_entries,
            stats: BlocklistStats::default(),
        }
    }

    /// An empty shared list.
    pub fn shared(max_entries: usize) -> SharedBlocklist {
        Arc::new(Mutex::new(Blocklist::new(max_entries)))
    }

    /// Blocks `net` until `until` (`None`: until unblocked). Re-blocking updates the expiry.
    pub fn block(&mut self, net: Cidr, until: Option<Instant>) -> Result<(), BlocklistFull> {
        if !self.entries.contains_key(&net) && self.entries.len() >= self.max_entries {
            self.stats.refused += 1;
            return Err(BlocklistFull(self.max_entries));
        }
        self.entries.insert(net, until);
        self.prefixes.insert(net.prefix);
        Ok(())
    }

    /// Removes `net`; returns whether it was there.
    pub fn unblock(&mut self, net: Cidr) -> bool {
        let was = self.entries.remove(&net).is_some();
        if was && !self.entries.keys().any(|c| c.prefix == net.prefix) {
            self.prefixes.remove(&net.prefix);
        }
        was
    }

    /// Whether `addr` is blocked at `now` (longest matching prefix; expired entries go).
    pub fn is_blocked(&mut self, now: Instant, addr: Ipv4Addr) -> bool {
        for &p in self.prefixes.iter().rev() {
            let c = Cidr {
                net: u32::from(addr) & mask(p),
                prefix: p,
            };
            match self.entries.get(&c) {
                Some(Some(until)) if *until <= now => {
                    self.entries.remove(&c);
                    self.stats.expired += 1;
                    if !self.entries.keys().any(|e| e.prefix == p) {
                        self.prefixes.remove(&p);
                    }
                    return self.is_blocked(now, addr);
                }
                Some(_) => {
                    self.stats.hits += 1;
                    return true;
                }
                None => {}
            }
        }
        false
    }

    /// Removes every entry expired at `now`; returns how many.
    pub fn purge(&mut self, now: Instant) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, u| u.is_none_or(|u| u > now));
        let n = before - self.entries.len();
        self.stats.expired += n as u64;
        self.prefixes = self.entries.keys().map(|c| c.prefix).collect();
        n
    }

    /// Counters.
    pub fn stats(&self) -> BlocklistStats {
        BlocklistStats {
            entries: self.entries.len(),
            ..self.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testbed_model::Duration;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_and_match() {
        let c: Cidr = "192.0.2.77/24".parse().unwrap();
        assert_eq!(c.to_string(), "192.0.2.0/24");
        assert!(c.contains(ip("192.0.2.1")) && !c.contains(ip("192.0.3.1")));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        for bad in ["1.2.3.4/33", "1.2.3/8", "x", "1.2.3.4/-1"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn longest_prefix_lookup_with_expiry() {
        let mut b = Blocklist::new(10);
        let t = Instant::from_secs(100);
        b.block("10.0.0.0/8".parse().unwrap(), None).unwrap();
        b.block(
            Cidr::host(ip("192.0.2.5")),
            Some(t + Duration::from_secs(60)),
        )
        .unwrap();
        assert!(b.is_blocked(t, ip("10.1.2.3")));
        assert!(b.is_blocked(t, ip("192.0.2.5")));
        assert!(!b.is_blocked(t, ip("192.0.2.6")));
        assert!(
            !b.is_blocked(t + Duration::from_secs(60), ip("192.0.2.5")),
            "expired"
        );
        assert_eq!(b.stats().expired, 1);
        assert!(b.unblock("10.0.0.0/8".parse().unwrap()));
        assert!(!b.is_blocked(t, ip("10.1.2.3")));
    }

    #[test]
    fn the_list_is_bounded() {
        let mut b = Blocklist::new(2);
        b.block(Cidr::host(ip("1.1.1.1")), None).unwrap();
        b.block(Cidr::host(ip("1.1.1.2")), None).unwrap();
        assert_eq!(
            b.block(Cidr::host(ip("1.1.1.3")), None),
            Err(BlocklistFull(2))
        );
        b.block(Cidr::host(ip("1.1.1.2")), Some(Instant::from_secs(1)))
            .unwrap(); // update
        assert_eq!(b.purge(Instant::from_secs(2)), 1);
        b.block(Cidr::host(ip("1.1.1.3")), None).unwrap();
    }
}
