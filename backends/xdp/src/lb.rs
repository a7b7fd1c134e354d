//! The XDP L4 load balancer (bpf/lb.c), Katran-like: frames for the VIP (address, port,
//! protocol) are steered to a backend chosen through a Maglev table, remembered per flow in a
//! conntrack LRU, rewritten (destination IPv4 and MAC, source MAC, checksums) and sent back out
//! (XDP_TX) or redirected to another interface. Load it, attach it, give it the VIP, the
//! backends and a Maglev table (plain `&[u32]` of backend indices), read its counters, and run
//! frames through it with BPF_PROG_TEST_RUN.

use crate::filter::AttachMode;
use crate::objects::object;
use crate::XdpError;
use aya::maps::{Array, MapData, PerCpuArray};
use aya::programs::Xdp;
use aya::Ebpf;
use std::net::Ipv4Addr;

/// Counter names, in the order of the program's counter indices.
pub const LB_COUNTER_NAMES: [&str; 9] = [
    "pass_not_ipv4",
    "pass_not_vip",
    "tx",
    "redirect",
    "new_flow",
    "existing_flow",
    "drop_no_backend",
    "drop_malformed",
    "drop_fragment",
];

/// Packet counts, summed over CPUs, indexed as [`LB_COUNTER_NAMES`]. A balanced frame counts
/// twice: `new_flow` or `existing_flow`, then `tx` or `redirect`.
pub type LbCounters = [u64; 9];

/// Most Maglev table slots the program holds (a prime).
pub const LB_TABLE_MAX: usize = 65_537;
/// Most backend slots the program holds.
pub const LB_BACKENDS_MAX: usize = 4_096;

/// `struct lb_config` of bpf/lb.c. Addresses and ports in network byte order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
struct LbConfig {
    vip_addr: u32,
    vip_port: u16,
    vip_proto: u8,
    pad0: u8,
    lb_mac: [u8; 6],
    pad1: u16,
    redirect_ifindex: u32,
    table_size: u32,
}

// SAFETY: repr(C), 24 bytes of integer fields laid out without implicit padding (4+2+1+1+6+2+4+4,
// every field at a multiple of its alignment); every bit pattern is a valid value.
#[allow(unsafe_code)]
unsafe impl aya::Pod for LbConfig {}

/// `struct backend` of bpf/lb.c: an IPv4 address (network byte order; 0: empty slot) and a MAC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
struct Backend {
    addr: u32,
    mac: [u8; 6],
    pad: u16,
}

// SAFETY: repr(C), 12 bytes of integer fields without implicit padding (4+6+2, each field at a
// multiple of its alignment); every bit pattern is a valid value.
#[allow(unsafe_code)]
unsafe impl aya::Pod for Backend {}

/// A loaded load-balancer program with its maps; detached when dropped.
pub struct XdpLb {
    ebpf: Ebpf,
    config: Array<MapData, LbConfig>,
    table: Array<MapData, u32>,
    backends: Array<MapData, Backend>,
    counters: PerCpuArray<MapData, u64>,
    cfg: LbConfig,
    backends_len: usize,
    attached: Option<aya::programs::xdp::XdpLinkId>,
}

impl XdpLb {
    /// Loads (and verifies) the program. It balances nothing until [`XdpLb::set_vip`] names a
    /// TCP or UDP VIP, and drops VIP frames until it has backends and a table.
    pub fn load() -> Result<XdpLb, XdpError> {
        crate::available()?;
        let mut ebpf = Ebpf::load(object("lb")?)?;
        program(&mut ebpf)?.load()?;
        let mut take = |name: &str| {
            ebpf.take_map(name)
                .ok_or_else(|| XdpError::NotBuilt(format!("lb (map {name} missing)")))
        };
        let config = Array::try_from(take("config")?)?;
        let table = Array::try_from(take("table")?)?;
        let backends = Array::try_from(take("backends")?)?;
        let counters = PerCpuArray::try_from(take("counters")?)?;
        Ok(XdpLb {
            ebpf,
            config,
            table,
            backends,
            counters,
            cfg: LbConfig::default(),
            backends_len: 0,
            attached: None,
        })
    }

    /// Balances `proto` (6 TCP, 17 UDP; any other value balances nothing) to `ip:port`;
    /// rewritten frames leave with source MAC `lb_mac`, back out of the interface they came in
    /// on, or redirected to interface `redirect_ifindex` when given.
    pub fn set_vip(
        &mut self,
        ip: Ipv4Addr,
        port: u16,
        proto: u8,
        lb_mac: [u8; 6],
        redirect_ifindex: Option<u32>,
    ) -> Result<(), XdpError> {
        let mut cfg = self.cfg;
        cfg.vip_addr = u32::from_ne_bytes(ip.octets());
        cfg.vip_port = port.to_be();
        cfg.vip_proto = proto;
        cfg.lb_mac = lb_mac;
        cfg.redirect_ifindex = redirect_ifindex.unwrap_or(0);
        self.write_config(cfg)
    }

    /// Sets the backends: index `i` of the table's values is `backends[i]`. An address of
    /// 0.0.0.0 marks an empty slot (flows held by it pick again); slots past the end are
    /// emptied.
    pub fn set_backends(&mut self, backends: &[(Ipv4Addr, [u8; 6])]) -> Result<(), XdpError> {
        if backends.len() > LB_BACKENDS_MAX {
            return Err(XdpError::TooLarge {
                what: "backends",
                len: backends.len(),
                max: LB_BACKENDS_MAX,
            });
        }
        for (i, (ip, mac)) in backends.iter().enumerate() {
            let b = Backend {
                addr: u32::from_ne_bytes(ip.octets()),
                mac: *mac,
                pad: 0,
            };
            self.backends.set(i as u32, b, 0)?;
        }
        for i in backends.len()..self.backends_len {
            self.backends.set(i as u32, Backend::default(), 0)?;
        }
        self.backends_len = backends.len();
        Ok(())
    }

    /// Loads a Maglev table (slot → backend index); its length is the table size (usually a
    /// prime, at most [`LB_TABLE_MAX`]). An empty table drops new flows as having no backend.
    pub fn set_table(&mut self, table: &[u32]) -> Result<(), XdpError> {
        if table.len() > LB_TABLE_MAX {
            return Err(XdpError::TooLarge {
                what: "Maglev table",
                len: table.len(),
                max: LB_TABLE_MAX,
            });
        }
        // Shrinking: publish the smaller size first, so no lookup reaches a stale slot.
        let mut cfg = self.cfg;
        cfg.table_size = cfg.table_size.min(table.len() as u32);
        self.write_config(cfg)?;
        for (slot, node) in table.iter().enumerate() {
            self.table.set(slot as u32, *node, 0)?;
        }
        cfg.table_size = table.len() as u32;
        self.write_config(cfg)
    }

    fn write_config(&mut self, cfg: LbConfig) -> Result<(), XdpError> {
        self.config.set(0, cfg, 0)?;
        self.cfg = cfg;
        Ok(())
    }

    /// The counters, summed over CPUs.
    pub fn counters(&self) -> Result<LbCounters, XdpError> {
        let mut out = [0u64; 9];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = self.counters.get(&(i as u32), 0)?.iter().sum();
        }
        Ok(out)
    }

    /// Attaches to `iface`: driver mode unless `skb_only`, falling back to skb mode.
    pub fn attach(&mut self, iface: &str, skb_only: bool) -> Result<AttachMode, XdpError> {
        let prog = program(&mut self.ebpf)?;
        let (id, mode) = crate::prog::attach_with_fallback(prog, iface, skb_only)?;
        self.attached = Some(id);
        Ok(mode)
    }

    /// Detaches from the interface (dropping the balancer does too).
    pub fn detach(&mut self) -> Result<(), XdpError> {
        if let Some(id) = self.attached.take() {
            program(&mut self.ebpf)?.detach(id)?;
        }
        Ok(())
    }

    /// Runs `frame` through the program once (BPF_PROG_TEST_RUN): the XDP action (1 drop,
    /// 2 pass, 3 tx, 4 redirect) and the frame as the program left it.
    pub fn test_run(&mut self, frame: &[u8]) -> Result<(u32, Vec<u8>), XdpError> {
        crate::prog::test_run_xdp(program(&mut self.ebpf)?, frame)
    }
}

fn program(ebpf: &mut Ebpf) -> Result<&mut Xdp, XdpError> {
    let p = ebpf
        .program_mut("xdp_lb")
        .ok_or_else(|| XdpError::NotBuilt("lb (program xdp_lb missing)".into()))?;
    Ok(p.try_into()?)
}
