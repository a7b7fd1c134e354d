//! Zero-copy views of Ethernet/IPv4/TCP/UDP frames and the few builders and checksum fixes
//! that packet filters and the simulator's packet fidelity need. Parsing never panics: a
//! short or malformed frame yields `None`.

use std::net::{Ipv4Addr, SocketAddrV4};

/// Ethernet header bytes.
pub const ETH_LEN: usize = 14;
/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;

/// TCP flag bits.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// A locally administered MAC address derived from an IPv4 address: 02:00:a:b:c:d.
pub fn mac_of(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x00, o[0], o[1], o[2], o[3]]
}

/// Writes the Ethernet header of an IPv4 frame, MACs derived from the IP addresses.
/// `frame` must hold at least an Ethernet and an IPv4 header.
pub fn fill_ethernet(frame: &mut [u8]) {
    let src = Ipv4Addr::new(frame[26], frame[27], frame[28], frame[29]);
    let dst = Ipv4Addr::new(frame[30], frame[31], frame[32], frame[33]);
    frame[0..6].copy_from_slice(&mac_of(dst));
    frame[6..12].copy_from_slice(&mac_of(src));
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
}

/// The IPv4 header of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4View {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol number.
    pub proto: u8,
    /// Offset of the L4 header in the frame.
    pub l4: usize,
    /// End of the IP packet in the frame (Ethernet padding excluded).
    pub end: usize,
}

/// Parses the IPv4 header of an Ethernet frame.
pub fn ipv4(frame: &[u8]) -> Option<Ipv4View> {
    if frame.len() < ETH_LEN + 20 || frame[12..14] != [0x08, 0x00] || frame[14] >> 4 != 4 {
        return None;
    }
    let ihl = (frame[14] & 0x0f) as usize * 4;
    let total = u16::from_be_bytes([frame[16], frame[17]]) as usize;
    if ihl < 20 || total < ihl || ETH_LEN + total > frame.len() {
        return None;
    }
    Some(Ipv4View {
        src: Ipv4Addr::new(frame[26], frame[27], frame[28], frame[29]),
        dst: Ipv4Addr::new(frame[30], frame[31], frame[32], frame[33]),
        proto: frame[23],
        l4: ETH_LEN + ihl,
        end: ETH_LEN + total,
    })
}

/// A TCP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpView {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flag bits ([`tcp_flags`]).
    pub flags: u8,
    /// Window field.
    pub window: u16,
    /// Offset of the options in the frame.
    pub options: usize,
    /// Offset of the payload in the frame.
    pub payload: usize,
    /// Payload bytes.
    pub payload_len: usize,
}

impl TcpView {
    /// Sequence space the segment occupies: payload plus one each for SYN and FIN.
    pub fn seq_len(&self) -> u32 {
        self.payload_len as u32
            + u32::from(self.flags & tcp_flags::SYN != 0)
            + u32::from(self.flags & tcp_flags::FIN != 0)
    }
}

/// Parses the TCP header of a frame whose IPv4 header is `ip`.
pub fn tcp(frame: &[u8], ip: &Ipv4View) -> Option<TcpView> {
    if ip.proto != IPPROTO_TCP || ip.l4 + 20 > ip.end {
        return None;
    }
    let t = &frame[ip.l4..ip.end];
    let doff = (t[12] >> 4) as usize * 4;
    if doff < 20 || doff > t.len() {
        return None;
    }
    Some(TcpView {
        src_port: u16::from_be_bytes([t[0], t[1]]),
        dst_port: u16::from_be_bytes([t[2], t[3]]),
        seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
        ack: u32::from_be_bytes([t[8], t[9], t[10], t[11]]),
        flags: t[13],
        window: u16::from_be_bytes([t[14], t[15]]),
        options: ip.l4 + 20,
        payload: ip.l4 + doff,
        payload_len: t.len() - doff,
    })
}

/// A UDP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpView {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Offset of the payload in the frame.
    pub payload: usize,
    /// Payload bytes.
    pub payload_len: usize,
}

/// Parses the UDP header of a frame whose IPv4 header is `ip`.
pub fn udp(frame: &[u8], ip: &Ipv4View) -> Option<UdpView> {
    if ip.proto != IPPROTO_UDP || ip.l4 + 8 > ip.end {
        return None;
    }
    let u = &frame[ip.l4..ip.end];
    let len = u16::from_be_bytes([u[4], u[5]]) as usize;
    if len < 8 || len > u.len() {
        return None;
    }
    Some(UdpView {
        src_port: u16::from_be_bytes([u[0], u[1]]),
        dst_port: u16::from_be_bytes([u[2], u[3]]),
        payload: ip.l4 + 8,
        payload_len: len - 8,
    })
}

/// Ones'-complement sum of `data` added to `sum` (not folded).
pub fn sum16(data: &[u8], mut sum: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u16::from_be_bytes([c[0], c[1]]) as u32;
        if sum > 0xFFFF_0000 {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
    }
    if let [b] = chunks.remainder() {
        sum += (*b as u32) << 8;
    }
    sum
}

/// Folds a sum into a checksum field value.
pub fn fold(mut sum: u32) -> u16 {
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// Recomputes the IPv4 header checksum and the TCP or UDP checksum of a frame (after a
/// rewrite). Returns `false` if the frame is not IPv4 TCP/UDP.
pub fn fix_checksums(frame: &mut [u8]) -> bool {
    let Some(ip) = ipv4(frame) else {
        return false;
    };
    frame[24] = 0;
    frame[25] = 0;
    let c = fold(sum16(&frame[ETH_LEN..ip.l4], 0));
    frame[24..26].copy_from_slice(&c.to_be_bytes());
    let at = match ip.proto {
        IPPROTO_TCP if ip.l4 + 20 <= ip.end => ip.l4 + 16,
        IPPROTO_UDP if ip.l4 + 8 <= ip.end => ip.l4 + 6,
        _ => return false,
    };
    frame[at] = 0;
    frame[at + 1] = 0;
    let l4_len = ip.end - ip.l4;
    let mut sum = sum16(&frame[26..34], 0); // source and destination addresses
    sum += ip.proto as u32 + l4_len as u32;
    let c = fold(sum16(&frame[ip.l4..ip.end], sum));
    let c = if ip.proto == IPPROTO_UDP && c == 0 {
        0xFFFF
    } else {
        c
    };
    frame[at..at + 2].copy_from_slice(&c.to_be_bytes());
    true
}

fn ip_header(frame: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4_len: usize) {
    let total = (20 + l4_len) as u16;
    let h = &mut frame[ETH_LEN..ETH_LEN + 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[6] = 0x40; // don't fragment
    h[8] = 64;
    h[9] = proto;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
}

/// An Ethernet/IPv4/UDP frame with valid checksums.
pub fn build_udp(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; ETH_LEN + 28 + payload.len()];
    ip_header(&mut f, *src.ip(), *dst.ip(), IPPROTO_UDP, 8 + payload.len());
    let u = &mut f[ETH_LEN + 20..];
    u[0..2].copy_from_slice(&src.port().to_be_bytes());
    u[2..4].copy_from_slice(&dst.port().to_be_bytes());
    u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u[8..].copy_from_slice(payload);
    fill_ethernet(&mut f);
    fix_checksums(&mut f);
    f
}

/// A TCP segment to build with [`build_tcp`].
#[derive(Clone, Debug, Default)]
pub struct TcpSegment<'a> {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flags.
    pub flags: u8,
    /// Window.
    pub window: u16,
    /// Options, padded by the caller to a multiple of 4 bytes.
    pub options: &'a [u8],
    /// Payload.
    pub payload: &'a [u8],
}

/// An Ethernet/IPv4/TCP frame with valid checksums (e.g. a spoofed SYN in a flood scenario).
pub fn build_tcp(src: SocketAddrV4, dst: SocketAddrV4, seg: &TcpSegment<'_>) -> Vec<u8> {
    let hl = 20 + seg.options.len();
    let mut f = vec![0u8; ETH_LEN + 20 + hl + seg.payload.len()];
    ip_header(
        &mut f,
        *src.ip(),
        *dst.ip(),
        IPPROTO_TCP,
        hl + seg.payload.len(),
    );
    let t = &mut f[ETH_LEN + 20..];
    t[0..2].copy_from_slice(&src.port().to_be_bytes());
    t[2..4].copy_from_slice(&dst.port().to_be_bytes());
    t[4..8].copy_from_slice(&seg.seq.to_be_bytes());
    t[8..12].copy_from_slice(&seg.ack.to_be_bytes());
    t[12] = ((hl / 4) as u8) << 4;
    t[13] = seg.flags;
    t[14..16].copy_from_slice(&seg.window.to_be_bytes());
    t[20..hl].copy_from_slice(seg.options);
    t[hl..].copy_from_slice(seg.payload);
    fill_ethernet(&mut f);
    fix_checksums(&mut f);
    f
}

/// Whether the checksums of an IPv4 TCP/UDP frame are valid.
pub fn checksums_valid(frame: &[u8]) -> bool {
    let mut copy = frame.to_vec();
    fix_checksums(&mut copy) && copy == frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_frames_round_trip_with_valid_checksums() {
        let src = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 4000);
        let dst = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 53);
        let f = build_udp(src, dst, b"hello");
        let ip = ipv4(&f).unwrap();
        assert_eq!(
            (ip.src, ip.dst, ip.proto),
            (*src.ip(), *dst.ip(), IPPROTO_UDP)
        );
        let u = udp(&f, &ip).unwrap();
        assert_eq!((u.src_port, u.dst_port), (4000, 53));
        assert_eq!(&f[u.payload..u.payload + u.payload_len], b"hello");
        assert!(checksums_valid(&f));
        let mut bad = f.clone();
        bad[u.payload] ^= 1;
        assert!(!checksums_valid(&bad));
    }

    #[test]
    fn tcp_frames_round_trip() {
        let src = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 9), 1234);
        let dst = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
        let opts = [2, 4, 0x05, 0xb4]; // MSS 1460
        let f = build_tcp(
            src,
            dst,
            &TcpSegment {
                seq: 77,
                flags: tcp_flags::SYN,
                window: 1000,
                options: &opts,
                ..TcpSegment::default()
            },
        );
        let ip = ipv4(&f).unwrap();
        let t = tcp(&f, &ip).unwrap();
        assert_eq!(
            (t.src_port, t.dst_port, t.seq, t.flags),
            (1234, 80, 77, tcp_flags::SYN)
        );
        assert_eq!(
            (t.payload - t.options, t.payload_len, t.seq_len()),
            (4, 0, 1)
        );
        assert!(checksums_valid(&f));
    }

    #[test]
    fn malformed_frames_are_none_not_panics() {
        let src = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1);
        let f = build_udp(src, src, b"x");
        for n in 0..f.len() {
            if let Some(ip) = ipv4(&f[..n]) {
                let _ = udp(&f[..n], &ip);
                let _ = tcp(&f[..n], &ip);
            }
        }
        let mut g = f.clone();
        g[14] = 0x4f; // IHL 60 > packet
        assert!(ipv4(&g).is_none());
    }
}
