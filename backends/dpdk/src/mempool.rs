//! Packet-buffer pools (`rte_pktmbuf_pool_create`). A [`Mempool`] borrows the [`Eal`]; every
//! [`Mbuf`] borrows its pool, so no buffer outlives the memory it lives in.
#![allow(unsafe_code)]

use crate::{sys, Eal, Mbuf, MempoolError};
use std::ffi::CString;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// Longest pool name DPDK accepts (RTE_MEMPOOL_NAMESIZE minus the "MP_" prefix it adds).
pub const MEMPOOL_NAME_MAX: usize = 24;

/// Sizes of an mbuf pool. The defaults are the seed's l2fwd (8191 mbufs, cache 250, 2 KiB of
/// data room after 128 bytes of headroom).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MempoolConfig {
    /// Number of mbufs (2^k - 1 is optimal for DPDK's ring).
    pub mbufs: u32,
    /// Per-lcore cache size (at most 512, and at most `mbufs / 1.5`).
    pub cache: u32,
    /// Bytes per buffer, headroom included.
    pub data_room: u16,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            mbufs: 8191,
            cache: 250,
            data_room: (sys::RTE_MBUF_DEFAULT_BUF_SIZE) as u16,
        }
    }
}

/// A pool of packet buffers, freed (`rte_mempool_free`) on drop.
#[derive(Debug)]
pub struct Mempool<'e> {
    ptr: NonNull<sys::rte_mempool>,
    mbufs: u32,
    _eal: PhantomData<&'e Eal>,
}

// SAFETY: the pool uses DPDK's default multi-producer/multi-consumer ring ops, so allocating
// and freeing from several threads is what it is built for; the pointer itself is just an
// address of EAL-owned memory.
unsafe impl Send for Mempool<'_> {}
// SAFETY: as for Send; every method takes &self and calls thread-safe mempool functions.
unsafe impl Sync for Mempool<'_> {}

impl<'e> Mempool<'e> {
    /// Creates a pool named `name` (unique in the process) on the caller's NUMA socket.
    pub fn new(_eal: &'e Eal, name: &str, cfg: MempoolConfig) -> Result<Mempool<'e>, MempoolError> {
        if name.is_empty() || name.len() > MEMPOOL_NAME_MAX {
            return Err(MempoolError::BadName(name.to_owned()));
        }
        let cname = CString::new(name).map_err(|_| MempoolError::BadName(name.to_owned()))?;
        if cfg.mbufs == 0 {
            return Err(MempoolError::BadSize("mbufs must be at least 1"));
        }
        if cfg.cache > 512 || u64::from(cfg.cache) * 3 > u64::from(cfg.mbufs) * 2 {
            return Err(MempoolError::BadSize(
                "cache must be at most 512 and mbufs / 1.5",
            ));
        }
        if u32::from(cfg.data_room) <= sys::RTE_PKTMBUF_HEADROOM {
            return Err(MempoolError::BadSize(
                "data_room must exceed the 128-byte headroom",
            ));
        }
        // SAFETY: the EAL is initialized (borrowed); the name is a valid C string that DPDK
        // copies; the remaining arguments are plain numbers, checked above.
        let p = unsafe {
            sys::rte_pktmbuf_pool_create(
                cname.as_ptr(),
                cfg.mbufs,
                cfg.cache,
                0,
                cfg.data_room,
                sys::rte_socket_id() as i32,
            )
        };
        let ptr = NonNull::new(p).ok_or_else(|| MempoolError::Create {
            name: name.to_owned(),
            errno: sys::last_errno(),
        })?;
        Ok(Mempool {
            ptr,
            mbufs: cfg.mbufs,
            _eal: PhantomData,
        })
    }

    /// Takes one mbuf (empty, default headroom), or `None` when the pool is exhausted.
    pub fn alloc(&self) -> Option<Mbuf<'_>> {
        // SAFETY: the pool is live (self); rte_pktmbuf_alloc returns NULL or an mbuf that is
        // now exclusively ours.
        let m = unsafe { sys::tb_pktmbuf_alloc(self.ptr.as_ptr()) };
        // SAFETY: m is an owned mbuf of this pool, which the returned Mbuf borrows.
        NonNull::new(m).map(|m| unsafe { Mbuf::from_raw(m) })
    }

    /// Appends `n` fresh mbufs to `out` at once (`rte_pktmbuf_alloc_bulk`), all or none.
    pub fn alloc_bulk<'p>(&'p self, out: &mut Vec<Mbuf<'p>>, n: usize) -> Result<(), MempoolError> {
        let n32 = u32::try_from(n).map_err(|_| MempoolError::Exhausted)?;
        out.reserve(n);
        let len = out.len();
        // SAFETY: the spare capacity holds at least n pointers (reserve); Mbuf is a
        // transparent wrapper of a non-null mbuf pointer, so DPDK may write the array.
        let rc = unsafe {
            sys::tb_pktmbuf_alloc_bulk(
                self.ptr.as_ptr(),
                out.as_mut_ptr().add(len).cast::<*mut sys::rte_mbuf>(),
                n32,
            )
        };
        if rc != 0 {
            return Err(MempoolError::Exhausted);
        }
        // SAFETY: on success DPDK wrote n valid, owned, non-null mbuf pointers there.
        unsafe { out.set_len(len + n) };
        Ok(())
    }

    /// Mbufs currently free in the pool (including per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is live; a read of its counters.
        unsafe { sys::rte_mempool_avail_count(self.ptr.as_ptr()) }
    }

    /// Mbufs the pool was created with.
    pub fn capacity(&self) -> u32 {
        self.mbufs
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.ptr.as_ptr()
    }
}

impl Drop for Mempool<'_> {
    fn drop(&mut self) {
        // SAFETY: no Mbuf or Port of this pool is left (they borrow it), so nothing refers to
        // its memory any more.
        unsafe { sys::rte_mempool_free(self.ptr.as_ptr()) };
    }
}
