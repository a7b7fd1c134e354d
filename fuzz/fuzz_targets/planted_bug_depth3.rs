//! Scenario-level: the test-only `planted-bug --set depth=3` (a crash is the planted bug: expected) on the simulator,
//! with the run seed, buggify mask and fault schedule (within its swarm ranges) the input
//! decodes to; a failed invariant is a crash. `testbed explore <scenario> --from-fuzz FILE`
//! turns a crash file into a `--schedule` file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| testbed_scenarios::fuzzing::planted_bug_depth3(data));
