//! Shared by the echo peers: argument parsing and the SO_REUSEPORT listener the
//! thread-per-core servers bind once per thread. Servers run until killed.

use std::net::SocketAddr;

/// `--name value` from the command line, or `default`.
pub fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}: cannot parse {v:?}"))
        })
        .unwrap_or(default)
}

/// The server address (`--port`, default 7878) on loopback.
pub fn addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], arg("--port", 7878u16)))
}

/// A non-blocking listening socket on `addr` with SO_REUSEPORT (one per server thread).
pub fn reuseport_listener(addr: SocketAddr) -> std::net::TcpListener {
    let s =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    s.set_reuse_address(true).expect("SO_REUSEADDR");
    s.set_reuse_port(true).expect("SO_REUSEPORT");
    s.bind(&addr.into()).expect("bind");
    s.listen(4096).expect("listen");
    s.set_nonblocking(true).expect("nonblocking");
    s.into()
}
