//! The AF_XDP port for real: a veth pair whose inner end sits in a namespace this test
//! creates; an `XskPort` on the outer end (queue 0). UDP datagrams sent from the namespace
//! must come out of `rx_burst` byte for byte (and not reach the kernel stack), and frames
//! built here and handed to `tx_burst` must reach a UDP socket in the namespace. Once with the
//! redirect program in driver mode (falling back to skb mode if the veth refuses), once in
//! skb mode. Skips, saying why, without root or clang.

use bytes::Bytes;
use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;
use testbed_model::packet::PacketPort;
use testbed_xdp::netns::{Netns, Veth};
use testbed_xdp::{XskConfig, XskError, XskPort};

const RX_PORT: u16 = 9999;
const TX_SRC_PORT: u16 = 4444;
const TX_DST_PORT: u16 = 9998;
const FRAMES: usize = 64;

fn available() -> bool {
    testbed_testkit::require(testbed_xdp::available()).is_some()
}

fn mac(text: &str) -> [u8; 6] {
    let bytes: Vec<u8> = text
        .trim()
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).expect("a hex MAC byte"))
        .collect();
    bytes.try_into().expect("six MAC bytes")
}

fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    for chunk in chunks {
        for pair in chunk.chunks(2) {
            let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            sum += u32::from(word);
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Ethernet + IPv4 + UDP with correct IPv4 and UDP checksums.
fn udp_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let ip_len = 20 + udp_len;
    let mut f = Vec::with_capacity(14 + ip_len);
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&src);
    ip[16..20].copy_from_slice(&dst);
    let c = checksum(&[&ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut udp = [0u8; 8];
    udp[0..2].copy_from_slice(&sport.to_be_bytes());
    udp[2..4].copy_from_slice(&dport.to_be_bytes());
    udp[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
    let pseudo = [
        &src[..],
        &dst[..],
        &[0, 17],
        &(udp_len as u16).to_be_bytes(),
    ]
    .concat();
    let c = match checksum(&[&pseudo, &udp, payload]) {
        0 => 0xffff,
        c => c,
    };
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&udp);
    f.extend_from_slice(payload);
    f
}

/// The UDP payload of an Ethernet/IPv4/UDP frame to `dport`, checking both checksums.
fn udp_payload(frame: &[u8], dport: u16) -> Option<Vec<u8>> {
    if frame.len() < 14 + 20 + 8 || frame[12..14] != [0x08, 0x00] || frame[23] != 17 {
        return None;
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    let ip_len = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
    let ip = frame.get(14..14 + ip_len)?;
    assert_eq!(
        checksum(&[&ip[..ihl]]),
        0,
        "IPv4 header checksum of a received frame"
    );
    let udp = &ip[ihl..];
    if u16::from_be_bytes([udp[2], udp[3]]) != dport {
        return None;
    }
    Some(udp[8..].to_vec())
}

fn open_port(iface: &str, skb_only: bool) -> XskPort {
    let cfg = XskConfig {
        skb_only,
        zero_copy: true, // veth refuses it; the port must fall back to copy mode
        ..XskConfig::default()
    };
    let port = XskPort::open_with(iface, 0, cfg).unwrap();
    eprintln!("{iface}: {:?}", port.mode());
    port
}

fn rx_then_tx(subnet: u8, skb_only: bool) {
    let ns = Netns::new("tbxs").unwrap();
    let outer_ip = format!("10.79.{subnet}.1");
    let inner_ip = format!("10.79.{subnet}.2");
    let veth = Veth::new(&ns, &outer_ip, &inner_ip).unwrap();
    let outer_mac =
        mac(&std::fs::read_to_string(format!("/sys/class/net/{}/address", veth.outer)).unwrap());
    let inner_mac = ns
        .exec("cat", &[&format!("/sys/class/net/{}/address", veth.inner)])
        .unwrap();
    let inner_mac = mac(&String::from_utf8_lossy(&inner_mac.stdout));
    // ARP requests from the namespace would be redirected to the socket too (the program
    // takes every frame of the queue), so the namespace gets the outer MAC statically.
    ns.exec(
        "ip",
        &[
            "neigh",
            "replace",
            &outer_ip,
            "lladdr",
            &format_mac(outer_mac),
            "dev",
            &veth.inner,
            "nud",
            "permanent",
        ],
    )
    .unwrap();

    let mut port = open_port(&veth.outer, skb_only);
    assert_eq!(
        port.mtu(),
        1500,
        "veth default MTU, read from the interface"
    );
    assert_eq!(port.tx_frame_max(), 1518);
    assert_eq!(port.mode().bind, testbed_xdp::BindMode::Copy);
    if skb_only {
        assert_eq!(port.mode().attach, testbed_xdp::AttachMode::Skb);
    }

    // ----- rx: the namespace sends, rx_burst hands the frames out, the stack sees none -----
    let stack = UdpSocket::bind(format!("{outer_ip}:{RX_PORT}")).unwrap();
    stack
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let script = format!(
        "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         for i in range({FRAMES}): s.sendto(b'afxdp-rx-%03d' % i, ('{outer_ip}', {RX_PORT}))"
    );
    ns.exec("python3", &["-c", &script]).unwrap();
    let mut got = Vec::new();
    let mut frames = Vec::new();
    for _ in 0..50 {
        if got.len() >= FRAMES {
            break;
        }
        port.wait_rx(Duration::from_millis(100)).unwrap();
        frames.clear();
        let n = port.rx_burst(&mut frames, 16).unwrap();
        assert_eq!(n, frames.len());
        assert!(n <= 16, "rx_burst honours max");
        got.extend(frames.iter().filter_map(|f| udp_payload(f, RX_PORT)));
    }
    let want: Vec<Vec<u8>> = (0..FRAMES)
        .map(|i| format!("afxdp-rx-{i:03}").into_bytes())
        .collect();
    assert_eq!(got, want, "every datagram, in order, byte for byte");
    let mut buf = [0u8; 64];
    assert!(
        stack.recv(&mut buf).is_err(),
        "the kernel stack saw a datagram the socket should have taken"
    );
    let c = port.counters();
    assert!(c.rx_frames >= FRAMES as u64, "{c:?}");
    assert!(
        c.fill_frames >= 2048 + FRAMES as u64,
        "the fill ring was restocked: {c:?}"
    );
    eprintln!("rx: {c:?}");

    // ----- tx: frames built here reach a UDP socket in the namespace -----
    let recv_script = format!(
        "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         s.bind(('{inner_ip}',{TX_DST_PORT}))\ns.settimeout(3)\nprint('ready',flush=True)\n\
         n=0\ntry:\n  while n<{FRAMES}:\n    d,a=s.recvfrom(2048)\n    \
         print(a[0],a[1],d.decode(),flush=True)\n    n+=1\nexcept socket.timeout:\n  pass\n"
    );
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name(), "python3", "-c", &recv_script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");

    let out: Vec<Bytes> = (0..FRAMES)
        .map(|i| {
            let payload = format!("afxdp-tx-{i:03}");
            Bytes::from(udp_frame(
                outer_mac,
                inner_mac,
                parse_ip(&outer_ip),
                parse_ip(&inner_ip),
                TX_SRC_PORT,
                TX_DST_PORT,
                payload.as_bytes(),
            ))
        })
        .collect();
    let before = port.counters();
    assert!(matches!(
        port.tx_burst(&[out[0].clone(), Bytes::from(vec![0u8; 1519])]),
        Err(XskError::FrameLength {
            index: 1,
            len: 1519,
            min: 14,
            max: 1518
        })
    ));
    assert!(matches!(
        port.tx_burst(&[Bytes::from_static(&[0u8; 5])]),
        Err(XskError::FrameLength {
            index: 0,
            len: 5,
            ..
        })
    ));
    assert_eq!(
        port.counters().tx_frames,
        before.tx_frames,
        "a refused burst queues nothing"
    );
    let mut sent = 0;
    for _ in 0..100 {
        if sent == out.len() {
            break;
        }
        sent += port.tx_burst(&out[sent..]).unwrap();
    }
    assert_eq!(sent, FRAMES, "the tx ring had room for the whole burst");
    for _ in 0..100 {
        if port.tx_in_flight() == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        port.flush().unwrap();
    }
    let received: Vec<String> = lines.map(|l| l.unwrap()).collect();
    child.wait().unwrap();
    let want: Vec<String> = (0..FRAMES)
        .map(|i| format!("{outer_ip} {TX_SRC_PORT} afxdp-tx-{i:03}"))
        .collect();
    assert_eq!(
        received, want,
        "the namespace's socket got every frame, in order"
    );
    let c = port.counters();
    assert_eq!(c.tx_frames, FRAMES as u64);
    assert_eq!(port.tx_in_flight(), 0, "every sent frame completed: {c:?}");
    assert_eq!(c.tx_completions, FRAMES as u64);
    assert!(c.tx_kicks >= 2, "copy mode sends 32 per kick: {c:?}");
    let k = port.kernel_stats().unwrap();
    assert_eq!(k.tx_invalid_descs, 0, "{k:?}");
    assert_eq!(k.rx_invalid_descs, 0, "{k:?}");
    eprintln!("tx: {c:?}\nkernel: {k:?}");

    // ----- dropped: the program is detached, datagrams reach the kernel stack again -----
    drop(port);
    let script = format!(
        "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         for i in range(3): s.sendto(b'after-%d' % i, ('{outer_ip}', {RX_PORT}))"
    );
    ns.exec("python3", &["-c", &script]).unwrap();
    let n = stack
        .recv(&mut buf)
        .expect("after drop the stack gets the datagrams");
    assert_eq!(&buf[..n], b"after-0");
}

fn format_mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn parse_ip(s: &str) -> [u8; 4] {
    s.parse::<std::net::Ipv4Addr>().unwrap().octets()
}

#[test]
fn veth_rx_and_tx_driver_mode_or_fallback() {
    if !available() {
        return;
    }
    rx_then_tx(1, false);
}

#[test]
fn veth_rx_and_tx_skb_mode() {
    if !available() {
        return;
    }
    rx_then_tx(2, true);
}

#[test]
fn missing_interface_is_a_typed_error() {
    if !available() {
        return;
    }
    assert!(matches!(
        XskPort::open("tbnosuchif9", 0),
        Err(XskError::Interface { ref why, .. }) if why == "no such interface"
    ));
}

#[test]
fn checksum_helper_matches_a_known_header() {
    // RFC 1071 style example: a captured IPv4 header whose checksum is 0xb861.
    let mut ip = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];
    assert_eq!(checksum(&[&ip]), 0xb861);
    ip[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
    assert_eq!(checksum(&[&ip]), 0);
}

/// A veth pair with both ends in this namespace, deleted on drop.
struct Pair(String, String);

impl Pair {
    fn new() -> Pair {
        let base = testbed_xdp::netns::unique("tbr");
        let p = Pair(format!("{base}a"), format!("{base}b"));
        testbed_xdp::netns::ip(&["link", "add", &p.0, "type", "veth", "peer", "name", &p.1])
            .unwrap();
        for end in [&p.0, &p.1] {
            testbed_xdp::netns::ip(&["link", "set", end, "up"]).unwrap();
        }
        p
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        let _ = testbed_xdp::netns::ip(&["link", "del", &self.0]);
    }
}

/// A rough rate, not a test of one: frames from an XskPort on one end of a veth pair to an
/// XskPort on the other (copy mode both ways), one thread alternating tx_burst and
/// rx_burst. Run with `cargo test --release -p testbed-xdp --test afxdp -- --ignored
/// --nocapture`.
#[test]
#[ignore = "measures a rate; run by hand"]
#[allow(clippy::disallowed_methods)] // wall-clock rate report; nothing asserts on it
fn rate_xsk_to_xsk_over_veth() {
    if !available() {
        return;
    }
    const TOTAL: u64 = 1_000_000;
    let pair = Pair::new();
    let mut a = XskPort::open(&pair.0, 0).unwrap();
    let mut b = XskPort::open(&pair.1, 0).unwrap();
    eprintln!("modes: tx {:?}, rx {:?}", a.mode(), b.mode());
    let frame = Bytes::from(udp_frame(
        [2, 0, 0, 0, 0, 1],
        [2, 0, 0, 0, 0, 2],
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        1,
        TX_DST_PORT,
        &[0u8; 18], // 60-byte frames
    ));
    let burst: Vec<Bytes> = (0..64).map(|_| frame.clone()).collect();
    let mut rx = Vec::with_capacity(64);
    let (mut sent, mut got, mut idle) = (0u64, 0u64, 0u32);
    let start = std::time::Instant::now();
    while got < TOTAL && idle < 100_000 {
        if sent < TOTAL {
            sent += a.tx_burst(&burst).unwrap() as u64;
        }
        rx.clear();
        let n = b.rx_burst(&mut rx, 64).unwrap() as u64;
        got += rx.iter().filter(|f| f.len() == frame.len()).count() as u64;
        idle = if n == 0 { idle + 1 } else { 0 };
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "sent {sent}, received {got} in {secs:.3}s: tx {:.0} frames/s, rx {:.0} frames/s",
        sent as f64 / secs,
        got as f64 / secs
    );
    eprintln!(
        "tx port: {:?}\n{:?}",
        a.counters(),
        a.kernel_stats().unwrap()
    );
    eprintln!(
        "rx port: {:?}\n{:?}",
        b.counters(),
        b.kernel_stats().unwrap()
    );
}
