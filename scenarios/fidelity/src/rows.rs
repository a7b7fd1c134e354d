//! Each row's unit, tolerance (with its justification) and verdict rule.
//! (Filled in by the suite's rows; see `row::RowId` for the list.)

use crate::row::{Obs, RowId, Verdict};

/// A row's fixed description.
pub struct RowSpec {
    /// Which row.
    pub id: RowId,
    /// Unit of the values.
    pub unit: &'static str,
    /// Tolerance and a one-line justification.
    pub tolerance: &'static str,
    /// Judges a simulator observation against Linux's.
    pub judge: fn(linux: &Obs, sim: &Obs) -> Verdict,
}

/// The spec of `id`.
pub fn spec(id: RowId) -> RowSpec {
    RowSpec {
        id,
        unit: "",
        tolerance: "",
        judge: |_, _| Verdict::NotRun,
    }
}
