//! net_af_packet over a veth pair whose other end sits in a network namespace this test makes
//! (removed on drop, also on panic): a frame sent from inside the namespace arrives on the
//! DPDK port byte for byte, and one the DPDK port sends arrives inside. Needs root, iproute2
//! and python3 (the namespace side's raw socket).

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use testbed_dpdk::netns::{self, VethNs};
use testbed_dpdk::{Mempool, MempoolConfig, Port, PortConfig, Vdev};

const PY_SEND: &str = "
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
s.send(bytes.fromhex(sys.argv[2]))
";

const PY_RECV: &str = "
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5))
s.bind((sys.argv[1], 0))
s.settimeout(10)
print('ready', flush=True)
while True:
    f = s.recv(4096)
    if f[14:18] == bytes.fromhex(sys.argv[2]):
        print(f.hex(), flush=True)
        break
";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn frames_cross_the_veth_both_ways() {
    if testbed_testkit::require(netns::usable()).is_none()
        || !testbed_testkit::check(
            netns::run("python3", &["-c", "import socket; socket.AF_PACKET"]).is_ok(),
            "python3 with AF_PACKET sockets is missing",
        )
    {
        return;
    }
    let Some(eal) = common::eal(&[]) else {
        return;
    };
    let veth = VethNs::new("10.213.7.1", "10.213.7.2").unwrap();
    let inner_mac = veth.inner_mac().unwrap();
    let pool = Mempool::new(
        eal,
        "afp",
        MempoolConfig {
            mbufs: 2047,
            cache: 0,
            data_room: 2176,
        },
    )
    .unwrap();
    let dev = Vdev::new(
        eal,
        "net_af_packet_t0",
        &format!("iface={},qpairs=1", veth.outer),
    )
    .unwrap();
    let mut port = Port::open(dev.port_id(), &pool, PortConfig::default()).unwrap();
    let port_mac = port.mac().unwrap();
    let outer_mac: testbed_dpdk::MacAddr =
        std::fs::read_to_string(format!("/sys/class/net/{}/address", veth.outer))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
    assert_eq!(
        port_mac, outer_mac,
        "an af_packet port has its interface's MAC"
    );

    // Namespace -> DPDK.
    let inbound = common::frame(port_mac.0, inner_mac.0, 0x1122_3344);
    veth.exec("python3", &["-c", PY_SEND, &veth.inner, &hex(&inbound)])
        .unwrap();
    let mut got = None;
    let mut rx = Vec::new();
    for _ in 0..5000 {
        rx.clear();
        port.rx_burst(0, &mut rx, 32);
        if let Some(m) = rx
            .iter()
            .find(|m| m.data().get(12..18) == Some(&inbound[12..18]))
        {
            got = Some(m.data().to_vec());
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(
        got.as_deref(),
        Some(&inbound[..]),
        "the frame arrived unchanged"
    );

    // DPDK -> namespace.
    let outbound = common::frame(inner_mac.0, port_mac.0, 0x5566_7788);
    let mut child = veth
        .command("python3")
        .args(["-c", PY_RECV, &veth.inner, "55667788"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let mut m = pool.alloc().unwrap();
    m.append(&outbound).unwrap();
    let mut tx = vec![m];
    assert_eq!(port.tx_burst(0, &mut tx), 1);
    let line = lines
        .next()
        .expect("the namespace side printed the frame")
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(line, hex(&outbound), "the frame arrived unchanged");
    let s = port.stats().unwrap();
    assert!(s.tx_packets >= 1 && s.rx_packets >= 1, "{s:?}");
}
