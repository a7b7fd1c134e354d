//! Two stacks back to back over an in-memory port pair, each on its own thread (optionally
//! through the impairment bridge on a third): echo round trips, a 1 MiB echo, TCP recovering
//! from loss by retransmission, UDP, refused connects, static neighbours. The server and
//! client code is generic over `model::Net + model::Runtime`. No timing assertions: only
//! generous liveness bounds.

use smoltcp::wire::Ipv4Cidr;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use testbed_model::packet::PacketPort;
use testbed_model::{
    timeout, AcceptError, ConnectError, DatagramSocket, Duration, Listener, Net, Runtime, Stream,
};
use testbed_stack::bridge::{Bridge, BridgeConfig, Latency, LinkConfig};
use testbed_stack::mem::MemPort;
use testbed_stack::{Stack, StackBuilder, StackStats};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 7, 0, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 7, 0, 2);
const PORT: u16 = 7000;
const LIVENESS: Duration = Duration::from_secs(120);

fn stack(ip: Ipv4Addr, last: u8, port: MemPort) -> Stack<MemPort> {
    stack_with(ip, last, port, |b| b)
}

fn stack_with(
    ip: Ipv4Addr,
    last: u8,
    port: MemPort,
    cfg: impl FnOnce(StackBuilder) -> StackBuilder,
) -> Stack<MemPort> {
    let mut s = cfg(StackBuilder::new()
        .ip(Ipv4Cidr::new(ip, 24))
        .mac([0x02, 0, 0, 0, 0, last])
        .seed(u64::from(last)))
    .build(port)
    .expect("valid config");
    s.set_idle_wait(|p: &mut MemPort, d| {
        p.wait_rx(d);
    });
    s
}

// ---------------------------------------------------------------- generic workload

async fn echo_connection<S: Stream>(mut s: S) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn echo_server<H: Net + Runtime>(h: H, stop: Arc<AtomicBool>) {
    let l = h
        .listen(SocketAddr::new(SERVER.into(), PORT))
        .expect("port free");
    let h2 = h.clone();
    let acceptor = h.spawn(async move {
        loop {
            match l.accept().await {
                Ok((s, peer)) => {
                    assert_eq!(s.peer_addr(), peer);
                    drop(h2.spawn(echo_connection(s)));
                }
                Err(AcceptError::Closed) => return,
                Err(_) => continue,
            }
        }
    });
    while !stop.load(Ordering::SeqCst) {
        h.sleep(Duration::from_millis(2)).await;
    }
    acceptor.abort();
}

async fn round_trips<H: Net + Runtime>(h: H, id: u64, n: u64, size: usize) -> Result<(), String> {
    let mut s = h
        .connect(SocketAddr::new(SERVER.into(), PORT))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut msg, mut back) = (vec![0u8; size], vec![0u8; size]);
    for i in 0..n {
        for (j, b) in msg.iter_mut().enumerate() {
            *b = (id as u8) ^ (i as u8).wrapping_mul(31) ^ (j as u8);
        }
        s.write_all(&msg).await.map_err(|e| format!("write: {e}"))?;
        s.read_exact(&mut back)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if back != msg {
            return Err(format!("client {id}: round trip {i} echoed other bytes"));
        }
    }
    Ok(())
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Writes `len` bytes (in a task) while reading the echo; returns what came back.
async fn bulk_echo<H: Net + Runtime>(h: H, len: usize) -> Result<Vec<u8>, String> {
    let s = h
        .connect(SocketAddr::new(SERVER.into(), PORT))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut rd, mut wr) = tokio::io::split(s);
    let data = pattern(len);
    let writer = h.spawn(async move {
        for chunk in data.chunks(10_000) {
            wr.write_all(chunk).await?;
        }
        Ok::<_, std::io::Error>(wr)
    });
    let mut back = vec![0u8; len];
    rd.read_exact(&mut back)
        .await
        .map_err(|e| format!("read: {e}"))?;
    writer
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("write: {e}"))?;
    Ok(back)
}

// ---------------------------------------------------------------- harness

/// Runs the echo server on one stack and `client` on another, connected by `link` (a
/// direct in-memory pair when `None`, else through a bridge thread). Returns the client's
/// result and both stacks' counters.
fn with_pair<T: Send + 'static, Fut>(
    link: Option<LinkConfig>,
    client: impl FnOnce(testbed_stack::Handle) -> Fut + Send + 'static,
) -> (T, StackStats, StackStats)
where
    Fut: std::future::Future<Output = T> + 'static,
{
    let (server_port, client_port, bridge) = match link {
        None => {
            let (a, b) = MemPort::pair(4096);
            (a, b, None)
        }
        Some(link) => {
            let (server_port, a) = MemPort::pair(4096);
            let (b, client_port) = MemPort::pair(4096);
            let bridge = Bridge::new(BridgeConfig::symmetric(link, 42), a, b).expect("valid");
            (server_port, client_port, Some(bridge))
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let bridge_stop = Arc::new(AtomicBool::new(false));
    let bridge_thread = bridge.map(|mut b| {
        let stop = bridge_stop.clone();
        std::thread::spawn(move || {
            b.run(&stop, Duration::from_micros(200))
                .expect("bridge runs");
            b.stats()
        })
    });
    let s2 = stop.clone();
    let server = std::thread::spawn(move || {
        let mut st = stack(SERVER, 1, server_port);
        st.run(|h| echo_server(h, s2)).expect("server stack runs");
        (st.stats(), st.into_port())
    });
    let client_thread = std::thread::spawn(move || {
        let mut st = stack(CLIENT, 2, client_port);
        let out = st
            .run(|h| {
                let h2 = h.clone();
                async move { timeout(&h2, LIVENESS, client(h)).await }
            })
            .expect("client stack runs");
        (out, st.stats(), st.into_port())
    });
    // Ports stay alive until every thread is done (a dropped end disconnects the other).
    let (out, client_stats, _client_port) = client_thread.join().expect("client thread");
    stop.store(true, Ordering::SeqCst);
    let (server_stats, _server_port) = server.join().expect("server thread");
    bridge_stop.store(true, Ordering::SeqCst);
    if let Some(t) = bridge_thread {
        let b = t.join().expect("bridge thread");
        eprintln!("bridge: {b:?}");
    }
    (
        out.expect("client finished within the liveness bound"),
        server_stats,
        client_stats,
    )
}

// ---------------------------------------------------------------- tests

#[test]
fn echo_round_trips_between_two_stacks() {
    let (results, server, client) = with_pair(None, |h| async move {
        let tasks: Vec<_> = (0..4)
            .map(|id| h.spawn(round_trips(h.clone(), id, 200, 64)))
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.map_err(|e| e.to_string()).and_then(|r| r));
        }
        out
    });
    for r in &results {
        assert_eq!(r, &Ok(()));
    }
    assert_eq!(results.len(), 4);
    assert_eq!(server.accepted, 4);
    assert_eq!(client.connected, 4);
    eprintln!("server {server:?}\nclient {client:?}");
}

#[test]
fn one_mebibyte_echoed_intact() {
    const LEN: usize = 1 << 20;
    let (back, server, client) = with_pair(None, |h| bulk_echo(h, LEN));
    let back = back.expect("bulk echo");
    assert!(back == pattern(LEN), "echo differs from what was sent");
    // 1 MiB each way in ≤1460-byte segments.
    assert!(client.frames_tx >= (LEN / 1460) as u64);
    assert!(server.frames_tx >= (LEN / 1460) as u64);
    eprintln!("server {server:?}\nclient {client:?}");
}

#[test]
fn tcp_recovers_from_loss_through_the_bridge() {
    const LEN: usize = 128 << 10;
    let link = LinkConfig {
        latency: Latency::Fixed(Duration::from_millis(1)),
        jitter: Duration::from_micros(200),
        loss: 0.02,
        ..LinkConfig::default()
    };
    let (back, server, client) = with_pair(Some(link), |h| bulk_echo(h, LEN));
    let back = back.expect("bulk echo over a lossy link");
    assert!(back == pattern(LEN), "echo differs from what was sent");
    let retransmits = server.tcp_retransmits + client.tcp_retransmits;
    assert!(
        retransmits > 0,
        "2% loss on ~180 segments each way needs retransmissions"
    );
    eprintln!("server {server:?}\nclient {client:?}");
}

#[test]
fn bind_errors_oversized_datagrams_and_refused_connects() {
    let (out, _, client) = with_pair(None, |h| async move {
        // Nothing listens on PORT + 1 of the server: smoltcp answers the SYN with RST.
        let refused = h
            .connect(SocketAddr::new(SERVER.into(), PORT + 1))
            .await
            .map(|_| ());
        let a = h
            .bind_datagram(SocketAddr::new(CLIENT.into(), 0))
            .expect("bind");
        let b = h
            .bind_datagram(SocketAddr::new(CLIENT.into(), 6000))
            .expect("bind");
        let taken = h
            .bind_datagram(SocketAddr::new(CLIENT.into(), 6000))
            .map(|_| ());
        let elsewhere = h
            .bind_datagram(SocketAddr::new(SERVER.into(), 6001))
            .map(|_| ());
        let too_big = a
            .send_to(&vec![0u8; a.max_datagram_size() + 1], b.local_addr())
            .await
            .map_err(|e| e.kind());
        (refused, taken, elsewhere, too_big, a.max_datagram_size())
    });
    let (refused, taken, elsewhere, too_big, max) = out;
    assert_eq!(refused, Err(ConnectError::Refused));
    assert_eq!(taken, Err(testbed_model::BindError::AddrInUse));
    assert_eq!(elsewhere, Err(testbed_model::BindError::AddrNotAvailable));
    assert_eq!(too_big, Err(std::io::ErrorKind::InvalidInput));
    assert_eq!(max, 1472);
    assert_eq!(client.connected, 0);
}

#[test]
fn udp_datagrams_round_trip_between_stacks() {
    let (a_port, b_port) = MemPort::pair(4096);
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let server = std::thread::spawn(move || {
        let mut st = stack(SERVER, 1, a_port);
        st.run(|h| async move {
            let sock = h
                .bind_datagram(SocketAddr::new(SERVER.into(), 5353))
                .expect("bind");
            let mut buf = [0u8; 2048];
            let mut echoed = 0u32;
            while !s2.load(Ordering::SeqCst) {
                let r = timeout(&h, Duration::from_millis(5), sock.recv_from(&mut buf)).await;
                if let Ok(Ok((n, from))) = r {
                    sock.send_to(&buf[..n], from).await.expect("send");
                    echoed += 1;
                }
            }
            echoed
        })
        .map(|echoed| (echoed, st.into_port()))
        .expect("server runs")
    });
    let mut st = stack(CLIENT, 2, b_port);
    let got = st
        .run(|h| async move {
            let sock = h
                .bind_datagram(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0))
                .expect("bind");
            let to = SocketAddr::new(SERVER.into(), 5353);
            let mut buf = [0u8; 2048];
            let mut got = Vec::new();
            for i in 0..50u32 {
                let msg = vec![i as u8; 100 + i as usize * 20];
                // A datagram may be lost while ARP resolves: retry a few times.
                for _ in 0..20 {
                    sock.send_to(&msg, to).await.expect("send");
                    match timeout(&h, Duration::from_millis(200), sock.recv_from(&mut buf)).await {
                        Ok(Ok((n, from))) => {
                            assert_eq!(from, to);
                            got.push(buf[..n] == msg[..]);
                            break;
                        }
                        _ => continue,
                    }
                }
            }
            got
        })
        .expect("client runs");
    stop.store(true, Ordering::SeqCst);
    let (echoed, _port) = server.join().expect("server thread");
    assert_eq!(got.len(), 50, "every datagram came back");
    assert!(got.iter().all(|&ok| ok), "echoed bytes match");
    assert!(echoed >= 50);
}

#[test]
fn static_neighbor_is_used_without_arp() {
    let (port, mut wire) = MemPort::pair(64);
    let mut st = stack(CLIENT, 2, port);
    let silent = Ipv4Addr::new(10, 7, 0, 9);
    let silent_mac = [0x02, 0xaa, 0, 0, 0, 9];
    assert!(st.insert_neighbor(silent, silent_mac));
    st.run(|h| async move {
        let s = h
            .bind_datagram(SocketAddr::new(CLIENT.into(), 4000))
            .expect("bind");
        s.send_to(
            b"to a host that never answers ARP",
            SocketAddr::new(silent.into(), 9),
        )
        .await
        .expect("send");
        h.sleep(Duration::from_millis(20)).await;
    })
    .expect("runs");
    let mut frames = Vec::new();
    wire.rx_burst(&mut frames, 64).expect("rx");
    assert!(
        frames.iter().all(|f| f[12..14] != [0x08, 0x06]),
        "no ARP request left the stack"
    );
    let udp: Vec<_> = frames
        .iter()
        .filter(|f| f.len() > 23 && f[12..14] == [0x08, 0x00] && f[23] == 17)
        .collect();
    assert_eq!(udp.len(), 1, "the datagram left: {frames:?}");
    assert_eq!(&udp[0][0..6], &silent_mac, "to the static MAC");
    assert_eq!(&udp[0][30..34], &silent.octets());
    assert!(
        testbed_model::wire::checksums_valid(udp[0]),
        "software checksums"
    );
    assert_eq!(st.stats().static_arp_answers, 1);
}

#[test]
fn tcp_survives_loss_duplication_and_reordering() {
    const LEN: usize = 64 << 10;
    let link = LinkConfig {
        latency: Latency::Uniform {
            min: Duration::from_micros(500),
            max: Duration::from_millis(2),
        },
        loss: 0.03,
        duplicate: 0.03,
        reorder: 0.05,
        reorder_delay: Duration::from_millis(3),
        ..LinkConfig::default()
    };
    let (back, server, client) = with_pair(Some(link), |h| bulk_echo(h, LEN));
    let back = back.expect("bulk echo over a bad link");
    assert!(back == pattern(LEN), "echo differs from what was sent");
    eprintln!("server {server:?}\nclient {client:?}");
}

#[test]
fn a_full_backlog_refuses_and_accept_rearms_the_slot() {
    let (a_port, b_port) = MemPort::pair(4096);
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let acc2 = accepted.clone();
    let accept_now = Arc::new(AtomicBool::new(false));
    let go = accept_now.clone();
    let server = std::thread::spawn(move || {
        let mut st = stack_with(SERVER, 1, a_port, |b| b.backlog(1));
        st.run(|h| async move {
            let l = h
                .listen(SocketAddr::new(SERVER.into(), PORT))
                .expect("listen");
            let mut held = Vec::new();
            while !s2.load(Ordering::SeqCst) {
                if go.load(Ordering::SeqCst) {
                    if let Ok(Ok((s, _))) = timeout(&h, Duration::from_millis(5), l.accept()).await
                    {
                        held.push(s);
                        acc2.fetch_add(1, Ordering::SeqCst);
                    }
                } else {
                    h.sleep(Duration::from_millis(2)).await;
                }
            }
        })
        .expect("server runs");
        st.into_port()
    });
    let mut st = stack(CLIENT, 2, b_port);
    let (first, second, third) = st
        .run(|h| async move {
            let to = SocketAddr::new(SERVER.into(), PORT);
            // The one slot takes the first connection (established, not accepted) ...
            let first = h.connect(to).await.map(|_| ());
            // ... so nothing listens for the second: smoltcp answers RST.
            let second = h.connect(to).await.map(|_| ());
            accept_now.store(true, Ordering::SeqCst);
            while accepted.load(Ordering::SeqCst) < 1 {
                h.sleep(Duration::from_millis(2)).await;
            }
            // Accepting re-armed the slot.
            let third = h.connect(to).await.map(|_| ());
            (first, second, third)
        })
        .expect("client runs");
    stop.store(true, Ordering::SeqCst);
    let _port = server.join().expect("server thread");
    assert_eq!(first, Ok(()));
    assert_eq!(second, Err(ConnectError::Refused));
    assert_eq!(third, Ok(()));
}

#[test]
fn connects_without_an_answer_time_out_and_off_subnet_is_unreachable() {
    let (port, _silent_wire) = MemPort::pair(64);
    let mut st = stack_with(CLIENT, 2, port, |b| {
        b.connect_timeout(Duration::from_millis(300))
    });
    let (nobody, off_subnet, v6) = st
        .run(|h| async move {
            let nobody = h
                .connect(SocketAddr::new(Ipv4Addr::new(10, 7, 0, 99).into(), 80))
                .await
                .map(|_| ());
            let off = h
                .connect(SocketAddr::new(Ipv4Addr::new(192, 0, 2, 1).into(), 80))
                .await
                .map(|_| ());
            let v6 = h
                .connect("[::1]:80".parse().expect("literal"))
                .await
                .map(|_| ());
            (nobody, off, v6)
        })
        .expect("runs");
    assert_eq!(nobody, Err(ConnectError::TimedOut));
    assert_eq!(off_subnet, Err(ConnectError::Unreachable));
    assert_eq!(v6, Err(ConnectError::Unreachable));
}
