//! The UMEM: one page-aligned region of `frames × frame_size` bytes that the kernel and this
//! process share, and the allocator of its frames. A frame belongs either to this process
//! (on the free list, or being filled for TX) or to the kernel (in the fill, rx, tx or
//! completion ring); addresses are byte offsets into the region.

use super::mmap::Mmap;
use std::io;

/// The region and its free frames.
pub(crate) struct Umem {
    map: Mmap,
    frame_size: u32,
    frames: u32,
    free: Vec<u64>,
}

impl Umem {
    /// Maps `frames` frames of `frame_size` bytes, all free. The caller has bounded both.
    pub(crate) fn new(frames: u32, frame_size: u32) -> io::Result<Umem> {
        let len = frames as usize * frame_size as usize;
        let map = Mmap::anonymous(len)?;
        // Popped from the back: hand out low addresses first.
        let free = (0..u64::from(frames))
            .rev()
            .map(|i| i * u64::from(frame_size))
            .collect();
        Ok(Umem {
            map,
            frame_size,
            frames,
            free,
        })
    }

    /// The region's address, for XDP_UMEM_REG.
    pub(crate) fn addr(&self) -> u64 {
        self.map.as_ptr() as u64
    }

    /// The region's length in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.map.len() as u64
    }

    /// Bytes per frame.
    pub(crate) fn frame_size(&self) -> u32 {
        self.frame_size
    }

    /// Frames in the region.
    pub(crate) fn frames(&self) -> u32 {
        self.frames
    }

    /// Frames currently free.
    pub(crate) fn free_frames(&self) -> usize {
        self.free.len()
    }

    /// Takes a free frame.
    pub(crate) fn alloc(&mut self) -> Option<u64> {
        self.free.pop()
    }

    /// Returns the frame holding `addr` (any offset inside it, as rx descriptors carry) to the
    /// free list; false (and nothing freed) for an address outside the region or a frame
    /// already free-listed to capacity.
    pub(crate) fn free(&mut self, addr: u64) -> bool {
        if addr >= self.len() || self.free.len() >= self.frames as usize {
            return false;
        }
        self.free.push(addr - addr % u64::from(self.frame_size));
        true
    }

    /// The `len` bytes at `addr`, if they lie inside one frame.
    pub(crate) fn frame(&self, addr: u64, len: u32) -> Option<&[u8]> {
        let start = self.check(addr, len)?;
        // SAFETY: `check` keeps [start, start+len) inside the mapping; the caller only asks
        // for frames the kernel handed back (rx ring), which the kernel no longer writes.
        Some(unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(start), len as usize) })
    }

    /// The `len` bytes at `addr` to write, if they lie inside one frame.
    pub(crate) fn frame_mut(&mut self, addr: u64, len: u32) -> Option<&mut [u8]> {
        let start = self.check(addr, len)?;
        // SAFETY: as in `frame`; the caller writes only frames it just allocated (not in any
        // ring), and `&mut self` rules out other borrows of the region.
        Some(unsafe { std::slice::from_raw_parts_mut(self.map.as_ptr().add(start), len as usize) })
    }

    fn check(&self, addr: u64, len: u32) -> Option<usize> {
        let in_frame = addr % u64::from(self.frame_size);
        let fits = in_frame + u64::from(len) <= u64::from(self.frame_size);
        (addr < self.len() && fits).then_some(addr as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_handed_out_once_and_recycled_by_base_address() {
        let mut u = Umem::new(4, 2048).unwrap();
        assert_eq!(u.addr() % 4096, 0, "page aligned");
        let got: Vec<u64> = (0..4).map(|_| u.alloc().unwrap()).collect();
        assert_eq!(got, [0, 2048, 4096, 6144]);
        assert_eq!(u.alloc(), None);
        assert!(
            u.free(4096 + 256),
            "an rx address with headroom frees its frame"
        );
        assert_eq!(u.alloc(), Some(4096));
        assert!(!u.free(4 * 2048), "outside the region");
        for a in got {
            assert!(u.free(a));
        }
        assert!(!u.free(0), "more frees than frames are refused");
        assert_eq!(u.free_frames(), 4);
    }

    #[test]
    fn frame_access_stays_inside_one_frame() {
        let mut u = Umem::new(2, 2048).unwrap();
        u.frame_mut(2048, 3).unwrap().copy_from_slice(b"abc");
        assert_eq!(u.frame(2048, 3).unwrap(), b"abc");
        assert!(u.frame(2047, 2).is_none(), "crosses into the next frame");
        assert!(u.frame(2048, 2049).is_none(), "longer than a frame");
        assert!(u.frame(4096, 1).is_none(), "past the region");
        assert!(u.frame(2048 + 2047, 1).is_some());
    }
}
