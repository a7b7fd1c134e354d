//! The Linux side (the oracle): namespaces joined by veth pairs (`lab`), impairments with nft
//! rules and the impairment bridge, and each row's measurement with the rows' workloads on
//! the kernel backend. Needs root, `ip` and `nft`.

use crate::row::{Obs, RowId};

/// Why the Linux side cannot run here (`Err`), or `Ok` when it can.
pub fn available() -> Result<(), String> {
    Err("the Linux side is not built yet".into())
}

/// Measures `rows` on Linux, concurrently where rows mostly wait; results in `rows`' order.
pub fn measure_all(rows: &[RowId]) -> Vec<Obs> {
    rows.iter()
        .map(|r| Obs {
            value: None,
            outcome: String::new(),
            detail: format!("{}: not built yet", r.name()),
        })
        .collect()
}
