//! The ring of one worker: operations submitted with a slot number as user data, completions
//! routed back to the slot (waking its waiter), timers parked on with `submit_with_args`, and
//! cancellation that keeps an abandoned operation's buffers alive until its completion.

use io_uring::{opcode, squeue, types, IoUring};
use std::any::Any;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

pub use crate::ring_stats::{RingSetup, RingStats};

mod orphans;

/// User data of operations whose completion nobody waits for (cancellations).
const IGNORE: u64 = u64::MAX;
/// User data of the read on the wake eventfd (other threads' wakes interrupt a ring wait).
const WAKE: u64 = u64::MAX - 1;

enum Slot {
    /// Submitted; the waiter to wake.
    Waiting(Option<Waker>),
    /// Completed: result and flags, until the waiter collects them.
    Done(i32, u32),
    /// The waiter went away: keep what the kernel may still touch until the completion.
    Orphaned(#[allow(dead_code)] Box<dyn Any>),
    /// A multishot operation (or one with a trailing notification): completions queue up
    /// until one arrives without IORING_CQE_F_MORE.
    Multi {
        queue: std::collections::VecDeque<(i32, u32)>,
        waker: Option<Waker>,
        finished: bool,
    },
}

/// Sizes and options of one worker's ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RingConfig {
    /// Submission queue entries.
    pub entries: u32,
    /// Completion queue entries (at least `entries`).
    pub cq_entries: u32,
    /// SQPOLL with this idle time, instead of the task-run modes.
    pub sqpoll_idle_ms: Option<u32>,
    /// Provided buffers to start with, and the most there may be (a power of two).
    pub bufs_initial: u16,
    /// See `bufs_initial`.
    pub bufs_max: u16,
    /// Bytes per provided buffer.
    pub buf_size: usize,
    /// Interrupt coalescing: when recent blocking waits each returned several completions,
    /// the next one asks for about half as many and the kernel holds it back (without waking
    /// the thread) for at most this long, after which any completion ends it. Needs
    /// IORING_FEAT_MIN_TIMEOUT (Linux 6.12); zero turns it off.
    pub coalesce_wait: Duration,
    /// How long a dropped stream's last send may take to finish before it is cancelled.
    pub drop_linger: Duration,
}

/// IORING_ENTER_GETEVENTS: the enter also runs deferred completion work and reaps.
const ENTER_GETEVENTS: u32 = 1;
/// How long a batch wait (see [`Driver::want_completions`]) may hold back completions that
/// arrived before the batch is whole: with IORING_FEAT_MIN_TIMEOUT the kernel returns after
/// this long as soon as it has at least one; without it, the wait is a timed one of this length.
const BATCH_WAIT: Duration = Duration::from_micros(500);
/// Interrupt coalescing starts when blocking waits averaged at least this many completions.
const COALESCE_FROM: u32 = 4;
/// The most completions a coalesced wait asks for.
const COALESCE_MAX: u32 = 64;

/// Flush rounds after a CQ overflow before the next park takes over (a bound, not a loop).
const OVERFLOW_FLUSHES: usize = 8;

pub(crate) struct Driver {
    ring: IoUring,
    /// Provided buffers for multishot recv (None where the kernel cannot register them).
    /// Declared after `ring`, so it is freed after the ring is closed.
    pub(crate) bufs: Option<crate::bufring::BufRing>,
    /// Registered buffers and file table (None where the kernel refuses them); also after
    /// `ring`.
    pub(crate) fixed: Option<crate::fixed::Fixed>,
    /// An eventfd other threads write to wake this ring; a read on it is kept in flight.
    wake_fd: std::sync::Arc<std::os::fd::OwnedFd>,
    wake_buf: Box<[u8; 8]>,
    wake_armed: bool,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    timers: BTreeMap<(Instant, u64), Waker>,
    timer_seq: u64,
    /// Sends of dropped streams left to finish, with the deadline at which they are cancelled
    /// (see `orphans`).
    lingering: Vec<(Instant, usize)>,
    pub(crate) stats: RingStats,
    /// Reused buffer for reaped completions (user data, result, flags).
    cqe_scratch: Vec<(u64, i32, u32)>,
    /// Reused buffer for the wakers a park runs.
    woken_scratch: Vec<Waker>,
    /// Buffers of plain sends in flight, and idle ones (see `submit_send_owned`).
    send_bufs: crate::send_bufs::SendBufs,
    /// Kernel features the operations may use.
    pub(crate) features: crate::probe::Features,
    /// Streams alive on this worker (the provided-buffer ring grows with them).
    live_streams: usize,
    /// The ring's setup has IORING_SETUP_TASKRUN_FLAG: an empty SQ without the flag means a
    /// non-blocking pass needs no syscall.
    taskrun_flag: bool,
    /// Completions a waiter expects before it can go on (a linked chain's outstanding
    /// results), set for the next blocking park only; 0 or 1: wait for one.
    want: usize,
    /// Completions per blocking wait, a moving average in 1/16ths (interrupt coalescing).
    batch_avg16: u32,
    /// See `RingConfig::coalesce_wait`; zero where the kernel lacks IORING_FEAT_MIN_TIMEOUT.
    coalesce_wait: Duration,
    /// See `RingConfig::drop_linger`.
    drop_linger: Duration,
}

thread_local! {
    static DRIVER: RefCell<Option<Driver>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's driver (panics outside a worker: a backend bug, not input).
pub(crate) fn with<R>(f: impl FnOnce(&mut Driver) -> R) -> R {
    DRIVER.with(|d| {
        f(d.borrow_mut()
            .as_mut()
            .expect("io_uring driver: not on a uring worker thread"))
    })
}

pub(crate) fn install(
    cfg: &RingConfig,
    features: crate::probe::Features,
) -> io::Result<std::sync::Arc<std::os::fd::OwnedFd>> {
    let (mut ring, setup) = crate::ring_setup::build_ring(cfg)?;
    // SAFETY: eventfd returns a new fd (or -1), which we own from here on.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd nobody else owns.
    let wake_fd = std::sync::Arc::new(unsafe {
        <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd)
    });
    let handle = wake_fd.clone();
    let bufs_max = cfg
        .bufs_max
        .max(1)
        .checked_next_power_of_two()
        .unwrap_or(32768);
    let bufs = crate::bufring::BufRing::new(
        &ring.submitter(),
        bufs_max,
        cfg.bufs_initial.min(bufs_max),
        cfg.buf_size,
    )
    .ok();
    let fixed = crate::fixed::Fixed::new(&ring.submitter()).ok();
    let taskrun_flag = matches!(setup, RingSetup::DeferTaskrun | RingSetup::CoopTaskrun);
    let coalesce_wait = if ring.params().is_feature_min_timeout() {
        cfg.coalesce_wait
    } else {
        Duration::ZERO
    };
    let stats = RingStats {
        setup,
        cq_entries: ring.completion().capacity() as u64,
        provided_buffers: bufs.as_ref().map_or(0, |b| b.count() as u64),
        ..RingStats::default()
    };
    DRIVER.with(|d| {
        *d.borrow_mut() = Some(Driver {
            ring,
            bufs,
            fixed,
            wake_fd,
            wake_buf: Box::new([0; 8]),
            wake_armed: false,
            slots: Vec::new(),
            free: Vec::new(),
            timers: BTreeMap::new(),
            timer_seq: 0,
            lingering: Vec::new(),
            stats,
            cqe_scratch: Vec::new(),
            woken_scratch: Vec::new(),
            send_bufs: Default::default(),
            features,
            live_streams: 0,
            taskrun_flag,
            want: 0,
            batch_avg16: 0,
            coalesce_wait,
            drop_linger: cfg.drop_linger,
        })
    });
    Ok(handle)
}

/// Wakes the ring owning `fd` from another thread (writes the eventfd).
pub(crate) fn wake_remote(fd: &std::os::fd::OwnedFd) {
    let one: u64 = 1;
    // SAFETY: an 8-byte write from a live u64 to an open eventfd.
    unsafe {
        libc::write(
            std::os::fd::AsRawFd::as_raw_fd(fd),
            (&one as *const u64).cast(),
            8,
        )
    };
}

pub(crate) fn uninstall() {
    DRIVER.with(|d| d.borrow_mut().take());
}

impl Driver {
    fn push(&mut self, e: squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every entry we push points at memory owned by its slot's waiter or, once
            // abandoned, by the slot itself (Orphaned), alive until the completion arrives.
            if unsafe { self.ring.submission().push(&e) }.is_ok() {
                return Ok(());
            }
            self.ring.submit()?; // the queue is full: hand it to the kernel first
            self.stats.enters += 1;
        }
    }

    /// Submits `e`; returns its slot.
    ///
    /// # Safety
    /// The memory `e` points at must stay valid until the slot completes: the caller keeps it
    /// while it waits and hands it to [`Driver::abandon`] if it stops waiting.
    pub(crate) unsafe fn submit(&mut self, e: squeue::Entry) -> io::Result<usize> {
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        self.slots[idx] = Some(Slot::Waiting(None));
        if let Err(err) = self.push(e.user_data(idx as u64)) {
            self.slots[idx] = None;
            self.free.push(idx);
            return Err(err);
        }
        self.stats.submitted += 1;
        Ok(idx)
    }

    /// Submits `ops` as one batch, contiguous in the submission queue, so a chain linked with
    /// IOSQE_IO_LINK reaches the kernel whole (also under SQPOLL, where the kernel thread may
    /// read the queue between two single pushes). `true` marks an operation with several
    /// completions (collect with [`Driver::poll_multi`]). Returns the slots in order.
    ///
    /// # Safety
    /// As [`Driver::submit`], for every operation.
    pub(crate) unsafe fn submit_batch(
        &mut self,
        ops: &[(squeue::Entry, bool)],
    ) -> io::Result<Vec<usize>> {
        let mut idxs = Vec::with_capacity(ops.len());
        let mut entries = Vec::with_capacity(ops.len());
        for (e, multi) in ops {
            let idx = match self.free.pop() {
                Some(i) => i,
                None => {
                    self.slots.push(None);
                    self.slots.len() - 1
                }
            };
            self.slots[idx] = Some(if *multi {
                Slot::Multi {
                    queue: std::collections::VecDeque::new(),
                    waker: None,
                    finished: false,
                }
            } else {
                Slot::Waiting(None)
            });
            idxs.push(idx);
            entries.push(e.clone().user_data(idx as u64));
        }
        let sqpoll = self.ring.params().is_setup_sqpoll();
        let mut tries = 0;
        // SAFETY: forwarded to the caller's promise for every entry.
        while unsafe { self.ring.submission().push_multiple(&entries) }.is_err() {
            tries += 1;
            let r = if tries > 1000 {
                Err(io::Error::other(
                    "io_uring submission queue too small for a linked chain",
                ))
            } else {
                self.stats.enters += 1;
                self.ring.submit().and_then(|_| {
                    if sqpoll {
                        self.ring.submitter().squeue_wait().map(drop)
                    } else {
                        Ok(())
                    }
                })
            };
            if let Err(err) = r {
                for &idx in &idxs {
                    self.slots[idx] = None;
                    self.free.push(idx);
                }
                return Err(err);
            }
        }
        self.stats.submitted += ops.len() as u64;
        Ok(idxs)
    }

    /// Submits a multishot operation (or one followed by a notification); collect its
    /// completions with [`Driver::poll_multi`].
    ///
    /// # Safety
    /// As [`Driver::submit`], until the slot reports its end (`None`).
    pub(crate) unsafe fn submit_multi(&mut self, e: squeue::Entry) -> io::Result<usize> {
        // SAFETY: forwarded to the caller's promise.
        let idx = unsafe { self.submit(e)? };
        self.slots[idx] = Some(Slot::Multi {
            queue: std::collections::VecDeque::new(),
            waker: None,
            finished: false,
        });
        Ok(idx)
    }

    /// The next completion of multishot slot `idx`; `None` once the operation ended (the slot
    /// is then free).
    pub(crate) fn poll_multi(&mut self, idx: usize, cx: &Context<'_>) -> Poll<Option<(i32, u32)>> {
        match self.slots[idx].as_mut() {
            Some(Slot::Multi {
                queue,
                waker,
                finished,
            }) => {
                if let Some(c) = queue.pop_front() {
                    return Poll::Ready(Some(c));
                }
                if *finished {
                    self.slots[idx] = None;
                    self.free.push(idx);
                    return Poll::Ready(None);
                }
                if !waker.as_ref().is_some_and(|x| x.will_wake(cx.waker())) {
                    *waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            _ => Poll::Pending,
        }
    }

    /// The result of slot `idx` once complete (the slot is then free).
    pub(crate) fn poll(&mut self, idx: usize, cx: &Context<'_>) -> Poll<(i32, u32)> {
        match self.slots[idx].as_mut() {
            Some(Slot::Done(res, flags)) => {
                let r = (*res, *flags);
                self.slots[idx] = None;
                self.free.push(idx);
                Poll::Ready(r)
            }
            Some(Slot::Waiting(w)) => {
                if !w.as_ref().is_some_and(|x| x.will_wake(cx.waker())) {
                    *w = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            _ => Poll::Pending,
        }
    }

    /// A send buffer of `len` bytes: the most recently freed one of the pool (likely still
    /// in cache) or a new one.
    pub(crate) fn take_send_buf(&mut self, len: usize) -> Box<[u8]> {
        let (buf, fresh) = self.send_bufs.take(len);
        self.stats.send_buffers += u64::from(fresh);
        buf
    }

    /// Takes back a send buffer nothing uses any more.
    pub(crate) fn give_send_buf(&mut self, buf: Box<[u8]>) {
        self.send_bufs.give(buf);
    }

    /// Submits a plain send of `len` bytes from `buf`, which the driver keeps until the
    /// completion: a send that sent all `len` bytes gives it back to the pool at once (its
    /// stream holds no buffer while it waits for its peer); [`Driver::poll_send`] hands it
    /// back to the stream after a short send or an error.
    ///
    /// # Safety
    /// `e` sends at most `len` bytes from inside `buf` (heap memory, which stays put while
    /// the driver holds the box).
    pub(crate) unsafe fn submit_send_owned(
        &mut self,
        e: squeue::Entry,
        buf: Box<[u8]>,
        len: u32,
    ) -> io::Result<usize> {
        // SAFETY: forwarded to the caller's promise; the driver keeps `buf` from here on.
        let idx = unsafe { self.submit(e)? };
        self.send_bufs.hold(idx, buf, len);
        Ok(idx)
    }

    /// The result of a send submitted with [`Driver::submit_send_owned`], and its buffer if
    /// the send did not send everything (the caller sends the rest, or gives it back).
    pub(crate) fn poll_send(
        &mut self,
        idx: usize,
        cx: &Context<'_>,
    ) -> Poll<(i32, Option<Box<[u8]>>)> {
        let (res, _) = std::task::ready!(self.poll(idx, cx));
        Poll::Ready((res, self.send_bufs.unhold(idx)))
    }

    /// Registers `fd` in the ring's file table, if it has one and a slot is free.
    pub(crate) fn register_file(
        &mut self,
        fd: std::os::fd::RawFd,
    ) -> io::Result<Option<crate::fixed::FileLease>> {
        match self.fixed.as_mut() {
            Some(f) => f.file(&self.ring.submitter(), fd),
            None => Ok(None),
        }
    }

    /// A stream opened on this worker: keep about two provided buffers per live stream (one
    /// being read, one for the next message), plus a margin.
    pub(crate) fn stream_opened(&mut self) {
        self.live_streams += 1;
        let want = self.live_streams.saturating_mul(2).saturating_add(64);
        if let Some(b) = self.bufs.as_mut() {
            if (b.count() as usize) < want {
                b.grow_to(want.min(u16::MAX as usize) as u16);
                self.stats.provided_buffers = b.count() as u64;
            }
        }
    }

    /// A stream on this worker closed.
    pub(crate) fn stream_closed(&mut self) {
        self.live_streams = self.live_streams.saturating_sub(1);
    }

    /// A multishot recv found no provided buffer (ENOBUFS): count it, and add buffers if the
    /// ring may still grow (by half again), so the re-armed recv finds one.
    pub(crate) fn recv_out_of_buffers(&mut self) {
        self.stats.provided_empty += 1;
        if let Some(b) = self.bufs.as_mut() {
            if b.count() < b.capacity() {
                let want = (b.count() as usize * 3 / 2 + 1).min(u16::MAX as usize) as u16;
                b.grow_to(want);
                self.stats.provided_buffers = b.count() as u64;
            }
        }
    }

    pub(crate) fn recycle_from(&mut self, flags: u32) {
        if let (Some(bid), Some(b)) = (io_uring::cqueue::buffer_select(flags), self.bufs.as_mut()) {
            b.recycle(bid);
        }
    }

    pub(crate) fn add_timer(&mut self, at: Instant, waker: Waker) -> u64 {
        self.timer_seq += 1;
        self.timers.insert((at, self.timer_seq), waker);
        self.timer_seq
    }

    pub(crate) fn remove_timer(&mut self, at: Instant, id: u64) {
        self.timers.remove(&(at, id));
    }

    /// Submits what is queued and reaps completions; with `block`, first waits for one
    /// completion or the next timer. A non-blocking pass also runs the kernel's deferred
    /// completion work (an enter with GETEVENTS), and makes no syscall at all when nothing is
    /// queued and the kernel flags no pending work.
    #[allow(clippy::disallowed_methods)] // a real backend reads the real clock
    pub(crate) fn park(&mut self, block: bool) -> io::Result<()> {
        if let Some(f) = self.fixed.as_mut() {
            f.reclaim(&self.ring.submitter());
        }
        if !self.wake_armed {
            let e = opcode::Read::new(
                types::Fd(std::os::fd::AsRawFd::as_raw_fd(&*self.wake_fd)),
                self.wake_buf.as_mut_ptr(),
                8,
            )
            .build()
            .user_data(WAKE);
            self.push(e)?; // the buffer and fd live in the driver as long as the ring
            self.wake_armed = true;
        }
        let now = Instant::now();
        let next = self.timers.keys().next().map(|(t, _)| *t);
        let next = match (next, self.next_linger()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let wait = match (block, next) {
            (false, _) => Some(Duration::ZERO),
            (true, Some(t)) => Some(t.saturating_duration_since(now)),
            (true, None) => None,
        };
        let want = std::mem::take(&mut self.want).min(self.ring.completion().capacity());
        let coalesce = self.coalesce_target();
        let completed_before = self.stats.completed;
        let r = match wait {
            Some(d) if d.is_zero() => self.enter_nonblocking(),
            timer if want > 1 => self.wait_batch(want, timer),
            timer if coalesce > 1 => self.wait_coalesced(coalesce, timer),
            Some(d) => {
                let ts = types::Timespec::new()
                    .sec(d.as_secs())
                    .nsec(d.subsec_nanos());
                let args = types::SubmitArgs::new().timespec(&ts);
                self.stats.enters += 1;
                self.ring.submitter().submit_with_args(1, &args)
            }
            None => {
                self.stats.enters += 1;
                self.ring.submit_and_wait(1)
            }
        };
        match r {
            Ok(_) => {}
            Err(e)
                if e.raw_os_error() == Some(libc::ETIME)
                    || e.raw_os_error() == Some(libc::EINTR)
                    || e.raw_os_error() == Some(libc::EBUSY) => {}
            Err(e) => return Err(e),
        }
        let mut woken = std::mem::take(&mut self.woken_scratch);
        self.reap(&mut woken);
        if block {
            let n = (self.stats.completed - completed_before).min(u64::from(COALESCE_MAX)) as u32;
            // avg ← 3/4 avg + 1/4 n, in 1/16ths.
            self.batch_avg16 = (self.batch_avg16 * 3 + n * 16) / 4;
        }
        // Completions the kernel held back because the CQ was full: flush them (an enter with
        // GETEVENTS) and reap again, a bounded number of times.
        for _ in 0..OVERFLOW_FLUSHES {
            if !self.ring.submission().cq_overflow() {
                break;
            }
            self.stats.cq_overflows += 1;
            self.stats.enters += 1;
            // SAFETY: an enter that submits nothing new and waits for nothing; no pointers.
            let r = unsafe {
                self.ring
                    .submitter()
                    .enter::<libc::sigset_t>(0, 0, ENTER_GETEVENTS, None)
            };
            if let Err(e) = r {
                if e.raw_os_error() != Some(libc::EINTR) && e.raw_os_error() != Some(libc::EBUSY) {
                    return Err(e);
                }
            }
            self.reap(&mut woken);
        }
        self.stats.cq_dropped = self.ring.completion().overflow() as u64;
        let now = Instant::now();
        self.expire_lingers(now);
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            woken.push(entry.remove());
        }
        for w in woken.drain(..) {
            w.wake();
        }
        self.woken_scratch = woken;
        Ok(())
    }

    /// A blocking wait for `want` completions (a linked chain's results), so that the kernel
    /// runs the chain's deferred steps (DEFER_TASKRUN) in one enter instead of returning after
    /// each. Bounded: with IORING_FEAT_MIN_TIMEOUT, after [`BATCH_WAIT`] any completion ends
    /// it; without, it is a timed wait of at most [`BATCH_WAIT`]. `timer`: the next timer.
    fn wait_batch(&mut self, want: usize, timer: Option<Duration>) -> io::Result<usize> {
        self.stats.enters += 1;
        self.stats.batch_waits += 1;
        let min_timeout = self.ring.params().is_feature_min_timeout();
        let limit = if min_timeout {
            timer
        } else {
            Some(timer.map_or(BATCH_WAIT, |d| d.min(BATCH_WAIT)))
        };
        let min_us = if min_timeout {
            BATCH_WAIT.as_micros() as u32
        } else {
            0
        };
        self.wait_for(want, min_us, limit)
    }

    /// Submits and waits for `want` completions, with the kernel's min-wait of `min_us` µs
    /// (0: none) and at most until `limit`.
    fn wait_for(&mut self, want: usize, min_us: u32, limit: Option<Duration>) -> io::Result<usize> {
        let args = types::SubmitArgs::new().min_wait_usec(min_us);
        match limit {
            Some(d) => {
                let ts = types::Timespec::new()
                    .sec(d.as_secs())
                    .nsec(d.subsec_nanos());
                self.ring
                    .submitter()
                    .submit_with_args(want, &args.timespec(&ts))
            }
            None => self.ring.submitter().submit_with_args(want, &args),
        }
    }

    /// How many completions the next blocking wait asks for under interrupt coalescing: 1
    /// (none) unless recent waits averaged [`COALESCE_FROM`] or more; then half the average.
    fn coalesce_target(&self) -> usize {
        if self.coalesce_wait.is_zero() || self.batch_avg16 < COALESCE_FROM * 16 {
            return 1;
        }
        (self.batch_avg16 / 32).clamp(2, COALESCE_MAX) as usize
    }

    /// A blocking wait for `want` completions that the kernel ends after `coalesce_wait` as
    /// soon as it has one (IORING_FEAT_MIN_TIMEOUT's min-wait): completions that arrive
    /// meanwhile queue up without waking the thread. `timer`: the next timer.
    fn wait_coalesced(&mut self, want: usize, timer: Option<Duration>) -> io::Result<usize> {
        self.stats.enters += 1;
        self.stats.coalesced_waits += 1;
        let us = self
            .coalesce_wait
            .as_micros()
            .clamp(1, u128::from(u32::MAX)) as u32;
        self.wait_for(want, us, timer)
    }

    /// The next blocking park waits for `n` completions rather than one (bounded by
    /// [`BATCH_WAIT`]): a waiter that knows it needs that many before it can go on.
    pub(crate) fn want_completions(&mut self, n: usize) {
        self.want = self.want.max(n);
    }

    /// Slots of `slots` still waiting for a completion: one each, also for a multi-completion
    /// slot that has not ended (a SEND_ZC waiting for its result or its notification counts
    /// once: waiting for results and notifications together measured slower, see
    /// docs/uring.md).
    pub(crate) fn outstanding(&self, slots: &[Option<usize>]) -> usize {
        slots
            .iter()
            .flatten()
            .filter(|&&idx| {
                matches!(
                    self.slots.get(idx),
                    Some(Some(
                        Slot::Waiting(_)
                            | Slot::Multi {
                                finished: false,
                                ..
                            }
                    ))
                )
            })
            .count()
    }

    /// The non-blocking enter: submits what is queued and runs deferred completion work
    /// (GETEVENTS, without waiting). Skipped when the SQ is empty and the kernel flags neither
    /// pending task work nor a CQ overflow (known only with IORING_SETUP_TASKRUN_FLAG).
    fn enter_nonblocking(&mut self) -> io::Result<usize> {
        let (queued, taskrun, overflow) = {
            let sq = self.ring.submission();
            (sq.len(), sq.taskrun(), sq.cq_overflow())
        };
        if self.ring.params().is_setup_sqpoll() {
            self.stats.enters += 1; // an upper bound: the crate skips the syscall when it can
            return self.ring.submit();
        }
        if queued == 0 && self.taskrun_flag && !taskrun && !overflow {
            return Ok(0);
        }
        self.stats.enters += 1;
        // SAFETY: every queued entry points at memory kept alive until its completion (see
        // `push`); no wait, no argument.
        unsafe {
            self.ring
                .submitter()
                .enter::<libc::sigset_t>(queued as u32, 0, ENTER_GETEVENTS, None)
        }
    }

    /// Reaps every posted completion into its slot, collecting the wakers to run.
    fn reap(&mut self, woken: &mut Vec<Waker>) {
        let mut cqes = std::mem::take(&mut self.cqe_scratch);
        cqes.extend(
            self.ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        for &(ud, res, flags) in &cqes {
            if ud == IGNORE {
                continue;
            }
            if ud == WAKE {
                self.wake_armed = false; // re-armed at the next park
                continue;
            }
            self.stats.completed += 1;
            let idx = ud as usize;
            let more = io_uring::cqueue::more(flags);
            match self.slots.get_mut(idx).and_then(Option::take) {
                Some(Slot::Waiting(w)) => {
                    self.slots[idx] = Some(Slot::Done(res, flags));
                    self.send_bufs.completed(idx, res);
                    if let Some(w) = w {
                        woken.push(w);
                    }
                }
                Some(Slot::Multi {
                    mut queue, waker, ..
                }) => {
                    queue.push_back((res, flags));
                    if let Some(w) = &waker {
                        woken.push(w.clone());
                    }
                    self.slots[idx] = Some(Slot::Multi {
                        queue,
                        waker,
                        finished: !more,
                    });
                }
                Some(orphan @ Slot::Orphaned(_)) if more => {
                    self.recycle_from(flags);
                    // a lingering SEND_ZC's result: its bytes are out, only the notification
                    // that frees its buffer is left, which needs no deadline
                    self.orphan_done(idx);
                    self.slots[idx] = Some(orphan)
                }
                Some(Slot::Orphaned(_)) => {
                    self.recycle_from(flags);
                    self.orphan_done(idx);
                    self.send_bufs.release(idx);
                    self.free.push(idx) // buffers dropped now
                }
                Some(done @ Slot::Done(..)) => self.slots[idx] = Some(done),
                None => {}
            }
        }
        cqes.clear();
        self.cqe_scratch = cqes;
    }
}
