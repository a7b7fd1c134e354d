//! Raw bindings: bindgen's output for the DPDK functions and types this crate uses, and the
//! `tb_*` wrappers of shim/shim.c. Only the FFI modules of this crate touch them.
#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    unsafe_code,
    unsafe_op_in_unsafe_fn,
    missing_docs,
    clippy::all,
    clippy::pedantic
)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));

/// The calling thread's `rte_errno` with its `rte_strerror` text.
pub(crate) fn last_errno() -> crate::Errno {
    // SAFETY: tb_errno reads a thread-local integer; no preconditions.
    let code = unsafe { tb_errno() };
    errno(code)
}

/// `code` (positive, or negative as ethdev calls return it) with its `rte_strerror` text.
pub(crate) fn errno(code: i32) -> crate::Errno {
    let code = code.saturating_abs();
    // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated
    // string, valid at least until the next call on this thread; it is copied at once.
    let text = unsafe {
        let p = rte_strerror(code);
        if p.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    };
    crate::Errno { code, text }
}
