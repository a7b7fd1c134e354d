//! `testbed xdp`: the XDP filter on a named interface, kept attached between invocations by
//! pinning its link and maps under /sys/fs/bpf/testbed/<iface>.

use clap::Subcommand;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use testbed_xdp::{FilterConfig, FilterMaps, XdpFilter, COUNTER_NAMES};

#[derive(Subcommand)]
pub enum XdpCmd {
    /// Load the filter and attach it (driver mode, falling back to skb mode); it stays
    /// attached after this command exits.
    Attach {
        /// Interface name.
        iface: String,
        /// Generic (skb) mode only.
        #[arg(long)]
        skb: bool,
        /// Per-source packets per second (0: no limit).
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// Per-source burst, packets.
        #[arg(long, default_value_t = 64)]
        burst: u64,
        /// Per-source SYNs per second (0: no limit).
        #[arg(long, default_value_t = 0)]
        syn_rate: u64,
        /// Per-source SYN burst.
        #[arg(long, default_value_t = 16)]
        syn_burst: u64,
    },
    /// Drop every IPv4 packet from a source CIDR (a.b.c.d/len or an address).
    Block {
        /// Interface name.
        iface: String,
        /// Source CIDR.
        cidr: String,
    },
    /// Remove a CIDR from the blocklist.
    Unblock {
        /// Interface name.
        iface: String,
        /// Source CIDR.
        cidr: String,
    },
    /// Print the per-verdict counters as JSON.
    Stats {
        /// Interface name.
        iface: String,
    },
    /// Detach the filter and remove its pins.
    Detach {
        /// Interface name.
        iface: String,
    },
}

fn pin_dir(iface: &str) -> PathBuf {
    PathBuf::from(testbed_xdp::BPFFS_ROOT)
        .join("testbed")
        .join(iface)
}

fn cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (a, l) = s.split_once('/').unwrap_or((s, "32"));
    let addr: Ipv4Addr = a.parse().map_err(|e| format!("{a:?}: {e}"))?;
    let len: u8 = l
        .parse()
        .ok()
        .filter(|l| *l <= 32)
        .ok_or_else(|| format!("prefix length {l:?} is not 0..=32"))?;
    Ok((addr, len))
}

/// Costs of `rate` per second with bursts of `burst` (0: off).
fn costs(rate: u64, burst: u64) -> (u64, u64) {
    let cost = 1_000_000_000u64.checked_div(rate).unwrap_or(0);
    (cost, cost * burst.max(1))
}

fn attach(iface: &str, skb: bool, cfg: FilterConfig) -> Result<String, testbed_xdp::XdpError> {
    let dir = pin_dir(iface);
    if dir.join("link").exists() {
        return Err(testbed_xdp::XdpError::Setup(format!(
            "a filter is already attached to {iface} ({}); detach it first",
            dir.display()
        )));
    }
    let mut f = XdpFilter::load()?;
    f.maps.configure(cfg)?;
    let mode = f.attach(iface, skb)?;
    f.pin(&dir)?;
    Ok(format!(
        "attached to {iface} in {mode:?} mode, pinned at {}",
        dir.display()
    ))
}

pub fn run(cmd: XdpCmd) -> ExitCode {
    let r: Result<String, String> = match cmd {
        XdpCmd::Attach {
            iface,
            skb,
            rate,
            burst,
            syn_rate,
            syn_burst,
        } => {
            let ((cost_ns, cap_ns), (syn_cost_ns, syn_cap_ns)) =
                (costs(rate, burst), costs(syn_rate, syn_burst));
            let cfg = FilterConfig {
                cost_ns,
                cap_ns,
                syn_cost_ns,
                syn_cap_ns,
                now_ns: 0,
            };
            attach(&iface, skb, cfg).map_err(|e| e.to_string())
        }
        XdpCmd::Block { iface, cidr: c } => cidr(&c).and_then(|(a, l)| {
            FilterMaps::from_pins(&pin_dir(&iface))
                .and_then(|mut m| m.block(a, l))
                .map(|()| format!("blocked {a}/{l} on {iface}"))
                .map_err(|e| e.to_string())
        }),
        XdpCmd::Unblock { iface, cidr: c } => cidr(&c).and_then(|(a, l)| {
            FilterMaps::from_pins(&pin_dir(&iface))
                .and_then(|mut m| m.unblock(a, l))
                .map(|()| format!("unblocked {a}/{l} on {iface}"))
                .map_err(|e| e.to_string())
        }),
        XdpCmd::Stats { iface } => FilterMaps::from_pins(&pin_dir(&iface))
            .and_then(|m| m.counters())
            .map(|c| {
                let obj: serde_json::Map<String, serde_json::Value> = COUNTER_NAMES
                    .iter()
                    .zip(c)
                    .map(|(n, v)| (n.to_string(), v.into()))
                    .collect();
                serde_json::json!({ "iface": iface, "counters": obj }).to_string()
            })
            .map_err(|e| e.to_string()),
        XdpCmd::Detach { iface } => testbed_xdp::unpin(&pin_dir(&iface))
            .map(|()| format!("detached from {iface}"))
            .map_err(|e| e.to_string()),
    };
    match r {
        Ok(msg) => {
            println!("{msg}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("testbed xdp: {e}");
            ExitCode::from(1)
        }
    }
}
