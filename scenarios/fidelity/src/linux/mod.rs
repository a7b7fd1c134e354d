//! The Linux side (the oracle): namespaces joined by veth pairs (`lab`), impairments with nft
//! rules and the impairment bridge (`wire`), and each row's measurement on the kernel backend
//! (`rows`). Needs root, `ip`, `nft` and `ethtool`; the bridged rows also AF_XDP.

mod cmd;
pub mod error;
pub mod host;
pub mod lab;
mod rows;
mod wire;

use crate::row::{Obs, RowId};

/// Why the Linux side cannot run here (`Err`), or `Ok` when it can.
pub fn available() -> Result<(), String> {
    if !is_root() {
        return Err("the Linux side needs root (network namespaces, nft, AF_XDP)".into());
    }
    for tool in ["ip", "nft", "ethtool"] {
        if !cmd::has_tool(tool) {
            return Err(format!("`{tool}` is not installed"));
        }
    }
    Ok(())
}

/// Why the rows that need the impairment bridge (latency, rate) cannot run, if they cannot.
pub fn bridge_available() -> Result<(), String> {
    testbed_xdp::available().map_err(|e| format!("impairment bridge (AF_XDP): {e}"))
}

fn is_root() -> bool {
    // /proc/self/status "Uid:" real effective saved fs.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn needs_bridge(row: RowId) -> bool {
    matches!(
        row,
        RowId::Nagle | RowId::NoDelay | RowId::Bulk0 | RowId::Bulk1
    )
}

/// Measures `rows` on Linux, concurrently (one thread and one lab per row; the rows mostly
/// wait, so the total is about the longest row); results in `rows`' order.
pub fn measure_all(rows: &[RowId]) -> Vec<Obs> {
    if let Err(e) = available() {
        return rows.iter().map(|_| not_run(&e)).collect();
    }
    let bridge = bridge_available();
    std::thread::scope(|s| {
        let handles: Vec<_> = rows
            .iter()
            .enumerate()
            .map(|(i, &row)| {
                let bridge = &bridge;
                std::thread::Builder::new()
                    .name(format!("fid-{}", row.name()))
                    .spawn_scoped(s, move || match bridge {
                        Err(e) if needs_bridge(row) => not_run(e),
                        // Pairs 10.77.1–250 (distinct per row of this call).
                        _ => rows::measure(row, (i % 250 + 1) as u8),
                    })
            })
            .collect();
        handles
            .into_iter()
            .zip(rows)
            .map(|(h, row)| match h {
                Ok(h) => h.join().unwrap_or_else(|p| {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    not_run(&format!("{}: the Linux driver panicked: {msg}", row.name()))
                }),
                Err(e) => not_run(&format!("{}: spawn: {e}", row.name())),
            })
            .collect()
    })
}

fn not_run(why: &str) -> Obs {
    rows::not_run(why.to_string())
}
