//! Operations whose waiter went away. Most are cancelled at once, their memory kept until the
//! kernel is done with it. A dropped stream's last send is left to finish instead, as closing
//! a kernel socket lets its unsent data drain, but only until a deadline: then it is cancelled
//! too, so a peer that never reads cannot hold the send's buffer and socket for ever.

use super::{Driver, Slot, IGNORE};
use io_uring::opcode;
use std::any::Any;
use std::time::Instant;

/// Sends a worker lets linger at once; past this, a dropped stream's send is cancelled at
/// once (each holds a socket and up to a 64 KiB buffer: at most 16 MiB per worker).
const MAX_LINGERING: usize = 256;

impl Driver {
    /// The waiter of slot `idx` gives up: cancel the operation and keep `keep` (its buffers,
    /// its fd) alive until the completion.
    pub(crate) fn abandon(&mut self, idx: usize, keep: Box<dyn Any>) {
        self.orphan(idx, keep, None);
    }

    /// A dropped stream's send in slot `idx`: let it finish (it sends all its bytes, see
    /// `MSG_WAITALL` in net.rs), keeping `keep` alive until then, but cancel it if it has not
    /// finished within `RingConfig::drop_linger`.
    #[allow(clippy::disallowed_methods)] // a real backend reads the real clock
    pub(crate) fn linger(&mut self, idx: usize, keep: Box<dyn Any>) {
        self.orphan(idx, keep, Some(Instant::now() + self.drop_linger));
    }

    fn orphan(&mut self, idx: usize, keep: Box<dyn Any>, until: Option<Instant>) {
        match self.slots[idx] {
            Some(Slot::Done(..)) => {
                self.slots[idx] = None;
                self.send_bufs.release(idx);
                self.free.push(idx);
            }
            Some(Slot::Waiting(_)) => {
                self.slots[idx] = Some(Slot::Orphaned(keep));
                self.cancel_or_linger(idx, until);
            }
            Some(Slot::Multi { .. }) => {
                let Some(Slot::Multi {
                    queue, finished, ..
                }) = self.slots[idx].take()
                else {
                    unreachable!("matched above")
                };
                // Completions nobody will read: give back the provided buffers they hold.
                for (_, flags) in queue {
                    self.recycle_from(flags);
                }
                if finished {
                    self.free.push(idx);
                } else {
                    // Still armed (a multishot recv, or a SEND_ZC awaiting its notification):
                    // keep its memory until the last completion; cancel it (unless it
                    // lingers) so the socket is not held open by the ring.
                    self.slots[idx] = Some(Slot::Orphaned(keep));
                    self.cancel_or_linger(idx, until);
                }
            }
            _ => {}
        }
    }

    fn cancel_or_linger(&mut self, idx: usize, until: Option<Instant>) {
        match until {
            None => self.cancel(idx),
            Some(t) => {
                self.stats.lingering_sends += 1;
                if self.lingering.len() < MAX_LINGERING {
                    self.lingering.push((t, idx));
                } else {
                    self.stats.linger_timeouts += 1;
                    self.cancel(idx);
                }
            }
        }
    }

    fn cancel(&mut self, idx: usize) {
        let _ = self.push(
            opcode::AsyncCancel::new(idx as u64)
                .build()
                .user_data(IGNORE),
        );
    }

    /// The earliest deadline of a lingering send (a blocking park wakes for it).
    pub(super) fn next_linger(&self) -> Option<Instant> {
        self.lingering.iter().map(|&(t, _)| t).min()
    }

    /// Cancels the lingering sends whose deadline has passed.
    pub(super) fn expire_lingers(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.lingering.len() {
            if self.lingering[i].0 <= now {
                let (_, idx) = self.lingering.swap_remove(i);
                self.stats.linger_timeouts += 1;
                self.cancel(idx);
            } else {
                i += 1;
            }
        }
    }

    /// The orphaned operation in slot `idx` completed (or, a SEND_ZC, sent its bytes): it no
    /// longer lingers.
    pub(super) fn orphan_done(&mut self, idx: usize) {
        if !self.lingering.is_empty() {
            self.lingering.retain(|&(_, i)| i != idx);
        }
    }
}
