//! MSG_ZEROCOPY sends (SO_ZEROCOPY): the kernel pins the user pages instead of copying them
//! and reports on the socket's error queue when each send's pages are free again
//! (SO_EE_ORIGIN_ZEROCOPY notifications, each covering a range of send ids). A notification
//! flagged SO_EE_CODE_ZEROCOPY_COPIED means the kernel copied after all — always the case on
//! loopback, where the receiving socket needs its own copy. We count both.

use super::syscall_result;
use crate::net::KernelStream;
use std::io;
use std::os::fd::AsRawFd;
use tokio::io::Interest;

const CHUNK: usize = 64 * 1024;
const SO_EE_ORIGIN_ZEROCOPY: u8 = 5;
const SO_EE_CODE_ZEROCOPY_COPIED: u8 = 1;

/// What a MSG_ZEROCOPY transfer did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZeroCopyReport {
    /// Bytes sent.
    pub bytes: u64,
    /// Successful send(2) calls (each gets a notification id).
    pub sends: u64,
    /// Sends the kernel completed without copying.
    pub zerocopied: u64,
    /// Sends the kernel copied anyway (SO_EE_CODE_ZEROCOPY_COPIED).
    pub copied: u64,
    /// Error-queue notifications read.
    pub notifications: u64,
    /// All syscalls (setsockopt, send attempts, recvmsg attempts).
    pub syscalls: u64,
}

/// Sends `data` with MSG_ZEROCOPY and waits until every send's completion arrived (so `data`
/// may be reused afterwards).
pub async fn send_zerocopy(stream: &KernelStream, data: &[u8]) -> io::Result<ZeroCopyReport> {
    let fd = stream.tcp().as_raw_fd();
    let one: libc::c_int = 1;
    // SAFETY: setsockopt with a pointer to a live c_int and its size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ZEROCOPY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    syscall_result(r as isize)?;
    let mut rep = ZeroCopyReport {
        syscalls: 1,
        ..ZeroCopyReport::default()
    };
    let mut sent = 0;
    while sent < data.len() {
        let chunk = &data[sent..(sent + CHUNK).min(data.len())];
        let calls = std::cell::Cell::new(0u64);
        let n = stream
            .tcp()
            .async_io(Interest::WRITABLE, || {
                calls.set(calls.get() + 1);
                // SAFETY: `chunk` stays borrowed (alive and unchanged) until this function has
                // read every completion below, so the kernel may keep pointing at it.
                let n = unsafe {
                    libc::send(fd, chunk.as_ptr().cast(), chunk.len(), libc::MSG_ZEROCOPY)
                };
                syscall_result(n)
            })
            .await;
        rep.syscalls += calls.get();
        match n {
            Ok(n) => {
                sent += n;
                rep.sends += 1;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        drain(stream, &mut rep, false).await?;
    }
    rep.bytes = sent as u64;
    while rep.zerocopied + rep.copied < rep.sends {
        drain(stream, &mut rep, true).await?;
    }
    Ok(rep)
}

/// Reads completion notifications; with `wait`, waits for at least one.
async fn drain(stream: &KernelStream, rep: &mut ZeroCopyReport, wait: bool) -> io::Result<()> {
    let fd = stream.tcp().as_raw_fd();
    loop {
        let calls = std::cell::Cell::new(0u64);
        let read = || {
            calls.set(calls.get() + 1);
            read_notification(fd)
        };
        let r = if wait {
            stream.tcp().async_io(Interest::ERROR, read).await
        } else {
            read()
        };
        rep.syscalls += calls.get();
        match r {
            Ok((lo, hi, copied)) => {
                let n = hi.wrapping_sub(lo) as u64 + 1;
                rep.notifications += 1;
                if copied {
                    rep.copied += n;
                } else {
                    rep.zerocopied += n;
                }
                if wait {
                    return Ok(());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && !wait => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// One error-queue message: the range of send ids it completes and whether they were copied.
fn read_notification(fd: libc::c_int) -> io::Result<(u32, u32, bool)> {
    let mut control = [0u64; 16]; // u64s for cmsg alignment
                                  // SAFETY: an all-zero msghdr is valid; we point it at our live control buffer.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: recvmsg fills the control buffer described by `msg` (no data iovecs).
    let r = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE) };
    syscall_result(r)?;
    // SAFETY: walking the control messages recvmsg wrote, with the libc macros, within
    // `msg_controllen`.
    let mut cm = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cm.is_null() {
        // SAFETY: `cm` is a valid cmsghdr inside the buffer (CMSG_FIRSTHDR/NXTHDR).
        let h = unsafe { &*cm };
        let recverr = (h.cmsg_level == libc::SOL_IP && h.cmsg_type == libc::IP_RECVERR)
            || (h.cmsg_level == libc::SOL_IPV6 && h.cmsg_type == libc::IPV6_RECVERR);
        if recverr {
            // SAFETY: an IP(V6)_RECVERR message carries a sock_extended_err; read it
            // unaligned from the data area.
            let e: libc::sock_extended_err =
                unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cm).cast()) };
            if e.ee_errno == 0 && e.ee_origin == SO_EE_ORIGIN_ZEROCOPY {
                return Ok((
                    e.ee_info,
                    e.ee_data,
                    e.ee_code & SO_EE_CODE_ZEROCOPY_COPIED != 0,
                ));
            }
        }
        // SAFETY: as above.
        cm = unsafe { libc::CMSG_NXTHDR(&msg, cm) };
    }
    Err(io::Error::other(
        "error-queue message without a zerocopy notification",
    ))
}
