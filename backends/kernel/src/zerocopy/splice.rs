//! Proxying between two TCP connections through pipes with splice(2): socket → pipe → socket,
//! both directions at once, one pipe per direction reused for the whole connection (the seed's
//! example made a pipe per call and blocked in select), SPLICE_F_MOVE | SPLICE_F_MORE,
//! non-blocking with readiness waits. With a monitor socket, tee(2) duplicates the
//! client→server bytes into a second pipe that is spliced to the monitor (网络编程进阶主题 §1.3 traffic
//! mirroring): the proxied bytes never enter user space. `copy_proxy` is the user-space
//! baseline (read into a buffer, write it out).

use super::syscall_result;
use crate::net::KernelStream;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use tokio::io::Interest;

/// Bytes a pipe holds by default; one splice moves at most this much.
const PIPE_CHUNK: usize = 64 * 1024;

/// What a proxy moved and what it cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyReport {
    /// Client → server bytes.
    pub up: u64,
    /// Server → client bytes.
    pub down: u64,
    /// Bytes copied to the monitor (tee).
    pub mirrored: u64,
    /// splice/tee (or read/write) calls, EAGAIN attempts included.
    pub syscalls: u64,
    /// Bytes the CPU copied between user and kernel memory (0 for splice).
    pub cpu_copy_bytes: u64,
}

struct Pipe {
    r: OwnedFd,
    w: OwnedFd,
}

impl Pipe {
    fn new() -> io::Result<Pipe> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2 writes two fds into the live array.
        let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        syscall_result(r as isize)?;
        // SAFETY: pipe2 succeeded: both fds are open and owned by nobody else.
        Ok(unsafe {
            Pipe {
                r: OwnedFd::from_raw_fd(fds[0]),
                w: OwnedFd::from_raw_fd(fds[1]),
            }
        })
    }
}

fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    // SAFETY: both fds are open for the call; null offsets (sockets and pipes have none).
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_MORE | libc::SPLICE_F_NONBLOCK,
        )
    };
    syscall_result(n)
}

fn tee(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    // SAFETY: both fds are open pipe ends for the call.
    let n = unsafe { libc::tee(from, to, len, libc::SPLICE_F_NONBLOCK) };
    syscall_result(n)
}

fn shutdown_write(s: &KernelStream) {
    // SAFETY: shutdown on an open socket fd.
    unsafe { libc::shutdown(s.tcp().as_raw_fd(), libc::SHUT_WR) };
}

/// Runs `f` until it succeeds, waiting for `interest` on `s` whenever it would block.
async fn when_ready(
    s: &KernelStream,
    interest: Interest,
    calls: &mut u64,
    mut f: impl FnMut() -> io::Result<usize>,
) -> io::Result<usize> {
    let n = std::cell::Cell::new(0u64);
    let r = s
        .tcp()
        .async_io(interest, || {
            n.set(n.get() + 1);
            loop {
                match f() {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => n.set(n.get() + 1),
                    other => return other,
                }
            }
        })
        .await;
    *calls += n.get();
    r
}

/// One direction: src → pipe → dst (and a tee to `mirror`), until src's EOF.
async fn pump(
    src: &KernelStream,
    dst: &KernelStream,
    mirror: Option<&KernelStream>,
    rep: &mut ProxyReport,
    up: bool,
) -> io::Result<()> {
    let pipe = Pipe::new()?;
    let side = match mirror {
        Some(_) => Some(Pipe::new()?),
        None => None,
    };
    loop {
        let n = when_ready(src, Interest::READABLE, &mut rep.syscalls, || {
            splice(src.tcp().as_raw_fd(), pipe.w.as_raw_fd(), PIPE_CHUNK)
        })
        .await?;
        if n == 0 {
            shutdown_write(dst);
            if let Some(m) = mirror {
                shutdown_write(m);
            }
            return Ok(());
        }
        if let (Some(m), Some(side)) = (mirror, side.as_ref()) {
            // Duplicate the chunk into the (empty, equally large) side pipe in one tee — tee
            // does not consume, so a second call would copy the same first bytes again — then
            // drain the copy to the monitor.
            let t = tee(pipe.r.as_raw_fd(), side.w.as_raw_fd(), n);
            rep.syscalls += 1;
            let t = t?;
            if t != n {
                return Err(io::Error::other(format!("tee copied {t} of {n} bytes")));
            }
            let mut left = t;
            while left > 0 {
                let k = when_ready(m, Interest::WRITABLE, &mut rep.syscalls, || {
                    splice(side.r.as_raw_fd(), m.tcp().as_raw_fd(), left)
                })
                .await?;
                left -= k;
                rep.mirrored += k as u64;
            }
        }
        let mut left = n;
        while left > 0 {
            let k = when_ready(dst, Interest::WRITABLE, &mut rep.syscalls, || {
                splice(pipe.r.as_raw_fd(), dst.tcp().as_raw_fd(), left)
            })
            .await?;
            left -= k;
        }
        if up {
            rep.up += n as u64;
        } else {
            rep.down += n as u64;
        }
    }
}

/// Runs two futures to completion on one task.
async fn join2<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let std::task::Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let std::task::Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    (ra.expect("done"), rb.expect("done"))
}

/// Proxies `client` ↔ `server` with splice until both directions reach EOF; with `mirror`,
/// the client→server bytes are also copied (tee) to it.
pub async fn splice_proxy(
    client: &KernelStream,
    server: &KernelStream,
    mirror: Option<&KernelStream>,
) -> io::Result<ProxyReport> {
    let (mut up, mut down) = (ProxyReport::default(), ProxyReport::default());
    let (a, b) = join2(
        pump(client, server, mirror, &mut up, true),
        pump(server, client, None, &mut down, false),
    )
    .await;
    a?;
    b?;
    Ok(ProxyReport {
        up: up.up,
        down: down.down,
        mirrored: up.mirrored,
        syscalls: up.syscalls + down.syscalls,
        cpu_copy_bytes: 0,
    })
}

/// One direction through a user-space buffer (the baseline).
async fn copy_pump(
    src: &KernelStream,
    dst: &KernelStream,
    rep: &mut ProxyReport,
    up: bool,
) -> io::Result<()> {
    let mut buf = vec![0u8; PIPE_CHUNK];
    loop {
        let n = when_ready(src, Interest::READABLE, &mut rep.syscalls, || {
            // SAFETY: reading into a live buffer of its length from an open socket.
            let n =
                unsafe { libc::read(src.tcp().as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            syscall_result(n)
        })
        .await?;
        if n == 0 {
            shutdown_write(dst);
            return Ok(());
        }
        rep.cpu_copy_bytes += n as u64;
        let mut sent = 0;
        while sent < n {
            let chunk = &buf[sent..n];
            let k = when_ready(dst, Interest::WRITABLE, &mut rep.syscalls, || {
                // SAFETY: writing a live buffer of its length to an open socket.
                let k = unsafe {
                    libc::write(dst.tcp().as_raw_fd(), chunk.as_ptr().cast(), chunk.len())
                };
                syscall_result(k)
            })
            .await?;
            sent += k;
            rep.cpu_copy_bytes += k as u64;
        }
        if up {
            rep.up += n as u64;
        } else {
            rep.down += n as u64;
        }
    }
}

/// Proxies `client` ↔ `server` through user-space buffers (read, then write).
pub async fn copy_proxy(client: &KernelStream, server: &KernelStream) -> io::Result<ProxyReport> {
    let (mut up, mut down) = (ProxyReport::default(), ProxyReport::default());
    let (a, b) = join2(
        copy_pump(client, server, &mut up, true),
        copy_pump(server, client, &mut down, false),
    )
    .await;
    a?;
    b?;
    Ok(ProxyReport {
        up: up.up,
        down: down.down,
        mirrored: 0,
        syscalls: up.syscalls + down.syscalls,
        cpu_copy_bytes: up.cpu_copy_bytes + down.cpu_copy_bytes,
    })
}
