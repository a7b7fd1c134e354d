//! The AF_XDP socket's system calls: create, register the UMEM, size and map the rings, bind,
//! and the wakeups (sendto for TX, recvfrom/poll for RX).

use super::error::XskError;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// An AF_XDP socket, closed on drop.
pub(crate) struct XskSocket {
    fd: OwnedFd,
}

fn check(op: &'static str, rc: libc::c_int) -> Result<(), XskError> {
    if rc < 0 {
        return Err(XskError::sys(op, io::Error::last_os_error()));
    }
    Ok(())
}

impl XskSocket {
    /// A fresh, unbound AF_XDP socket.
    pub(crate) fn new() -> Result<XskSocket, XskError> {
        // SAFETY: socket(2) with constant arguments; the result is checked before use.
        let fd = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        check("socket(AF_XDP)", fd)?;
        // SAFETY: `fd` is a freshly created descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(XskSocket { fd })
    }

    fn setsockopt<T>(
        &self,
        op: &'static str,
        name: libc::c_int,
        value: &T,
    ) -> Result<(), XskError> {
        // SAFETY: `value` is a live, initialised T for the duration of the call and the length
        // passed is its size; the kernel copies it and keeps no pointer.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_XDP,
                name,
                (value as *const T).cast(),
                size_of::<T>() as libc::socklen_t,
            )
        };
        check(op, rc)
    }

    /// Registers the UMEM region (XDP_UMEM_REG).
    pub(crate) fn register_umem(
        &self,
        addr: u64,
        len: u64,
        frame_size: u32,
    ) -> Result<(), XskError> {
        let reg = libc::xdp_umem_reg {
            addr,
            len,
            chunk_size: frame_size,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        self.setsockopt("setsockopt(XDP_UMEM_REG)", libc::XDP_UMEM_REG, &reg)
    }

    /// Sizes one ring (`name` is XDP_{UMEM_FILL,UMEM_COMPLETION,RX,TX}_RING).
    pub(crate) fn set_ring_size(
        &self,
        op: &'static str,
        name: libc::c_int,
        size: u32,
    ) -> Result<(), XskError> {
        self.setsockopt(op, name, &size)
    }

    /// Where each ring's indices and entries sit in its mapping (XDP_MMAP_OFFSETS).
    pub(crate) fn mmap_offsets(&self) -> Result<libc::xdp_mmap_offsets, XskError> {
        let zero = libc::xdp_ring_offset {
            producer: 0,
            consumer: 0,
            desc: 0,
            flags: 0,
        };
        let mut off = libc::xdp_mmap_offsets {
            rx: zero,
            tx: zero,
            fr: zero,
            cr: zero,
        };
        let mut len = size_of::<libc::xdp_mmap_offsets>() as libc::socklen_t;
        // SAFETY: `off` is a live, writable xdp_mmap_offsets and `len` its size; the kernel
        // writes at most `len` bytes and reports how many in `len`.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_XDP,
                libc::XDP_MMAP_OFFSETS,
                (&mut off as *mut libc::xdp_mmap_offsets).cast(),
                &mut len,
            )
        };
        check("getsockopt(XDP_MMAP_OFFSETS)", rc)?;
        if len as usize != size_of::<libc::xdp_mmap_offsets>() {
            return Err(XskError::Abi(format!(
                "XDP_MMAP_OFFSETS returned {len} bytes, expected {} (a kernel before 5.4 without ring flags)",
                size_of::<libc::xdp_mmap_offsets>()
            )));
        }
        Ok(off)
    }

    /// The kernel's per-socket drop and error counts (XDP_STATISTICS).
    pub(crate) fn statistics(&self) -> Result<libc::xdp_statistics, XskError> {
        let mut st = libc::xdp_statistics {
            rx_dropped: 0,
            rx_invalid_descs: 0,
            tx_invalid_descs: 0,
            rx_ring_full: 0,
            rx_fill_ring_empty_descs: 0,
            tx_ring_empty_descs: 0,
        };
        let mut len = size_of::<libc::xdp_statistics>() as libc::socklen_t;
        // SAFETY: as in `mmap_offsets`, for an xdp_statistics (older kernels fill a prefix;
        // the rest stays zero).
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_XDP,
                libc::XDP_STATISTICS,
                (&mut st as *mut libc::xdp_statistics).cast(),
                &mut len,
            )
        };
        check("getsockopt(XDP_STATISTICS)", rc)?;
        Ok(st)
    }

    /// Binds to (`ifindex`, `queue`) with XDP_{COPY,ZEROCOPY,USE_NEED_WAKEUP} `flags`.
    pub(crate) fn bind(&self, ifindex: u32, queue: u32, flags: u16) -> Result<(), XskError> {
        let addr = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: flags,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: queue,
            sxdp_shared_umem_fd: 0,
        };
        // SAFETY: `addr` is a live sockaddr_xdp and the length passed is its size.
        let rc = unsafe {
            libc::bind(
                self.fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_xdp).cast(),
                size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
            )
        };
        check("bind", rc)
    }

    /// Tells the kernel there is TX work: sendto(MSG_DONTWAIT) with no data. In copy mode each
    /// call sends at most a small batch (32 frames) and says EAGAIN if more is left.
    pub(crate) fn kick_tx(&self) -> io::Result<()> {
        // SAFETY: a zero-length send with no buffer and no address: the kernel reads nothing.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Wakes the kernel's RX processing (the fill ring asked for it): recvfrom(MSG_DONTWAIT).
    pub(crate) fn wake_rx(&self) -> io::Result<()> {
        // SAFETY: a zero-length receive with no buffer and no address: the kernel writes
        // nothing.
        let rc = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                std::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout_ms` for the rx ring to hold something; true if it does.
    pub(crate) fn poll_in(&self, timeout_ms: libc::c_int) -> io::Result<bool> {
        let mut p = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd, count 1.
        let rc = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(e);
        }
        Ok(p.revents & libc::POLLIN != 0)
    }
}

impl AsFd for XskSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
