//! [`Faults`] over the simulator's `Control`: the row's client host is "client", its server
//! host "server".

use crate::workload::Faults;
use testbed_sim::Control;

/// The fault verbs of one row's simulation.
#[derive(Clone, Debug)]
pub struct SimFaults {
    control: Control,
}

impl SimFaults {
    /// Faults applied through `control`.
    pub fn new(control: Control) -> SimFaults {
        SimFaults { control }
    }
}

impl Faults for SimFaults {
    fn partition(&self) {
        self.control.partition("client", "server");
    }
    fn partition_oneway(&self) {
        self.control.partition_oneway("client", "server");
    }
    fn heal(&self) {
        self.control.repair("client", "server");
    }
    fn crash_server(&self) {
        self.control.crash("server");
    }
    fn restart_server(&self) {
        // The host's init (the row's server) runs again on restart.
        self.control.restart("server");
    }
}
