//! Scenario-level: `kv --set faults=swarm` (3 clients) on the simulator,
//! with the run seed, buggify mask and fault schedule (within its swarm ranges) the input
//! decodes to; a failed invariant is a crash. `testbed explore <scenario> --from-fuzz FILE`
//! turns a crash file into a `--schedule` file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| testbed_scenarios::fuzzing::kv_run(data));
