//! Building a worker's ring: SQPOLL when asked for, otherwise the best task-run mode the
//! running kernel accepts.

use crate::driver::RingConfig;
use crate::ring_stats::RingSetup;
use io_uring::IoUring;
use std::io;

/// The ring for `cfg`: SQPOLL if asked for; otherwise the best task-run mode the kernel
/// accepts (SINGLE_ISSUER + DEFER_TASKRUN, then COOP_TASKRUN, then none).
pub(crate) fn build_ring(cfg: &RingConfig) -> io::Result<(IoUring, RingSetup)> {
    let cq = cfg.cq_entries.max(cfg.entries);
    if let Some(idle) = cfg.sqpoll_idle_ms {
        let ring = IoUring::builder()
            .setup_sqpoll(idle)
            .setup_cqsize(cq)
            .setup_clamp()
            .build(cfg.entries)?;
        return Ok((ring, RingSetup::Sqpoll));
    }
    type SetFlags = fn(&mut io_uring::Builder);
    let tries: [(RingSetup, SetFlags); 3] = [
        (RingSetup::DeferTaskrun, |b| {
            b.setup_single_issuer()
                .setup_defer_taskrun()
                .setup_taskrun_flag();
        }),
        (RingSetup::CoopTaskrun, |b| {
            b.setup_coop_taskrun().setup_taskrun_flag();
        }),
        (RingSetup::Plain, |_| {}),
    ];
    let mut last = io::Error::from_raw_os_error(libc::EINVAL);
    for (setup, flags) in tries {
        let mut b = IoUring::builder();
        b.setup_cqsize(cq).setup_clamp();
        flags(&mut b);
        match b.build(cfg.entries) {
            Ok(ring) => return Ok((ring, setup)),
            // An older kernel refuses flags it does not know with EINVAL: try the next mode.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}
