//! The XDP filter (bpf/filter.c): blocklist of IPv4 CIDRs, per-source rate limit, per-source
//! SYN limit, per-verdict counters. Load it, attach it (driver mode, falling back to skb mode),
//! feed it addresses and limits, read its counters, run frames through it with
//! BPF_PROG_TEST_RUN, or pin it so that it outlives this process (the CLI's `testbed xdp`).

use crate::objects::object;
use crate::prog::{attach_with_fallback, test_run_xdp};
use crate::XdpError;
use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, Map, MapData, PerCpuArray};
use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::xdp::XdpLinkId;
use aya::programs::Xdp;
use aya::Ebpf;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// Counter names, in the order of the program's counter indices.
pub const COUNTER_NAMES: [&str; 6] = [
    "pass",
    "drop_blocklist",
    "drop_rate",
    "drop_syn",
    "pass_not_ipv4",
    "drop_malformed",
];

/// Per-verdict packet counts, summed over CPUs, indexed as [`COUNTER_NAMES`].
pub type Counters = [u64; 6];

/// The program's limits (nanosecond token buckets: a packet costs `cost_ns` of credit, a
/// source holds at most `cap_ns`) and an optional fixed clock. Zero costs switch a limit off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct FilterConfig {
    /// Credit per packet of a source; 0: no rate limit.
    pub cost_ns: u64,
    /// Most credit a source holds (burst × cost).
    pub cap_ns: u64,
    /// Credit per SYN of a source; 0: no SYN limit.
    pub syn_cost_ns: u64,
    /// Most SYN credit a source holds.
    pub syn_cap_ns: u64,
    /// Non-zero: the program's clock reads this instead of bpf_ktime_get_ns (tests).
    pub now_ns: u64,
}

// SAFETY: a repr(C) struct of five u64s: no padding, every bit pattern valid.
#[allow(unsafe_code)]
unsafe impl aya::Pod for FilterConfig {}

/// How the program ended up attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachMode {
    /// Native (driver) XDP.
    Driver,
    /// Generic XDP (skb mode), slower, works on any device.
    Skb,
}

/// The filter's maps: from a loaded program or from pins in bpffs.
pub struct FilterMaps {
    blocklist: LpmTrie<MapData, u32, u32>,
    config: Array<MapData, FilterConfig>,
    counters: PerCpuArray<MapData, u64>,
}

const MAPS: [&str; 4] = ["blocklist", "config", "counters", "buckets"];

fn pin_err(path: &Path, e: impl std::fmt::Display) -> XdpError {
    XdpError::Pin {
        path: path.display().to_string(),
        why: e.to_string(),
    }
}

fn key(net: Ipv4Addr, len: u8) -> Key<u32> {
    // The trie compares the address bytes in network order.
    Key::new(u32::from(len.min(32)), u32::from_ne_bytes(net.octets()))
}

impl FilterMaps {
    fn from_maps(blocklist: Map, config: Map, counters: Map) -> Result<FilterMaps, XdpError> {
        Ok(FilterMaps {
            blocklist: LpmTrie::try_from(blocklist)?,
            config: Array::try_from(config)?,
            counters: PerCpuArray::try_from(counters)?,
        })
    }

    /// The maps of a filter pinned under `dir` (see [`XdpFilter::pin`]).
    pub fn from_pins(dir: &Path) -> Result<FilterMaps, XdpError> {
        let open = |name: &str| -> Result<Map, XdpError> {
            let p = dir.join(name);
            let data = MapData::from_pin(&p).map_err(|e| pin_err(&p, e))?;
            Ok(match name {
                "blocklist" => Map::LpmTrie(data),
                "config" => Map::Array(data),
                _ => Map::PerCpuArray(data),
            })
        };
        FilterMaps::from_maps(open("blocklist")?, open("config")?, open("counters")?)
    }

    /// Drops every IPv4 packet from `net/len`.
    pub fn block(&mut self, net: Ipv4Addr, len: u8) -> Result<(), XdpError> {
        Ok(self.blocklist.insert(&key(net, len), 1, 0)?)
    }

    /// Removes `net/len` from the blocklist (an error if it was not there).
    pub fn unblock(&mut self, net: Ipv4Addr, len: u8) -> Result<(), XdpError> {
        Ok(self.blocklist.remove(&key(net, len))?)
    }

    /// Sets the limits (and the test clock).
    pub fn configure(&mut self, cfg: FilterConfig) -> Result<(), XdpError> {
        Ok(self.config.set(0, cfg, 0)?)
    }

    /// The counters, summed over CPUs.
    pub fn counters(&self) -> Result<Counters, XdpError> {
        let mut out = [0u64; 6];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = self.counters.get(&(i as u32), 0)?.iter().sum();
        }
        Ok(out)
    }
}

/// A loaded filter program with its maps; detached when dropped unless pinned.
pub struct XdpFilter {
    ebpf: Ebpf,
    /// The maps.
    pub maps: FilterMaps,
    attached: Option<(String, AttachMode, XdpLinkId)>,
    extra: Vec<(String, Map)>,
}

impl XdpFilter {
    /// Loads (and verifies) the program.
    pub fn load() -> Result<XdpFilter, XdpError> {
        crate::available()?;
        let mut ebpf = Ebpf::load(object("filter")?)?;
        let prog: &mut Xdp = program(&mut ebpf)?;
        prog.load()?;
        let mut take = |name: &str| {
            ebpf.take_map(name)
                .ok_or_else(|| XdpError::NotBuilt(format!("filter (map {name} missing)")))
        };
        let (b, c, n) = (take("blocklist")?, take("config")?, take("counters")?);
        let buckets = take("buckets")?;
        Ok(XdpFilter {
            maps: FilterMaps::from_maps(b, c, n)?,
            extra: vec![("buckets".into(), buckets)],
            ebpf,
            attached: None,
        })
    }

    /// Attaches to `iface`: driver mode unless `skb_only`, falling back to skb mode.
    pub fn attach(&mut self, iface: &str, skb_only: bool) -> Result<AttachMode, XdpError> {
        let prog = program(&mut self.ebpf)?;
        let (id, mode) = attach_with_fallback(prog, iface, skb_only)?;
        self.attached = Some((iface.into(), mode, id));
        Ok(mode)
    }

    /// Detaches from the interface (dropping the filter does too).
    pub fn detach(&mut self) -> Result<(), XdpError> {
        if let Some((_, _, id)) = self.attached.take() {
            program(&mut self.ebpf)?.detach(id)?;
        }
        Ok(())
    }

    /// Runs `frame` through the program once (BPF_PROG_TEST_RUN): the XDP action (1 drop,
    /// 2 pass, 3 tx, 4 redirect) and the frame as the program left it.
    pub fn test_run(&mut self, frame: &[u8]) -> Result<(u32, Vec<u8>), XdpError> {
        test_run_xdp(program(&mut self.ebpf)?, frame)
    }

    /// Pins the attachment and the maps under `dir` (created), so the filter stays attached
    /// after this process exits; [`unpin`] detaches it.
    /// Mounts bpffs at [`crate::BPFFS_ROOT`] first when `dir` is under it and it is missing.
    pub fn pin(mut self, dir: &Path) -> Result<(), XdpError> {
        crate::bpffs::ensure_for(dir)?;
        std::fs::create_dir_all(dir).map_err(|e| pin_err(dir, e))?;
        let Some((_, _, id)) = self.attached.take() else {
            return Err(pin_err(dir, "not attached"));
        };
        let prog = program(&mut self.ebpf)?;
        let link = prog.take_link(id)?;
        let fd = FdLink::try_from(link).map_err(|e| pin_err(dir, e))?;
        let lp = dir.join("link");
        fd.pin(&lp).map_err(|e| pin_err(&lp, e))?;
        let pin = |p: PathBuf, r: Result<(), aya::pin::PinError>| r.map_err(|e| pin_err(&p, e));
        let XdpFilter { maps: m, extra, .. } = self;
        pin(
            dir.join("blocklist"),
            m.blocklist.pin(dir.join("blocklist")),
        )?;
        pin(dir.join("config"), m.config.pin(dir.join("config")))?;
        pin(dir.join("counters"), m.counters.pin(dir.join("counters")))?;
        for (name, map) in &extra {
            pin(dir.join(name), map.pin(dir.join(name)))?;
        }
        Ok(())
    }
}

/// Detaches a filter pinned under `dir` and removes its pins.
pub fn unpin(dir: &Path) -> Result<(), XdpError> {
    let lp = dir.join("link");
    let link = PinnedLink::from_pin(&lp).map_err(|e| pin_err(&lp, e))?;
    drop(link.unpin().map_err(|e| pin_err(&lp, e))?); // the last reference: detaches
    for name in MAPS {
        let _ = std::fs::remove_file(dir.join(name));
    }
    std::fs::remove_dir(dir).map_err(|e| pin_err(dir, e))
}

fn program(ebpf: &mut Ebpf) -> Result<&mut Xdp, XdpError> {
    let p = ebpf
        .program_mut("xdp_filter")
        .ok_or_else(|| XdpError::NotBuilt("filter (program xdp_filter missing)".into()))?;
    Ok(p.try_into()?)
}
