//! The redirect program (bpf/xsk.c): loaded, the socket put in its XSKMAP slot for the
//! queue, attached to the interface. Detached (and the map freed) on drop.

use super::error::XskError;
use crate::objects::object;
use crate::prog::attach_with_fallback;
use crate::AttachMode;
use aya::maps::XskMap;
use aya::programs::Xdp;
use aya::Ebpf;
use std::os::fd::AsRawFd;

/// XSKMAP slots in bpf/xsk.c (XSK_QUEUES_MAX): the highest queue a port can bind is one less.
pub(crate) const QUEUES_MAX: u32 = 64;

/// The loaded, attached redirect program.
pub(crate) struct XskProgram {
    // Holds the program, its link (detached when dropped) and the map.
    _ebpf: Ebpf,
}

impl XskProgram {
    /// Loads the program, puts `socket` in slot `queue`, attaches to `iface`.
    pub(crate) fn attach(
        iface: &str,
        queue: u32,
        socket: &impl AsRawFd,
        skb_only: bool,
    ) -> Result<(XskProgram, AttachMode), XskError> {
        let mut ebpf = Ebpf::load(object("xsk")?).map_err(|e| prog_err("loading xsk.o", e))?;
        let map = ebpf
            .map_mut("xsks")
            .ok_or_else(|| XskError::Program("xsk.o has no map named xsks".into()))?;
        let mut xsks = XskMap::try_from(map).map_err(|e| prog_err("opening map xsks", e))?;
        xsks.set(queue, socket.as_raw_fd(), 0)
            .map_err(|e| prog_err("inserting the socket into xsks", e))?;
        let prog: &mut Xdp = ebpf
            .program_mut("xdp_xsk")
            .ok_or_else(|| XskError::Program("xsk.o has no program named xdp_xsk".into()))?
            .try_into()
            .map_err(|e| prog_err("xdp_xsk is not an XDP program", e))?;
        prog.load().map_err(|e| prog_err("verifying xdp_xsk", e))?;
        let (_link, mode) = attach_with_fallback(prog, iface, skb_only)?;
        Ok((XskProgram { _ebpf: ebpf }, mode))
    }
}

fn prog_err(what: &str, e: impl std::fmt::Display) -> XskError {
    XskError::Program(format!("{what}: {e}"))
}
