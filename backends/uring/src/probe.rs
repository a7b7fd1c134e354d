//! What the kernel's io_uring supports, checked before any worker starts, so a missing
//! feature is a clear error and not a failure in the middle of a run.

use io_uring::{opcode, IoUring, Probe};

/// Kernel io_uring features this backend uses or can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    /// IORING_OP_SEND_ZC (zero-copy send).
    pub send_zc: bool,
    /// Multishot accept.
    pub accept_multi: bool,
    /// IORING_OP_SPLICE (files sent through pipes, no copy in the sender; Linux 5.7+).
    pub splice: bool,
}

/// io_uring is missing, or lacks something the backend needs.
#[derive(Debug)]
pub struct Unsupported(pub String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "io_uring backend unavailable: {}", self.0)
    }
}

/// Probes the kernel: every opcode the backend needs, and EXT_ARG (timed waits).
pub fn probe() -> Result<Features, Unsupported> {
    let ring = IoUring::new(8).map_err(|e| Unsupported(format!("io_uring_setup failed ({e}); kernel too old, or io_uring disabled (sysctl kernel.io_uring_disabled)")))?;
    if !ring.params().is_feature_ext_arg() {
        return Err(Unsupported(
            "the kernel lacks IORING_FEAT_EXT_ARG (needs Linux 5.11+)".into(),
        ));
    }
    let mut p = Probe::new();
    ring.submitter()
        .register_probe(&mut p)
        .map_err(|e| Unsupported(format!("IORING_REGISTER_PROBE failed: {e}")))?;
    let need = [
        (opcode::Accept::CODE, "ACCEPT"),
        (opcode::Connect::CODE, "CONNECT"),
        (opcode::Recv::CODE, "RECV"),
        (opcode::Send::CODE, "SEND"),
        (opcode::PollAdd::CODE, "POLL_ADD"),
        (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
    ];
    let missing: Vec<&str> = need
        .iter()
        .filter(|(c, _)| !p.is_supported(*c))
        .map(|(_, n)| *n)
        .collect();
    if !missing.is_empty() {
        return Err(Unsupported(format!(
            "the kernel's io_uring lacks {}",
            missing.join(", ")
        )));
    }
    Ok(Features {
        send_zc: p.is_supported(opcode::SendZc::CODE),
        accept_multi: p.is_supported(opcode::AcceptMulti::CODE),
        splice: p.is_supported(opcode::Splice::CODE),
    })
}

impl std::error::Error for Unsupported {}
