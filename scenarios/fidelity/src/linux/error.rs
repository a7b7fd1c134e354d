//! Why a Linux lab or one of its measurements could not run.

/// A failure of the lab itself (never of the behaviour measured).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// Creating namespaces, links or nft rules failed (the command and its stderr).
    #[error("lab setup: {0}")]
    Setup(String),
    /// The impairment bridge could not start or stopped with an error.
    #[error("impairment bridge: {0}")]
    Bridge(String),
    /// The server process (a kernel-backend worker in the server namespace) failed.
    #[error("server process: {0}")]
    Server(String),
    /// A fault verb called by a workload failed (the row's result is void).
    #[error("fault verb: {0}")]
    Fault(String),
}

impl LabError {
    pub(crate) fn setup(e: impl std::fmt::Display) -> LabError {
        LabError::Setup(e.to_string())
    }
}
