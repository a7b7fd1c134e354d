//! A worker's send buffers: the buffers of plain sends in flight, held by slot until the
//! completion, and a small LIFO pool of idle ones that the next write takes while it is still
//! warm in cache. A stream that waits for its peer holds no send buffer.

/// Idle send buffers a worker keeps for its streams' next writes (64 KiB each: at most 4 MiB
/// per worker; a burst of more sends at once allocates and frees the rest).
const POOL: usize = 64;

#[derive(Default)]
pub(crate) struct SendBufs {
    /// The buffer of a send in flight, by slot, with the bytes the send asked for.
    held: Vec<Option<(Box<[u8]>, u32)>>,
    /// Idle buffers, most recently freed last.
    pool: Vec<Box<[u8]>>,
}

impl SendBufs {
    /// A buffer of `len` bytes: the most recently freed one, or a new one (`true`).
    pub(crate) fn take(&mut self, len: usize) -> (Box<[u8]>, bool) {
        match self.pool.pop() {
            Some(b) if b.len() == len => (b, false),
            _ => (vec![0u8; len].into_boxed_slice(), true),
        }
    }

    /// Takes back a buffer nothing uses any more; keeps at most [`POOL`].
    pub(crate) fn give(&mut self, buf: Box<[u8]>) {
        if !buf.is_empty() && self.pool.len() < POOL {
            self.pool.push(buf);
        }
    }

    /// Holds `buf` for the send of `len` bytes in slot `idx` until its completion.
    pub(crate) fn hold(&mut self, idx: usize, buf: Box<[u8]>, len: u32) {
        if self.held.len() <= idx {
            self.held.resize_with(idx + 1, || None);
        }
        self.held[idx] = Some((buf, len));
    }

    /// The buffer held for slot `idx`, if any.
    pub(crate) fn unhold(&mut self, idx: usize) -> Option<Box<[u8]>> {
        self.held
            .get_mut(idx)
            .and_then(Option::take)
            .map(|(b, _)| b)
    }

    /// Slot `idx` completed with `res`: a send that sent everything frees its buffer now (a
    /// short send or an error leaves it for the stream to send the rest from).
    pub(crate) fn completed(&mut self, idx: usize, res: i32) {
        if matches!(self.held.get(idx), Some(Some((_, len))) if res >= 0 && res as u32 == *len) {
            self.release(idx);
        }
    }

    /// The buffer held for slot `idx`, if any, goes back to the pool (its send is over).
    pub(crate) fn release(&mut self, idx: usize) {
        if let Some(b) = self.unhold(idx) {
            self.give(b);
        }
    }
}
