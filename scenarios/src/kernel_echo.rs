use crate::scenario::RunError;
use testbed_model::Duration;
#[allow(clippy::type_complexity)]
pub(crate) fn run(
    _seed: u64,
    _workers: usize,
    _clients: u64,
    _rts: u64,
    _size: usize,
) -> Result<(Vec<Result<Vec<u64>, String>>, Duration), RunError> {
    Err(RunError::Setup("WIP".into()))
}
