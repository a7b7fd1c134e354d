//! `--set key=value` parsing against every scenario's declared parameters: never panics,
//! and whatever parses renders back (`non_default_sets`) to text that parses to the same values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use testbed_scenarios::{catalogue, params::parse_duration, Params};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let sets: Vec<String> = text.split('\n').map(str::to_string).collect();
    let _ = parse_duration(text);
    for s in catalogue() {
        if let Ok(p) = Params::parse(s.params(), &sets) {
            let again = Params::parse(s.params(), &p.non_default_sets(s.params())).expect("rendered sets parse");
            assert_eq!(again, p, "render/parse round trip");
        }
    }
});
