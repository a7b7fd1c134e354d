//! Thread per core on the EAL's worker lcores: [`Eal::launch`] runs a closure on a worker
//! (`rte_eal_remote_launch`), [`LcoreJob::join`] waits for its result (`rte_eal_wait_lcore`).
//! One job per worker at a time; launches are serialized here, so any thread may launch.
#![allow(unsafe_code)]

use crate::{sys, Eal, LaunchError};
use std::ffi::{c_int, c_void};
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;

/// Most lcores tracked (DPDK's RTE_MAX_LCORE on Debian is 128).
const LCORES_MAX: usize = 1024;

/// Workers with a job launched and not yet joined.
static BUSY: Mutex<Vec<u32>> = Mutex::new(Vec::new());

type Job = Box<dyn FnOnce() -> i32 + Send + 'static>;

/// What a panicking job returns to DPDK (the panic is reported by [`LcoreJob::join`]).
const PANICKED: c_int = c_int::MIN;

unsafe extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: arg is the Box<Job> leaked by launch for exactly this call.
    let job: Box<Job> = unsafe { Box::from_raw(arg.cast::<Job>()) };
    // A panic must not unwind into C.
    std::panic::catch_unwind(AssertUnwindSafe(job)).unwrap_or(PANICKED)
}

/// A job running on a worker lcore; dropping it waits for the job to finish.
#[derive(Debug)]
#[must_use = "dropping a job waits for it"]
pub struct LcoreJob<'e> {
    lcore: u32,
    done: bool,
    _eal: std::marker::PhantomData<&'e Eal>,
}

impl Eal {
    /// The worker lcores (every enabled lcore but the main one), in order.
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut out = Vec::new();
        let mut i = u32::MAX;
        loop {
            // SAFETY: walks the EAL's lcore table; skip_main = 1, wrap = 0.
            i = unsafe { sys::rte_get_next_lcore(i, 1, 0) };
            if i as usize >= LCORES_MAX || out.len() >= LCORES_MAX || i == u32::MAX {
                break;
            }
            // rte_get_next_lcore returns RTE_MAX_LCORE when there are no more.
            // SAFETY: a read of the lcore table.
            if unsafe { sys::rte_lcore_is_enabled(i) } == 0 {
                break;
            }
            out.push(i);
        }
        out
    }

    /// Runs `f` on worker `lcore`; its `i32` comes back from [`LcoreJob::join`].
    pub fn launch<F>(&self, lcore: u32, f: F) -> Result<LcoreJob<'_>, LaunchError>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        if !self.worker_lcores().contains(&lcore) {
            return Err(LaunchError::NotWorker(lcore));
        }
        let mut busy = BUSY.lock().unwrap_or_else(|e| e.into_inner());
        if busy.contains(&lcore) {
            return Err(LaunchError::Busy(lcore));
        }
        let job: Box<Job> = Box::new(Box::new(f));
        let arg = Box::into_raw(job).cast::<c_void>();
        // SAFETY: lcore is an enabled worker with no job of ours (BUSY, held locked); the
        // trampoline takes back the box exactly once when the job runs.
        let rc = unsafe { sys::rte_eal_remote_launch(Some(trampoline), arg, lcore) };
        if rc != 0 {
            // SAFETY: not launched, so the box is still ours to free.
            drop(unsafe { Box::from_raw(arg.cast::<Job>()) });
            return Err(LaunchError::Busy(lcore));
        }
        busy.push(lcore);
        Ok(LcoreJob {
            lcore,
            done: false,
            _eal: std::marker::PhantomData,
        })
    }
}

impl LcoreJob<'_> {
    /// The worker it runs on.
    pub fn lcore(&self) -> u32 {
        self.lcore
    }

    /// Waits for the job; its return value, or [`LaunchError::Panicked`].
    pub fn join(mut self) -> Result<i32, LaunchError> {
        let rc = self.wait();
        if rc == PANICKED {
            Err(LaunchError::Panicked(self.lcore))
        } else {
            Ok(rc)
        }
    }

    fn wait(&mut self) -> i32 {
        if self.done {
            return 0;
        }
        // SAFETY: this job is the only one on the worker (BUSY); waiting returns its value
        // and puts the worker back in WAIT state.
        let rc = unsafe { sys::rte_eal_wait_lcore(self.lcore) };
        self.done = true;
        BUSY.lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|&l| l != self.lcore);
        rc
    }
}

impl Drop for LcoreJob<'_> {
    fn drop(&mut self) {
        self.wait();
    }
}
