//! The kernel backend on real loopback sockets.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use testbed_kernel::{block_on, Kernel, PortReservation};
use testbed_model::{
    timeout, BindError, ConnectError, DatagramSocket, Duration, JoinError, Listener, Net, Rng,
    Runtime,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn reuseport_workers_share_one_port_and_serve_every_connection() {
    const CONNS: usize = 64;
    let kernel = Kernel::builder().workers(2).seed(1).build();
    let port = PortReservation::new("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = port.addr();
    let served = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let results = kernel.run(|w| {
        let (served, done) = (served.clone(), done.clone());
        async move {
            let l = w.listen(addr).unwrap();
            assert_eq!(l.local_addr(), addr);
            let accepted = Arc::new(AtomicUsize::new(0));
            let acc = accepted.clone();
            let sw = w.clone();
            let server = w.spawn(async move {
                loop {
                    let (mut s, _) = l.accept().await.unwrap();
                    acc.fetch_add(1, Ordering::Relaxed);
                    sw.spawn(async move {
                        let mut b = [0u8; 8];
                        s.read_exact(&mut b).await.unwrap();
                        s.write_all(&b).await.unwrap();
                    });
                }
            });
            let mine = (0..CONNS).filter(|i| i % w.count() == w.index());
            for i in mine {
                let mut s = w.connect(addr).await.unwrap();
                s.write_all(&(i as u64).to_le_bytes()).await.unwrap();
                let mut b = [0u8; 8];
                s.read_exact(&mut b).await.unwrap();
                assert_eq!(u64::from_le_bytes(b), i as u64);
                served.fetch_add(1, Ordering::Relaxed);
            }
            done.fetch_add(1, Ordering::SeqCst);
            while done.load(Ordering::SeqCst) < w.count() {
                w.sleep(Duration::from_millis(1)).await;
            }
            server.abort();
            accepted.load(Ordering::Relaxed)
        }
    });
    let accepted: Vec<usize> = results.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(served.load(Ordering::Relaxed), CONNS);
    assert_eq!(
        accepted.iter().sum::<usize>(),
        CONNS,
        "per-worker accepts {accepted:?}"
    );
}

#[test]
fn datagrams_round_trip() {
    block_on(3, |w| async move {
        let a = w.bind_datagram("127.0.0.1:0".parse().unwrap()).unwrap();
        let b = w.bind_datagram("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_eq!(a.max_datagram_size(), 65_507);
        a.send_to(b"hello", b.local_addr()).await.unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"hello"[..], a.local_addr()));
    });
}

#[test]
fn typed_connect_and_bind_errors() {
    block_on(0, |w| async move {
        // A port that was just free: bind, learn it, close it.
        let free = w
            .listen("127.0.0.1:0".parse().unwrap())
            .unwrap()
            .local_addr();
        assert_eq!(w.connect(free).await.unwrap_err(), ConnectError::Refused);
        // TEST-NET-1 is never a local address; binding it touches no network.
        let e = w.listen("192.0.2.1:0".parse().unwrap()).unwrap_err();
        assert_eq!(e, BindError::AddrNotAvailable);
    });
}

#[test]
fn sleep_timeout_spawn_abort_and_panics() {
    block_on(0, |w| async move {
        let t0 = w.now();
        w.sleep(Duration::from_millis(20)).await;
        assert!(w.now() - t0 >= Duration::from_millis(20));
        let never = std::future::pending::<()>();
        assert!(timeout(&w, Duration::from_millis(10), never).await.is_err());
        assert_eq!(
            timeout(&w, Duration::from_secs(5), async { 7 }).await,
            Ok(7)
        );

        let h = w.spawn(async { 1 + 1 });
        assert_eq!(h.await, Ok(2));
        let sw = w.clone();
        let h = w.spawn(async move { sw.sleep(Duration::from_secs(60)).await });
        h.abort();
        assert_eq!(h.await, Err(JoinError::Aborted));
        let h = w.spawn(async { panic!("boom") });
        assert_eq!(h.await, Err(JoinError::Panicked("boom".into())));
    });
}

#[test]
fn rng_streams_follow_the_seed() {
    let draw = |seed| {
        block_on(
            seed,
            |w| async move { (w.rng().next_u64(), w.rng().next_u64()) },
        )
    };
    assert_eq!(draw(5), draw(5));
    assert_ne!(draw(5), draw(6));
    let (a, b) = draw(5);
    assert_ne!(a, b, "successive rng() calls give independent streams");
}

#[test]
fn stream_options_reach_the_socket() {
    use testbed_model::{Keepalive, Stream};
    block_on(4, |w| async move {
        let l = w.listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let s = w.connect(l.local_addr()).await.unwrap();
        let (_peer, _) = l.accept().await.unwrap();
        let ka = Keepalive {
            idle: Duration::from_secs(7),
            interval: Duration::from_secs(3),
            retries: 4,
        };
        s.set_keepalive(Some(ka)).unwrap();
        s.set_user_timeout(Some(Duration::from_secs(5))).unwrap();
        s.set_linger(Some(Duration::ZERO)).unwrap();
        s.set_nodelay(false).unwrap();
        let sock = socket2::SockRef::from(s.tcp());
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), ka.idle);
        assert_eq!(sock.tcp_keepalive_interval().unwrap(), ka.interval);
        assert_eq!(sock.tcp_keepalive_retries().unwrap(), ka.retries);
        assert_eq!(
            sock.tcp_user_timeout().unwrap(),
            Some(Duration::from_secs(5))
        );
        assert_eq!(sock.linger().unwrap(), Some(Duration::ZERO));
        assert!(!sock.tcp_nodelay().unwrap());
        s.set_keepalive(None).unwrap();
        s.set_user_timeout(None).unwrap();
        s.set_linger(None).unwrap();
        assert!(!sock.keepalive().unwrap());
        assert_eq!(sock.tcp_user_timeout().unwrap(), None);
        assert_eq!(sock.linger().unwrap(), None);
    });
}
