//! What every program loader shares: attaching in driver mode with a fallback to skb mode,
//! and one BPF_PROG_TEST_RUN of a frame.

use crate::{AttachMode, XdpError};
use aya::programs::xdp::XdpLinkId;
use aya::programs::{TestRun, TestRunOptions, Xdp, XdpMode};

/// Attaches `prog` to `iface`: driver mode unless `skb_only`, falling back to skb mode.
pub(crate) fn attach_with_fallback(
    prog: &mut Xdp,
    iface: &str,
    skb_only: bool,
) -> Result<(XdpLinkId, AttachMode), XdpError> {
    let driver = if skb_only {
        Err("not tried (skb mode asked for)".to_string())
    } else {
        prog.attach(iface, XdpMode::Driver)
            .map_err(|e| e.to_string())
    };
    match driver {
        Ok(id) => Ok((id, AttachMode::Driver)),
        Err(driver) => match prog.attach(iface, XdpMode::Skb) {
            Ok(id) => Ok((id, AttachMode::Skb)),
            Err(aya::programs::ProgramError::UnknownInterface { name }) => {
                Err(XdpError::NoInterface(name))
            }
            Err(e) => Err(XdpError::Attach {
                iface: iface.into(),
                driver,
                skb: e.to_string(),
            }),
        },
    }
}

/// Runs `frame` through `prog` once (BPF_PROG_TEST_RUN): the action and the frame out.
pub(crate) fn test_run_xdp(prog: &mut Xdp, frame: &[u8]) -> Result<(u32, Vec<u8>), XdpError> {
    let mut out = vec![0u8; frame.len() + 256];
    let r = prog.test_run(TestRunOptions {
        data_in: Some(frame),
        data_out: Some(&mut out),
        ..TestRunOptions::default()
    })?;
    out.truncate(r.data_size_out as usize);
    Ok((r.return_value, out))
}
