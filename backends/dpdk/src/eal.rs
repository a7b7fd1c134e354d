//! The EAL: DPDK's process-wide runtime, started once per process from an argument list and
//! cleaned up (`rte_eal_cleanup`) when the [`Eal`] handle drops.
#![allow(unsafe_code)]

use crate::sys;
use crate::EalError;
use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicU8, Ordering};

/// Most arguments [`Eal::init`] accepts.
pub const EAL_ARGS_MAX: usize = 256;

const NEVER: u8 = 0;
const STARTING: u8 = 1;
const DONE: u8 = 2;
static STATE: AtomicU8 = AtomicU8::new(NEVER);

/// A started EAL. Everything else in this crate borrows it, so it outlives every pool and port.
/// DPDK can start its EAL once per process: a second [`Eal::init`] (also after this handle
/// dropped) is [`EalError::AlreadyInitialized`].
#[derive(Debug)]
pub struct Eal {
    _private: (),
}

impl Eal {
    /// Starts the EAL with `args` (EAL options only, e.g. `["--no-huge", "--no-pci",
    /// "--vdev=net_null0"]`; the program name is prepended). The calling thread becomes
    /// the main lcore.
    pub fn init<I, S>(args: I) -> Result<Eal, EalError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut owned = vec![CString::new("testbed-dpdk").expect("no NUL")];
        for a in args {
            let a = a.as_ref();
            if owned.len() > EAL_ARGS_MAX {
                return Err(EalError::TooManyArguments {
                    given: owned.len(),
                    max: EAL_ARGS_MAX,
                });
            }
            owned.push(CString::new(a).map_err(|_| EalError::BadArgument(a.to_owned()))?);
        }
        if STATE
            .compare_exchange(NEVER, STARTING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(EalError::AlreadyInitialized);
        }
        // rte_eal_init may permute argv and keep pointers into it (e.g. for --file-prefix):
        // the strings and the array live for the rest of the process (bounded: one init).
        let strings: &'static mut [CString] = Vec::leak(owned);
        let argv: &'static mut [*mut c_char] = Vec::leak(
            strings
                .iter()
                .map(|s| s.as_ptr().cast_mut())
                .chain(std::iter::once(std::ptr::null_mut()))
                .collect(),
        );
        let argc = i32::try_from(strings.len()).expect("bounded by EAL_ARGS_MAX");
        // SAFETY: argv holds argc valid NUL-terminated strings followed by NULL, all leaked,
        // so they outlive the EAL; STATE guarantees no concurrent or repeated init from here.
        let rc = unsafe { sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if rc < 0 {
            let errno = sys::last_errno();
            if errno.code == sys::EALREADY as i32 {
                STATE.store(DONE, Ordering::Release);
                return Err(EalError::AlreadyInitialized);
            }
            // DPDK lets a failed init (bad arguments) be retried.
            STATE.store(NEVER, Ordering::Release);
            return Err(EalError::Init(errno));
        }
        STATE.store(DONE, Ordering::Release);
        Ok(Eal { _private: () })
    }

    /// How many lcores the EAL runs (the CPUs given with `-l`/`-c`; all CPUs by default).
    pub fn lcore_count(&self) -> u32 {
        // SAFETY: the EAL is initialized (self exists); a plain read of its configuration.
        unsafe { sys::rte_lcore_count() }
    }

    /// The NUMA socket of the calling thread.
    pub fn socket_id(&self) -> i32 {
        // SAFETY: the EAL is initialized; reads a per-thread variable.
        unsafe { sys::rte_socket_id() as i32 }
    }
}

/// The calling thread's lcore id, or `None` outside the EAL's threads.
pub fn lcore_id() -> Option<u32> {
    // SAFETY: reads a thread-local variable; valid before and after EAL init.
    let id = unsafe { sys::tb_lcore_id() };
    (id != u32::MAX).then_some(id)
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: every pool and port borrows this handle, so none is left; rte_eal_cleanup
        // releases the EAL's memory and threads. STATE stays DONE: no re-init.
        unsafe {
            sys::rte_eal_cleanup();
        }
    }
}
