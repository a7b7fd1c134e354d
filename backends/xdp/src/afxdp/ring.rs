//! One AF_XDP ring: a power-of-two array of entries shared with the kernel, with a producer
//! and a consumer index (free-running u32s) and a flags word. The kernel ABI
//! (net/xdp/xsk_queue.h): the producer writes entries, then publishes its index with a
//! release store; the consumer reads the producer index with an acquire load, reads the
//! entries, then publishes its own index with a release store (so the producer does not reuse
//! a slot before the consumer is done with it); the producer reads the consumer index with an
//! acquire load. Each side caches the other's index and re-reads it only when it runs out.

use super::mmap::Mmap;
use std::mem::{align_of, size_of};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// Where a ring's parts sit in its mapping (from XDP_MMAP_OFFSETS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RingLayout {
    pub producer: u64,
    pub consumer: u64,
    pub flags: u64,
    pub desc: u64,
}

impl From<libc::xdp_ring_offset> for RingLayout {
    fn from(o: libc::xdp_ring_offset) -> RingLayout {
        RingLayout {
            producer: o.producer,
            consumer: o.consumer,
            flags: o.flags,
            desc: o.desc,
        }
    }
}

impl RingLayout {
    /// Bytes to map for `size` entries of `T`.
    pub(crate) fn map_len<T>(&self, size: u32) -> usize {
        self.desc as usize + size as usize * size_of::<T>()
    }
}

/// A ring of `T` (u64 frame addresses for fill/completion, `xdp_desc` for rx/tx), seen from
/// userspace. Whether this side produces or consumes is up to the caller: producer rings use
/// [`Ring::reserve`]/[`Ring::write`]/[`Ring::submit`], consumer rings [`Ring::peek`]/
/// [`Ring::read`]/[`Ring::release`].
pub(crate) struct Ring<T: Copy> {
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    flags: *const AtomicU32,
    descs: *mut T,
    mask: u32,
    size: u32,
    cached_prod: u32,
    cached_cons: u32,
    // Last: keeps the pointers above valid for the ring's life.
    _map: Arc<Mmap>,
}

// SAFETY: the raw pointers point into `_map`, which this value keeps alive and which is
// `Send`; the ring is used from one thread at a time (`&mut self` for every index update).
unsafe impl<T: Copy + Send> Send for Ring<T> {}

/// Why a ring's layout does not fit its mapping.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LayoutError(pub String);

impl<T: Copy> Ring<T> {
    /// A ring of `size` entries (a power of two) laid out as `layout` in `map`.
    pub(crate) fn new(
        map: Arc<Mmap>,
        layout: RingLayout,
        size: u32,
    ) -> Result<Ring<T>, LayoutError> {
        if !size.is_power_of_two() {
            return Err(LayoutError(format!(
                "ring size {size} is not a power of two"
            )));
        }
        let len = map.len() as u64;
        for (what, off) in [
            ("producer", layout.producer),
            ("consumer", layout.consumer),
            ("flags", layout.flags),
        ] {
            if off % 4 != 0 || off.checked_add(4).is_none_or(|end| end > len) {
                return Err(LayoutError(format!(
                    "{what} index at offset {off} is misaligned or outside the {len}-byte mapping"
                )));
            }
        }
        let descs_end = (size as u64)
            .checked_mul(size_of::<T>() as u64)
            .and_then(|b| b.checked_add(layout.desc));
        if layout.desc % align_of::<T>() as u64 != 0 || descs_end.is_none_or(|end| end > len) {
            return Err(LayoutError(format!(
                "{size} entries at offset {} are misaligned or outside the {len}-byte mapping",
                layout.desc
            )));
        }
        let base = map.as_ptr();
        // SAFETY: every offset was checked above to lie, aligned, inside the mapping; the
        // kernel (or a test standing in for it) only touches the indices atomically.
        let (producer, consumer, flags, descs) = unsafe {
            (
                base.add(layout.producer as usize) as *const AtomicU32,
                base.add(layout.consumer as usize) as *const AtomicU32,
                base.add(layout.flags as usize) as *const AtomicU32,
                base.add(layout.desc as usize) as *mut T,
            )
        };
        let mut ring = Ring {
            producer,
            consumer,
            flags,
            descs,
            mask: size - 1,
            size,
            cached_prod: 0,
            cached_cons: 0,
            _map: map,
        };
        ring.cached_prod = ring.producer().load(Ordering::Acquire);
        ring.cached_cons = ring.consumer().load(Ordering::Acquire);
        Ok(ring)
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: checked in-bounds and aligned in `new`; the mapping lives as long as `self`.
        unsafe { &*self.producer }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { &*self.consumer }
    }

    /// Entries in the ring.
    pub(crate) fn size(&self) -> u32 {
        self.size
    }

    /// Whether the kernel asked to be woken (XDP_RING_NEED_WAKEUP; only with
    /// XDP_USE_NEED_WAKEUP).
    pub(crate) fn needs_wakeup(&self) -> bool {
        // SAFETY: as for `producer`.
        let flags = unsafe { &*self.flags };
        flags.load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }

    // ----- producer side (fill, tx) -----

    /// How many of `n` entries can be written now (refreshing the consumer index if the
    /// cached one shows too little room).
    pub(crate) fn reserve(&mut self, n: u32) -> u32 {
        let mut free = self.size - self.cached_prod.wrapping_sub(self.cached_cons);
        if free < n {
            self.cached_cons = self.consumer().load(Ordering::Acquire);
            free = self.size - self.cached_prod.wrapping_sub(self.cached_cons);
        }
        free.min(n)
    }

    /// Writes entry `i` past the producer index (`i` below what [`Ring::reserve`] granted).
    pub(crate) fn write(&mut self, i: u32, value: T) {
        assert!(
            self.cached_prod
                .wrapping_add(i)
                .wrapping_sub(self.cached_cons)
                < self.size,
            "write past the reserved room"
        );
        let slot = self.cached_prod.wrapping_add(i) & self.mask;
        // SAFETY: slot < size, inside the checked descriptor array; the slot is free (between
        // the consumer and producer+size), so the kernel does not read it until `submit`.
        unsafe { self.descs.add(slot as usize).write_volatile(value) }
    }

    /// Publishes `n` written entries to the consumer.
    pub(crate) fn submit(&mut self, n: u32) {
        self.cached_prod = self.cached_prod.wrapping_add(n);
        self.producer().store(self.cached_prod, Ordering::Release);
    }

    /// Entries submitted but not yet consumed by the other side (fresh read).
    pub(crate) fn unconsumed(&mut self) -> u32 {
        self.cached_cons = self.consumer().load(Ordering::Acquire);
        self.cached_prod.wrapping_sub(self.cached_cons)
    }

    // ----- consumer side (rx, completion) -----

    /// How many of `n` entries can be read now (refreshing the producer index if the cached
    /// one shows too few).
    pub(crate) fn peek(&mut self, n: u32) -> u32 {
        let mut ready = self.cached_prod.wrapping_sub(self.cached_cons);
        if ready < n {
            self.cached_prod = self.producer().load(Ordering::Acquire);
            ready = self.cached_prod.wrapping_sub(self.cached_cons);
        }
        ready.min(n)
    }

    /// Reads entry `i` past the consumer index (`i` below what [`Ring::peek`] granted).
    pub(crate) fn read(&self, i: u32) -> T {
        assert!(
            i < self.cached_prod.wrapping_sub(self.cached_cons),
            "read past the peeked entries"
        );
        let slot = self.cached_cons.wrapping_add(i) & self.mask;
        // SAFETY: slot < size, inside the checked descriptor array; the entry was published
        // by the producer (acquire load in `peek`) and is not reused before `release`.
        unsafe { self.descs.add(slot as usize).read_volatile() }
    }

    /// Hands `n` read entries back to the producer.
    pub(crate) fn release(&mut self, n: u32) {
        self.cached_cons = self.cached_cons.wrapping_add(n);
        self.consumer().store(self.cached_cons, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYOUT: RingLayout = RingLayout {
        producer: 0,
        consumer: 64,
        flags: 128,
        desc: 192,
    };

    /// Two views of one ring: ours and one standing in for the kernel.
    fn pair(size: u32) -> (Ring<u64>, Ring<u64>) {
        let map = Arc::new(Mmap::anonymous(LAYOUT.map_len::<u64>(size)).unwrap());
        (
            Ring::new(map.clone(), LAYOUT, size).unwrap(),
            Ring::new(map, LAYOUT, size).unwrap(),
        )
    }

    #[test]
    fn entries_cross_in_order_and_wrap_around() {
        let (mut prod, mut cons) = pair(8);
        let mut next = 0u64;
        let mut expect = 0u64;
        for round in 0..50u32 {
            let want = round % 7 + 1;
            let n = prod.reserve(want);
            for i in 0..n {
                prod.write(i, next);
                next += 1;
            }
            prod.submit(n);
            let m = cons.peek(round % 5 + 1);
            for i in 0..m {
                assert_eq!(cons.read(i), expect);
                expect += 1;
            }
            cons.release(m);
        }
        let m = cons.peek(8);
        for i in 0..m {
            assert_eq!(cons.read(i), expect);
            expect += 1;
        }
        cons.release(m);
        assert_eq!(expect, next, "every entry written was read once");
        assert!(next > 8 * 4, "the indices wrapped the ring several times");
    }

    #[test]
    fn producer_never_overruns_the_consumer() {
        let (mut prod, mut cons) = pair(4);
        assert_eq!(prod.reserve(10), 4);
        for i in 0..4 {
            prod.write(i, u64::from(i));
        }
        prod.submit(4);
        assert_eq!(prod.reserve(1), 0, "full until the consumer releases");
        assert_eq!(prod.unconsumed(), 4);
        assert_eq!(cons.peek(2), 2);
        cons.release(2);
        assert_eq!(prod.reserve(4), 2);
        assert_eq!(prod.unconsumed(), 2);
    }

    #[test]
    fn indices_near_u32_max_wrap_cleanly() {
        let map = Arc::new(Mmap::anonymous(LAYOUT.map_len::<u64>(4)).unwrap());
        // SAFETY: test-only: sets both indices inside the fresh mapping before any view exists.
        unsafe {
            (*(map.as_ptr() as *const AtomicU32)).store(u32::MAX - 1, Ordering::Relaxed);
            (*(map.as_ptr().add(64) as *const AtomicU32)).store(u32::MAX - 1, Ordering::Relaxed);
        }
        let mut prod: Ring<u64> = Ring::new(map.clone(), LAYOUT, 4).unwrap();
        let mut cons: Ring<u64> = Ring::new(map, LAYOUT, 4).unwrap();
        assert_eq!(prod.reserve(4), 4);
        for i in 0..4 {
            prod.write(i, 100 + u64::from(i));
        }
        prod.submit(4);
        assert_eq!(cons.peek(4), 4);
        let got: Vec<u64> = (0..4).map(|i| cons.read(i)).collect();
        assert_eq!(got, [100, 101, 102, 103]);
        cons.release(4);
        assert_eq!(prod.unconsumed(), 0);
    }

    #[test]
    fn layouts_outside_the_mapping_are_refused() {
        let map = Arc::new(Mmap::anonymous(4096).unwrap());
        let bad = RingLayout {
            desc: 4000,
            ..LAYOUT
        };
        assert!(Ring::<u64>::new(map.clone(), bad, 64).is_err());
        let odd = RingLayout {
            consumer: 66,
            ..LAYOUT
        };
        assert!(Ring::<u64>::new(map.clone(), odd, 4).is_err());
        assert!(
            Ring::<u64>::new(map, LAYOUT, 6).is_err(),
            "not a power of two"
        );
    }
}
