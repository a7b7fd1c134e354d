//! The simulator side: each row's topology (a client and a server host joined by the row's
//! link), its faults as sim `Control` verbs, and its workload, in one fidelity.
//! Deterministic (a fixed seed per row); every run is bounded in simulated time.

mod faults;
mod topology;

pub use faults::SimFaults;

use crate::row::{Obs, RowId};
use crate::workload::{self, Client};
use std::cell::RefCell;
use std::rc::Rc;
use testbed_sim::{Fidelity, Sim};

/// Simulated time a row may take before its run is cut off (every workload bounds its own
/// waits well inside it).
pub const RUN_LIMIT: testbed_model::Duration = testbed_model::Duration::from_secs(900);

/// Measures `row` on the simulator in `fidelity`.
pub fn measure(row: RowId, fidelity: Fidelity) -> Obs {
    let cfg = topology::config(row, fidelity);
    let mut sim = Sim::new(cfg);
    sim.host("server", move |h| workload::serve(row, h.clone(), h));
    let slot: Rc<RefCell<Option<Obs>>> = Rc::default();
    let out = slot.clone();
    sim.client("client", move |h| async move {
        let server = h.lookup("server").ok_or("no server host")?;
        let faults = SimFaults::new(h.control());
        let cx = Client {
            rt: h.clone(),
            net: h,
            server,
            faults: &faults,
        };
        *out.borrow_mut() = Some(workload::run(row, &cx).await);
        Ok(())
    });
    let run = sim.run();
    let taken = slot.borrow_mut().take();
    match (taken, run) {
        (Some(o), _) => o,
        (None, Err(e)) => Obs {
            value: None,
            outcome: "sim-error".into(),
            detail: format!("the simulation ended without a result: {e}"),
        },
        (None, Ok(_)) => Obs {
            value: None,
            outcome: "sim-error".into(),
            detail: "the client finished without a result".into(),
        },
    }
}
