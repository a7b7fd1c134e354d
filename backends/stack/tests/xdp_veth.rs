//! The stack on real frames: an AF_XDP port (`testbed_xdp::XskPort`, copy mode) on the outer
//! end of a veth pair whose inner end sits in a namespace this test creates. A Python client
//! in the namespace (the kernel's TCP) connects to the stack's echo server, sends messages
//! from 1 byte to 100 kB and must get each back byte for byte. smoltcp answers the
//! namespace's ARP itself; the namespace's TX checksum offload is turned off, since frames
//! the kernel sends over a veth carry partial checksums and smoltcp verifies them.
//! Skips, saying why, without root or the XDP objects.

use smoltcp::wire::Ipv4Cidr;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use testbed_model::{Duration, Listener, Net, Runtime, Stream};
use testbed_stack::StackBuilder;
use testbed_xdp::netns::{Netns, Veth};
use testbed_xdp::{XskConfig, XskPort};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const OUTER: Ipv4Addr = Ipv4Addr::new(10, 81, 0, 1);
const INNER: Ipv4Addr = Ipv4Addr::new(10, 81, 0, 2);
const PORT: u16 = 7000;

const CLIENT: &str = r#"
import socket, sys
s = socket.create_connection(('10.81.0.1', 7000), timeout=20)
total = 0
for size in (1, 100, 1460, 5000, 100000):
    msg = bytes((i * 7 + size) % 256 for i in range(size))
    s.sendall(msg)
    got = b''
    while len(got) < size:
        d = s.recv(65536)
        if not d:
            sys.exit('eof after %d of %d' % (len(got), size))
        got += d
    if got != msg:
        sys.exit('echo of %d bytes differs' % size)
    total += size
s.close()
print('OK', total)
"#;

fn available() -> bool {
    testbed_testkit::require(testbed_xdp::available()).is_some()
        && testbed_testkit::tool("python3", "apt-get install python3")
        && testbed_testkit::tool("ethtool", "apt-get install ethtool")
}

async fn echo<S: Stream>(mut s: S) -> usize {
    let (mut buf, mut total) = (vec![0u8; 16 * 1024], 0);
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return total,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return total;
                }
                total += n;
            }
        }
    }
}

#[test]
fn kernel_tcp_client_in_a_namespace_echoes_through_the_stack() {
    if !available() {
        return;
    }
    let ns = Netns::new("tbst").unwrap();
    let veth = Veth::new(&ns, &OUTER.to_string(), &INNER.to_string()).unwrap();
    ns.exec("ethtool", &["-K", &veth.inner, "tx", "off"])
        .unwrap();
    let outer_mac = veth.outer_mac().unwrap();
    let inner_mac = veth.inner_mac(&ns).unwrap();

    let port = XskPort::open_with(&veth.outer, 0, XskConfig::default()).unwrap();
    eprintln!("{}: {:?}", veth.outer, port.mode());
    let mut stack = StackBuilder::new()
        .ip(Ipv4Cidr::new(OUTER, 24))
        .mac(outer_mac)
        .seed(11)
        .build(port)
        .unwrap();
    // The namespace asks ARP for the stack's address; smoltcp answers and learns its MAC
    // from the request.
    let _ = inner_mac;
    stack.set_idle_wait(|p: &mut XskPort, d| {
        let _ = p.wait_rx(d);
    });

    let result: Arc<Mutex<Option<std::process::Output>>> = Arc::default();
    let r2 = result.clone();
    let ns_name = ns.name().to_string();
    let echoed = stack
        .run(|h| async move {
            let l = h.listen(SocketAddr::new(OUTER.into(), PORT)).unwrap();
            let h2 = h.clone();
            let server = h.spawn(async move {
                let (s, peer) = l.accept().await.expect("accept");
                assert_eq!(peer.ip(), std::net::IpAddr::V4(INNER));
                let _ = h2;
                echo(s).await
            });
            let client = std::thread::spawn(move || {
                let out = std::process::Command::new("ip")
                    .args(["netns", "exec", &ns_name, "python3", "-c", CLIENT])
                    .output()
                    .expect("spawn the client");
                *r2.lock().unwrap() = Some(out);
            });
            // Liveness bound: the client gives up after 20 s of silence itself.
            let deadline = h.now() + Duration::from_secs(120);
            while result.lock().unwrap().is_none() && h.now() < deadline {
                h.sleep(Duration::from_millis(5)).await;
            }
            client.join().expect("client thread");
            let echoed = testbed_model::timeout(&h, Duration::from_secs(5), server).await;
            (echoed, result.lock().unwrap().take())
        })
        .unwrap();
    let (server, out) = echoed;
    let out = out.expect("the client finished");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim() == "OK 106561",
        "client failed: {stdout} {stderr}"
    );
    let echoed = server
        .expect("server ends when the client closes")
        .expect("server task");
    assert_eq!(echoed, 106_561);
    let stats = stack.stats();
    eprintln!("stack: {stats:?}\nport: {:?}", stack.port().counters());
    assert_eq!(stats.accepted, 1);
    assert!(stats.frames_rx > 70 && stats.frames_tx > 70, "{stats:?}");
}

const SERVER: &str = r#"
import socket
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('10.82.0.2', 7001))
l.listen(1)
l.settimeout(20)
print('ready', flush=True)
c, a = l.accept()
c.settimeout(20)
n = 0
while True:
    d = c.recv(65536)
    if not d:
        break
    c.sendall(d)
    n += len(d)
c.close()
print('echoed', n, flush=True)
"#;

#[test]
fn stack_connects_to_a_kernel_server_via_a_static_neighbour() {
    use std::io::{BufRead, BufReader};
    if !available() {
        return;
    }
    let (outer, inner) = (Ipv4Addr::new(10, 82, 0, 1), Ipv4Addr::new(10, 82, 0, 2));
    let ns = Netns::new("tbsc").unwrap();
    let veth = Veth::new(&ns, &outer.to_string(), &inner.to_string()).unwrap();
    ns.exec("ethtool", &["-K", &veth.inner, "tx", "off"])
        .unwrap();
    let outer_mac = veth.outer_mac().unwrap();
    let inner_mac = veth.inner_mac(&ns).unwrap();
    let mut child = std::process::Command::new("ip")
        .args(["netns", "exec", ns.name(), "python3", "-c", SERVER])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");

    let port = XskPort::open_with(&veth.outer, 0, XskConfig::default()).unwrap();
    let mut stack = StackBuilder::new()
        .ip(Ipv4Cidr::new(outer, 24))
        .mac(outer_mac)
        .seed(12)
        .neighbor(inner, inner_mac)
        .build(port)
        .unwrap();
    stack.set_idle_wait(|p: &mut XskPort, d| {
        let _ = p.wait_rx(d);
    });
    const LEN: usize = 200_000;
    let back = stack
        .run(|h| async move {
            let s = h
                .connect(SocketAddr::new(inner.into(), 7001))
                .await
                .expect("connect");
            assert_eq!(s.peer_addr(), SocketAddr::new(inner.into(), 7001));
            let (mut rd, mut wr) = tokio::io::split(s);
            let data: Vec<u8> = (0..LEN).map(|i| (i % 253) as u8).collect();
            let expect = data.clone();
            let writer = h.spawn(async move {
                wr.write_all(&data).await.expect("write");
                wr.shutdown().await.expect("shutdown");
                wr
            });
            let mut back = Vec::new();
            let read =
                testbed_model::timeout(&h, Duration::from_secs(60), rd.read_to_end(&mut back));
            read.await.expect("liveness bound").expect("read");
            let _wr = writer.await.expect("writer");
            back == expect
        })
        .unwrap();
    assert!(
        back,
        "the kernel echoed exactly what the stack sent, then FIN"
    );
    assert_eq!(
        lines.next().unwrap().unwrap(),
        format!("echoed {LEN}"),
        "the server saw every byte and our FIN"
    );
    let _ = child.wait();
    let stats = stack.stats();
    eprintln!("stack: {stats:?}");
    assert!(stats.static_arp_answers >= 1, "{stats:?}");
    assert_eq!(stats.connected, 1);
}
