//! The simulator side: each row's topology, faults and workload on `testbed-sim` in one
//! fidelity. Deterministic (fixed seeds); runs in seconds.

use crate::row::{Obs, RowId};
use testbed_sim::Fidelity;

/// Measures `row` on the simulator in `fidelity`.
pub fn measure(row: RowId, fidelity: Fidelity) -> Obs {
    let _ = fidelity;
    Obs {
        value: None,
        outcome: String::new(),
        detail: format!("{}: not built yet", row.name()),
    }
}
