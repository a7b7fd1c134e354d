//! The contract's fuzz body (`fuzz/fuzz_targets/scenario_params.rs`), shared with the stable
//! replay test (scenarios/tests/fuzz_replay.rs, which also runs it against every catalogue
//! scenario's parameters).

use crate::params::{parse_duration, Kind, ParamSpec, Params};

/// One parameter of every kind, with tight and wide ranges.
const SPECS: &[ParamSpec] = &[
    ParamSpec {
        name: "clients",
        default: "4",
        kind: Kind::Int {
            min: 1,
            max: 100_000,
        },
        help: "an integer",
    },
    ParamSpec {
        name: "big",
        default: "0",
        kind: Kind::Int {
            min: 0,
            max: u64::MAX,
        },
        help: "an integer over the whole u64 range",
    },
    ParamSpec {
        name: "loss",
        default: "0",
        kind: Kind::Real { min: 0.0, max: 1.0 },
        help: "a rate",
    },
    ParamSpec {
        name: "latency",
        default: "1ms",
        kind: Kind::Duration,
        help: "a duration",
    },
    ParamSpec {
        name: "mode",
        default: "on",
        kind: Kind::Choice(&["on", "off", "auto"]),
        help: "a choice",
    },
];

/// `--set key=value` lines against one parameter of every kind (see [`params_against`]).
pub fn scenario_params(data: &[u8]) {
    params_against(data, &[SPECS]);
}

/// `--set key=value` lines (one per line of `data`) against each of `specs`: never panics, and
/// whatever parses renders back to sets that parse to the same values.
pub fn params_against(data: &[u8], specs: &[&[ParamSpec]]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let sets: Vec<String> = text.split('\n').map(str::to_string).collect();
    let _ = parse_duration(text);
    for specs in specs {
        if let Ok(p) = Params::parse(specs, &sets) {
            let again =
                Params::parse(specs, &p.non_default_sets(specs)).expect("rendered sets parse");
            assert_eq!(again, p, "render/parse round trip");
        }
    }
}
