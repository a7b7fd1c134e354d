//! The server half of every row: what the peer process does with its connections. Runs on
//! the server host at start and again after a restart; never panics on a peer's behaviour
//! (errors end the connection they happened on) and every connection's buffer is bounded.

use super::setup::SERVER_PORT;
use crate::row::RowId;
use std::net::{Ipv4Addr, SocketAddr};
use testbed_model::{AcceptError, DatagramSocket, Duration, Listener, Net, Runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Request and reply size of the write-write-read rows (two writes of half each).
pub(crate) const RPC_BYTES: usize = 200;
/// How long the backlog row's server leaves its accept queue unserved.
pub(crate) const BACKLOG_ACCEPT_DELAY: Duration = Duration::from_secs(2);
/// How long the unread-data server keeps the socket before it exits.
pub(crate) const UNREAD_HOLD: Duration = Duration::from_millis(200);
/// Size of the bulk rows' acknowledgement (the byte count, little endian).
pub(crate) const BULK_ACK_BYTES: usize = 8;

/// Datagram tags of the UDP rows' server.
pub(crate) mod tag {
    /// A counted datagram.
    pub const DATA: u8 = b'D';
    /// "How many did you count?"; answered with `COUNT` + u64 LE.
    pub const QUERY: u8 = b'Q';
    /// The answer to `QUERY`.
    pub const COUNT: u8 = b'C';
    /// "How long was this?"; answered with `LEN` + u32 LE.
    pub const SIZE: u8 = b'O';
    /// The answer to `SIZE`.
    pub const LEN: u8 = b'L';
}

/// What a row's server does with one accepted connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Echoes everything back.
    Echo,
    /// Reads the 5-byte request, then closes (the process exits with nothing unread).
    ReadThenClose,
    /// Reads nothing, waits [`UNREAD_HOLD`], then closes with the request unread.
    CloseUnread,
    /// Closes at once.
    CloseAtOnce,
    /// Reads until end of stream, then closes.
    Drain,
    /// Answers each [`RPC_BYTES`] request with [`RPC_BYTES`].
    Rpc,
    /// Reads until end of stream, then writes the byte count.
    Sink,
}

fn role(row: RowId) -> Option<Role> {
    Some(match row {
        RowId::PeerExitClean => Role::ReadThenClose,
        RowId::PeerExitUnread => Role::CloseUnread,
        RowId::WriteAfterClose => Role::CloseAtOnce,
        RowId::TimeWait | RowId::Backlog => Role::Drain,
        RowId::Nagle | RowId::NoDelay => Role::Rpc,
        RowId::Bulk0 | RowId::Bulk1 => Role::Sink,
        RowId::UdpLoss | RowId::UdpOversize => return None,
        _ => Role::Echo,
    })
}

/// Runs `row`'s server on [`SERVER_PORT`] until its host goes away. Returns early only when
/// it cannot bind (the client half then reports the connect failure).
pub async fn serve<R: Runtime, N: Net>(row: RowId, rt: R, net: N) {
    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, SERVER_PORT));
    let Some(role) = role(row) else {
        if let Ok(sock) = net.bind_datagram(addr) {
            serve_datagrams(sock).await;
        }
        return;
    };
    let Ok(listener) = net.listen(addr) else {
        return;
    };
    if row == RowId::Backlog {
        rt.sleep(BACKLOG_ACCEPT_DELAY).await;
    }
    loop {
        let s = match listener.accept().await {
            Ok((s, _)) => s,
            Err(AcceptError::Closed) => return,
            // A transient accept error (EMFILE, …): back off briefly, keep serving.
            Err(_) => {
                rt.sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let rt2 = rt.clone();
        drop(rt.spawn(handle(role, rt2, s)));
    }
}

async fn handle<R: Runtime, S: AsyncReadExt + AsyncWriteExt + Unpin>(role: Role, rt: R, mut s: S) {
    let mut buf = vec![0u8; 64 * 1024];
    match role {
        Role::Echo => {
            while let Ok(n @ 1..) = s.read(&mut buf).await {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
        Role::ReadThenClose => {
            let _ = s.read_exact(&mut buf[..5]).await;
        }
        Role::CloseUnread => rt.sleep(UNREAD_HOLD).await,
        Role::CloseAtOnce => {}
        Role::Drain => while let Ok(1..) = s.read(&mut buf).await {},
        Role::Rpc => {
            while s.read_exact(&mut buf[..RPC_BYTES]).await.is_ok() {
                if s.write_all(&buf[..RPC_BYTES]).await.is_err() {
                    return;
                }
            }
        }
        Role::Sink => {
            let mut total = 0u64;
            while let Ok(n @ 1..) = s.read(&mut buf).await {
                total += n as u64;
            }
            let _ = s.write_all(&total.to_le_bytes()).await;
            let _ = s.shutdown().await;
        }
    }
}

async fn serve_datagrams<D: DatagramSocket>(sock: D) {
    let mut count = 0u64;
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf).await else {
            return;
        };
        let reply: Option<Vec<u8>> = match buf.first().copied().filter(|_| n > 0) {
            Some(tag::DATA) => {
                count += 1;
                None
            }
            Some(tag::QUERY) => Some([&[tag::COUNT][..], &count.to_le_bytes()].concat()),
            Some(tag::SIZE) => Some([&[tag::LEN][..], &(n as u32).to_le_bytes()].concat()),
            _ => None,
        };
        if let Some(r) = reply {
            let _ = sock.send_to(&r, from).await;
        }
    }
}
