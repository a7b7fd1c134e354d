//! A live-frames traffic generator: an XDP_TX program run through BPF_PROG_TEST_RUN with
//! BPF_F_TEST_XDP_LIVE_FRAMES and the target interface as the run's ingress, so each repeat
//! transmits the frame out of that interface.

use crate::objects::object;
use crate::XdpError;
use aya::programs::{TestRun, TestRunAttrs, TestRunOptions, Xdp};
use aya::Ebpf;

/// The loaded generator.
pub struct Generator {
    ebpf: Ebpf,
}

impl Generator {
    /// Loads the generator program.
    pub fn load() -> Result<Generator, XdpError> {
        crate::available()?;
        let mut ebpf = Ebpf::load(object("txgen")?)?;
        program(&mut ebpf)?.load()?;
        Ok(Generator { ebpf })
    }

    /// Sends `frame` `count` times out of interface `ifindex` (of the calling thread's network
    /// namespace), in batches of `batch`; returns how long the run took: the wall time around
    /// it, or the kernel's own figure if longer. (The kernel's figure leaves out time the
    /// thread was scheduled away, while rate-limit buckets keep refilling on its clock: on a
    /// loaded machine it undercounts the time a limiter saw.)
    pub fn send(
        &mut self,
        ifindex: u32,
        frame: &[u8],
        count: u32,
        batch: u32,
    ) -> Result<std::time::Duration, XdpError> {
        // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index,
        // egress_ifindex. Live mode wants data 0 and data_end the frame's length.
        let md: [u32; 6] = [0, frame.len() as u32, 0, ifindex, 0, 0];
        let ctx: Vec<u8> = md.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let t0 = wall_now();
        let r = program(&mut self.ebpf)?.test_run(TestRunOptions {
            data_in: Some(frame),
            ctx_in: Some(&ctx),
            repeat: count,
            attrs: TestRunAttrs::new().xdp_live_frames(batch),
            ..TestRunOptions::default()
        })?;
        let wall = wall_now().duration_since(t0);
        // In live mode the kernel reports the mean time per repeat.
        Ok((r.duration * count).max(wall))
    }
}

#[allow(clippy::disallowed_methods)] // a backend timing its own syscall
fn wall_now() -> std::time::Instant {
    std::time::Instant::now()
}

fn program(ebpf: &mut Ebpf) -> Result<&mut Xdp, XdpError> {
    let p = ebpf
        .program_mut("xdp_txgen")
        .ok_or_else(|| XdpError::NotBuilt("txgen (program xdp_txgen missing)".into()))?;
    Ok(p.try_into()?)
}
