//! Ethernet MAC addresses and the l2fwd header rewrite: pure functions over frame bytes,
//! tested without DPDK.

use std::fmt;
use std::str::FromStr;

/// Length of an Ethernet header (destination, source, EtherType).
pub const ETH_HEADER_LEN: usize = 14;

/// A 48-bit Ethernet MAC address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The broadcast address ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// A locally administered unicast address whose last byte is `n` (02:00:00:00:00:n), the
    /// shape DPDK's testpmd uses for its default peers.
    pub const fn local(n: u8) -> MacAddr {
        MacAddr([0x02, 0, 0, 0, 0, n])
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// A string that is not six colon-separated hex bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a MAC address (aa:bb:cc:dd:ee:ff): {0:?}")]
pub struct ParseMacError(pub String);

impl FromStr for MacAddr {
    type Err = ParseMacError;

    fn from_str(s: &str) -> Result<MacAddr, ParseMacError> {
        let bad = || ParseMacError(s.chars().take(64).collect());
        let mut m = [0u8; 6];
        let mut parts = s.trim().split(':');
        for b in m.iter_mut() {
            let p = parts.next().ok_or_else(bad)?;
            if p.is_empty() || p.len() > 2 {
                return Err(bad());
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(m))
    }
}

/// Rewrites an Ethernet frame's addresses for forwarding: destination `dst`, source `src`
/// (the output port's own address). Returns false, leaving the frame untouched, when it is
/// shorter than an Ethernet header.
pub fn rewrite(frame: &mut [u8], src: MacAddr, dst: MacAddr) -> bool {
    if frame.len() < ETH_HEADER_LEN {
        return false;
    }
    frame[..6].copy_from_slice(&dst.0);
    frame[6..12].copy_from_slice(&src.0);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let m: MacAddr = "02:1A:ff:00:09:10".parse().unwrap();
        assert_eq!(m, MacAddr([0x02, 0x1a, 0xff, 0x00, 0x09, 0x10]));
        assert_eq!(m.to_string(), "02:1a:ff:00:09:10");
        for bad in [
            "",
            "02:1a:ff:00:09",
            "02:1a:ff:00:09:10:11",
            "02:1a:ff:00:09:1g",
            "021:a:ff:00:09:10",
            "02::ff:00:09:10",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn rewrite_sets_both_addresses_and_keeps_the_rest() {
        let mut f: Vec<u8> = (0..60).collect();
        assert!(rewrite(&mut f, MacAddr::local(1), MacAddr::BROADCAST));
        assert_eq!(&f[..6], &[0xff; 6]);
        assert_eq!(&f[6..12], &MacAddr::local(1).0);
        assert_eq!(f[12..], (12..60).collect::<Vec<u8>>()[..]);
    }

    #[test]
    fn runts_are_refused_untouched() {
        for len in 0..ETH_HEADER_LEN {
            let mut f = vec![7u8; len];
            assert!(
                !rewrite(&mut f, MacAddr::local(1), MacAddr::local(2)),
                "{len}"
            );
            assert_eq!(f, vec![7u8; len]);
        }
    }
}
