//! The XDP filter for real: loaded and verified, frames through BPF_PROG_TEST_RUN, and attached
//! to a veth whose peer sits in a namespace this test creates. Skips, saying why, without
//! root or clang.

use std::net::{Ipv4Addr, UdpSocket};
use testbed_xdp::netns::{Netns, Veth};
use testbed_xdp::{FilterConfig, XdpFilter};

fn available() -> bool {
    testbed_testkit::require(testbed_xdp::available()).is_some()
}

/// Ethernet + IPv4 + UDP (8 payload bytes) from `src`.
fn udp(src: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 8 + 8];
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&(36u16).to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&src);
    f[30..34].copy_from_slice(&[10, 0, 0, 1]);
    f
}

#[test]
fn verdicts_and_counters_through_test_run() {
    if !available() {
        return;
    }
    let mut f = XdpFilter::load().unwrap();
    f.maps.block(Ipv4Addr::new(192, 0, 2, 0), 24).unwrap();
    let (drop, _) = f.test_run(&udp([192, 0, 2, 77])).unwrap();
    let (pass, out) = f.test_run(&udp([198, 51, 100, 1])).unwrap();
    assert_eq!(
        (drop, pass),
        (1, 2),
        "XDP_DROP for the blocked /24, XDP_PASS otherwise"
    );
    assert_eq!(out, udp([198, 51, 100, 1]), "the filter does not rewrite");
    // A per-source limit of 3 packets at a fixed clock: the fourth is dropped.
    f.maps
        .configure(FilterConfig {
            cost_ns: 1_000_000,
            cap_ns: 3_000_000,
            now_ns: 5,
            ..FilterConfig::default()
        })
        .unwrap();
    let v: Vec<u32> = (0..5)
        .map(|_| f.test_run(&udp([203, 0, 113, 9])).unwrap().0)
        .collect();
    assert_eq!(v, [2, 2, 2, 1, 1]);
    let c = f.maps.counters().unwrap();
    assert_eq!(c[0], 1 + 3, "pass: {c:?}");
    assert_eq!(c[1], 1, "drop_blocklist: {c:?}");
    assert_eq!(c[2], 2, "drop_rate: {c:?}");
}

#[test]
fn attached_to_a_veth_it_drops_a_blocked_source() {
    if !available() {
        return;
    }
    let ns = Netns::new("tbns").unwrap();
    let veth = Veth::new(&ns, "10.77.0.1", "10.77.0.2").unwrap();
    let sink = UdpSocket::bind("10.77.0.1:0").unwrap();
    sink.set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    let port = sink.local_addr().unwrap().port();
    let send = |n: u32| {
        let script = format!(
            "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor i in range({n}): s.sendto(b'x',('10.77.0.1',{port}))"
        );
        ns.exec("python3", &["-c", &script]).unwrap();
    };
    let drain = || {
        let mut buf = [0u8; 64];
        let mut n = 0;
        while sink.recv(&mut buf).is_ok() {
            n += 1;
        }
        n
    };
    let mut f = XdpFilter::load().unwrap();
    let mode = f.attach(&veth.outer, false).unwrap();
    eprintln!("attached in {mode:?} mode");
    send(10);
    assert_eq!(drain(), 10, "nothing blocked yet");
    f.maps.block(Ipv4Addr::new(10, 77, 0, 2), 32).unwrap();
    send(10);
    assert_eq!(drain(), 0, "the blocked source's datagrams are dropped");
    let c = f.maps.counters().unwrap();
    assert_eq!(c[1], 10, "drop_blocklist counted them: {c:?}");
    f.detach().unwrap();
    send(10);
    assert_eq!(drain(), 10, "detached: they pass again");
}
