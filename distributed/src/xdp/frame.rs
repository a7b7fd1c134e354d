//! Frame parsing exactly as the XDP programs do it: Ethernet, at most two VLAN tags
//! (802.1Q / 802.1ad), then IPv4 with its header length checked against the frame.

/// EtherType of IPv4.
pub const ETH_P_IP: u16 = 0x0800;
/// Most VLAN tags the programs skip.
pub const VLAN_MAX: usize = 2;

/// Where a frame's IPv4 header is, or why there is none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L3 {
    /// Shorter than the headers it announces (Ethernet, a VLAN tag, or an IPv4 header).
    Malformed,
    /// Not IPv4 (ARP, IPv6, more than two VLAN tags, ...).
    NotIpv4,
    /// IPv4 at byte `at`, header `ihl` bytes long (20..=60, inside the frame).
    Ipv4 {
        /// Offset of the IPv4 header.
        at: usize,
        /// Header length in bytes.
        ihl: usize,
    },
}

fn be16(f: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([f[at], f[at + 1]])
}

/// Parses `frame` down to its IPv4 header.
pub fn l3(frame: &[u8]) -> L3 {
    if frame.len() < 14 {
        return L3::Malformed;
    }
    let mut proto = be16(frame, 12);
    let mut at = 14;
    for _ in 0..VLAN_MAX {
        if proto != 0x8100 && proto != 0x88a8 {
            break;
        }
        if at + 4 > frame.len() {
            return L3::Malformed;
        }
        proto = be16(frame, at + 2);
        at += 4;
    }
    if proto != ETH_P_IP {
        return L3::NotIpv4;
    }
    if at + 20 > frame.len() {
        return L3::Malformed;
    }
    let ihl = (frame[at] & 0x0f) as usize * 4;
    if frame[at] >> 4 != 4 || ihl < 20 || at + ihl > frame.len() {
        return L3::Malformed;
    }
    L3::Ipv4 { at, ihl }
}

/// The IPv4 source address (as its four bytes) of a header at `at`.
pub fn ipv4_src(frame: &[u8], at: usize) -> [u8; 4] {
    [
        frame[at + 12],
        frame[at + 13],
        frame[at + 14],
        frame[at + 15],
    ]
}

/// Whether the IPv4 header at `at` starts a datagram (fragment offset zero).
pub fn first_fragment(frame: &[u8], at: usize) -> bool {
    be16(frame, at + 6) & 0x1fff == 0
}
