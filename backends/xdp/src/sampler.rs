//! The XDP sampler (bpf/sampler.c): passes every packet and copies one in `every` (up to 128
//! bytes, with its length and sequence number) into a ring buffer that user space drains.

use crate::objects::object;
use crate::XdpError;
use aya::maps::{Array, MapData, RingBuf};
use aya::programs::{TestRun, TestRunOptions, Xdp};
use aya::Ebpf;

/// Bytes of a packet a sample keeps.
pub const SNAP: usize = 128;

#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
struct State {
    every: u64,
    seen: u64,
    sampled: u64,
    lost: u64,
}

// SAFETY: a repr(C) struct of four u64s: no padding, every bit pattern valid.
#[allow(unsafe_code)]
unsafe impl aya::Pod for State {}

/// One sampled packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The packet's number among all the program saw (0-based).
    pub seq: u64,
    /// The packet's length.
    pub len: u32,
    /// Its first bytes (up to [`SNAP`]).
    pub data: Vec<u8>,
}

/// The sampler's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SamplerStats {
    /// Packets seen.
    pub seen: u64,
    /// Packets sampled.
    pub sampled: u64,
    /// Samples lost to a full ring.
    pub lost: u64,
}

/// A loaded sampler; detached when dropped.
pub struct XdpSampler {
    ebpf: Ebpf,
    state: Array<MapData, State>,
    ring: RingBuf<MapData>,
    link: Option<aya::programs::xdp::XdpLinkId>,
}

impl XdpSampler {
    /// Loads the program; it samples one packet in `every` (0: none).
    pub fn load(every: u64) -> Result<XdpSampler, XdpError> {
        crate::available()?;
        let mut ebpf = Ebpf::load(object("sampler")?)?;
        program(&mut ebpf)?.load()?;
        let missing = |m: &str| XdpError::NotBuilt(format!("sampler (map {m} missing)"));
        let mut state: Array<MapData, State> = Array::try_from(
            ebpf.take_map("sampler_state")
                .ok_or_else(|| missing("sampler_state"))?,
        )?;
        state.set(
            0,
            State {
                every,
                ..State::default()
            },
            0,
        )?;
        let ring = RingBuf::try_from(ebpf.take_map("samples").ok_or_else(|| missing("samples"))?)?;
        Ok(XdpSampler {
            ebpf,
            state,
            ring,
            link: None,
        })
    }

    /// Attaches to `iface` (driver mode, falling back to skb mode).
    pub fn attach(&mut self, iface: &str) -> Result<crate::AttachMode, XdpError> {
        let (id, mode) = crate::prog::attach_with_fallback(program(&mut self.ebpf)?, iface, false)?;
        self.link = Some(id);
        Ok(mode)
    }

    /// Runs `frame` through the program once (BPF_PROG_TEST_RUN); the XDP action.
    pub fn test_run(&mut self, frame: &[u8]) -> Result<u32, XdpError> {
        let r = program(&mut self.ebpf)?.test_run(TestRunOptions {
            data_in: Some(frame),
            ..TestRunOptions::default()
        })?;
        Ok(r.return_value)
    }

    /// The samples in the ring so far, oldest first.
    pub fn drain(&mut self) -> Vec<Sample> {
        let mut out = Vec::new();
        while let Some(item) = self.ring.next() {
            let b: &[u8] = &item;
            if b.len() < 16 + SNAP {
                continue; // not one of ours; the ring only carries `struct sample`
            }
            let u32_at = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
            let (len, cap) = (u32_at(0), (u32_at(4) as usize).min(SNAP));
            let mut seq = [0u8; 8];
            seq.copy_from_slice(&b[8..16]);
            out.push(Sample {
                seq: u64::from_ne_bytes(seq),
                len,
                data: b[16..16 + cap].to_vec(),
            });
        }
        out
    }

    /// The counters.
    pub fn stats(&self) -> Result<SamplerStats, XdpError> {
        let s = self.state.get(&0, 0)?;
        Ok(SamplerStats {
            seen: s.seen,
            sampled: s.sampled,
            lost: s.lost,
        })
    }
}

fn program(ebpf: &mut Ebpf) -> Result<&mut Xdp, XdpError> {
    let p = ebpf
        .program_mut("xdp_sampler")
        .ok_or_else(|| XdpError::NotBuilt("sampler (program xdp_sampler missing)".into()))?;
    Ok(p.try_into()?)
}
