//! What a worker's ring reports: its counters and how it was set up.

/// Counters of one ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingStats {
    /// Submissions and waits handed to the kernel (io_uring_enter calls; with SQPOLL a
    /// submission without a wait may need none, so this is an upper bound there).
    pub enters: u64,
    /// Operations submitted.
    pub submitted: u64,
    /// Completions reaped.
    pub completed: u64,
    /// Connections accepted through a multishot accept.
    pub multishot_accepts: u64,
    /// Zero-copy sends (SEND_ZC) completed.
    pub zc_sends: u64,
    /// Of those, sends the kernel reported it copied anyway (IORING_NOTIF_USAGE_ZC_COPIED).
    pub zc_copied: u64,
    /// Receives that landed in a provided buffer (multishot recv).
    pub provided_recvs: u64,
    /// Times a multishot recv found the provided-buffer ring empty (ENOBUFS) and re-armed.
    pub provided_empty: u64,
    /// File-send reads (READV of up to 1 MiB) from files in the ring's registered table.
    pub fixed_reads: u64,
    /// File-send sends completed on the copy and SEND_ZC paths: a unit's vectored send, or
    /// each of its linked SEND_ZCs (spliced units count in `FileSendReport::spliced`).
    pub linked_sends: u64,
    /// Blocking waits for several completions at once: a file send waiting for the rest of a
    /// unit's linked sends, so the kernel runs them in one enter.
    pub batch_waits: u64,
    /// Blocking waits that coalesced completions (asked for several, see
    /// `Builder::coalesce_wait`).
    pub coalesced_waits: u64,
    /// Multishot recvs armed again after the kernel ended one (ENOBUFS, or the kernel's own
    /// reasons); the first arming of a stream's recv is not counted.
    pub recv_rearms: u64,
    /// Waits after which the kernel had completions it could not post because the completion
    /// queue was full (IORING_SQ_CQ_OVERFLOW; held back and flushed, not lost).
    pub cq_overflows: u64,
    /// Completions the kernel dropped outright (its CQ overflow counter; 0 with FEAT_NODROP
    /// unless it ran out of memory).
    pub cq_dropped: u64,
    /// Provided buffers in the worker's ring at the end (it grows with live connections).
    pub provided_buffers: u64,
    /// Completion queue entries of the ring.
    pub cq_entries: u64,
    /// Send buffers the worker allocated: streams borrow one from a small pool per write in
    /// flight, so this follows the sends in flight at once, not the number of streams.
    pub send_buffers: u64,
    /// Sends of dropped streams left to finish (a write in flight when its stream was
    /// dropped: its bytes still go out, as a kernel socket's close lets unsent data drain).
    pub lingering_sends: u64,
    /// Of those, the ones cancelled unfinished: at their deadline (`Builder::drop_linger`),
    /// or at once when 256 were already lingering on the worker.
    pub linger_timeouts: u64,
    /// How the ring was set up.
    pub setup: RingSetup,
}

impl RingStats {
    /// Adds `other`'s counters to these (gauges: buffers and CQ entries add up over rings;
    /// the setup is kept if both agree, else the weaker one).
    pub fn merge(&mut self, other: &RingStats) {
        self.enters += other.enters;
        self.submitted += other.submitted;
        self.completed += other.completed;
        self.multishot_accepts += other.multishot_accepts;
        self.zc_sends += other.zc_sends;
        self.zc_copied += other.zc_copied;
        self.provided_recvs += other.provided_recvs;
        self.provided_empty += other.provided_empty;
        self.fixed_reads += other.fixed_reads;
        self.linked_sends += other.linked_sends;
        self.batch_waits += other.batch_waits;
        self.coalesced_waits += other.coalesced_waits;
        self.recv_rearms += other.recv_rearms;
        self.cq_overflows += other.cq_overflows;
        self.cq_dropped += other.cq_dropped;
        self.provided_buffers += other.provided_buffers;
        self.cq_entries += other.cq_entries;
        self.send_buffers += other.send_buffers;
        self.lingering_sends += other.lingering_sends;
        self.linger_timeouts += other.linger_timeouts;
        if self.setup == RingSetup::Unknown {
            self.setup = other.setup;
        } else if other.setup != RingSetup::Unknown {
            self.setup = self.setup.min(other.setup);
        }
    }
}

/// How a worker's ring was set up: the best the kernel accepted, or what was asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum RingSetup {
    /// Not known (stats of no ring).
    #[default]
    Unknown,
    /// No task-run flags (kernels before 5.19).
    Plain,
    /// SQPOLL, asked for explicitly (cannot combine with DEFER_TASKRUN).
    Sqpoll,
    /// IORING_SETUP_COOP_TASKRUN | TASKRUN_FLAG: completions are not pushed with an
    /// interrupt of the worker; they wait for its next kernel entry.
    CoopTaskrun,
    /// IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG: completion work runs only
    /// when the worker asks for completions (GETEVENTS), batched.
    DeferTaskrun,
}

impl RingSetup {
    /// A short name (for metrics).
    pub fn name(self) -> &'static str {
        match self {
            RingSetup::Unknown => "unknown",
            RingSetup::Plain => "plain",
            RingSetup::Sqpoll => "sqpoll",
            RingSetup::CoopTaskrun => "coop_taskrun",
            RingSetup::DeferTaskrun => "defer_taskrun",
        }
    }
}
