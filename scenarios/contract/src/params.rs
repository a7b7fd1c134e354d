//! Named scenario parameters: declared with defaults and bounds, set with `--set key=value`,
//! parsed into typed values. A bad name or value is an error that lists the valid choices.

use std::collections::BTreeMap;
use std::fmt;
use testbed_model::Duration;

/// What values a parameter takes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// An integer in `min..=max`.
    Int {
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// A real number in `min..=max`.
    Real {
        /// Smallest allowed.
        min: f64,
        /// Largest allowed.
        max: f64,
    },
    /// A duration such as `1ms`, `250us`, `2s`, `1.5s`.
    Duration,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Int { min, max } => write!(f, "an integer in {min}..={max}"),
            Kind::Real { min, max } => write!(f, "a number in {min}..={max}"),
            Kind::Duration => f.write_str("a duration like 500us, 1ms, 2s"),
            Kind::Choice(words) => write!(f, "one of {}", words.join(", ")),
        }
    }
}

/// A declared parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamSpec {
    /// Name used with `--set`.
    pub name: &'static str,
    /// Default value, in the same syntax as `--set`.
    pub default: &'static str,
    /// Allowed values.
    pub kind: Kind,
    /// One line of help.
    pub help: &'static str,
}

/// A parsed value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// From [`Kind::Int`].
    Int(u64),
    /// From [`Kind::Real`].
    Real(f64),
    /// From [`Kind::Duration`].
    Duration(Duration),
    /// From [`Kind::Choice`].
    Choice(&'static str),
}

impl Value {
    /// As JSON (durations in seconds).
    pub fn to_json(self) -> serde_json::Value {
        match self {
            Value::Int(v) => v.into(),
            Value::Real(v) => v.into(),
            Value::Duration(d) => format_duration(d).into(),
            Value::Choice(w) => w.into(),
        }
    }
}

/// Why a parameter was rejected.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// No parameter has that name.
    #[error("unknown parameter {name:?}; valid parameters: {}", valid.join(", "))]
    Unknown {
        /// The name given.
        name: String,
        /// Valid names.
        valid: Vec<String>,
    },
    /// The value does not parse or is out of range.
    #[error("bad value {value:?} for {name}: expected {expected}")]
    BadValue {
        /// The parameter.
        name: String,
        /// The value given.
        value: String,
        /// What it takes.
        expected: String,
    },
    /// `--set` without `=`.
    #[error("expected key=value, got {0:?}")]
    Malformed(String),
    /// Values that are fine alone but not together.
    #[error("{0}")]
    Constraint(String),
}

/// Fails when `a * b` exceeds `max`: a bound on what a run holds in memory.
pub fn check_product(p: &Params, a: &str, b: &str, max: u64) -> Result<(), ParamError> {
    let (x, y) = (p.int(a), p.int(b));
    match x.checked_mul(y) {
        Some(v) if v <= max => Ok(()),
        _ => Err(ParamError::Constraint(format!(
            "{a} × {b} = {x} × {y} exceeds the limit of {max} per run"
        ))),
    }
}

/// Parses `1ms`, `250us`, `2s`, `1.5s`, `100ns`, `3m`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = s.split_at(split);
    let scale: f64 = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        _ => return None,
    };
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && v >= 0.0 && v * scale < 1e19)
        .then(|| Duration::from_nanos((v * scale).round() as u64))
}

/// Renders a duration the way [`parse_duration`] reads it.
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns % 1_000_000_000 == 0 {
        format!("{}s", ns / 1_000_000_000)
    } else if ns % 1_000_000 == 0 {
        format!("{}ms", ns / 1_000_000)
    } else if ns % 1_000 == 0 {
        format!("{}us", ns / 1_000)
    } else {
        format!("{ns}ns")
    }
}

fn parse(spec: &ParamSpec, raw: &str) -> Result<Value, ParamError> {
    let bad = || ParamError::BadValue {
        name: spec.name.into(),
        value: raw.into(),
        expected: spec.kind.to_string(),
    };
    match spec.kind {
        Kind::Int { min, max } => {
            let v: u64 = raw.trim().replace('_', "").parse().map_err(|_| bad())?;
            (min..=max)
                .contains(&v)
                .then_some(Value::Int(v))
                .ok_or_else(bad)
        }
        Kind::Real { min, max } => {
            let v: f64 = raw.trim().parse().map_err(|_| bad())?;
            (v >= min && v <= max)
                .then_some(Value::Real(v))
                .ok_or_else(bad)
        }
        Kind::Duration => parse_duration(raw).map(Value::Duration).ok_or_else(bad),
        Kind::Choice(words) => words
            .iter()
            .find(|w| **w == raw.trim())
            .map(|w| Value::Choice(w))
            .ok_or_else(bad),
    }
}

/// A full set of parameter values for one scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    values: BTreeMap<&'static str, Value>,
}

impl Params {
    /// Defaults overridden by `sets` (`key=value` strings).
    pub fn parse(specs: &[ParamSpec], sets: &[String]) -> Result<Params, ParamError> {
        let mut values = BTreeMap::new();
        for s in specs {
            values.insert(s.name, parse(s, s.default).expect("defaults are valid"));
        }
        for set in sets {
            let (k, v) = set
                .split_once('=')
                .ok_or_else(|| ParamError::Malformed(set.clone()))?;
            let spec =
                specs
                    .iter()
                    .find(|s| s.name == k.trim())
                    .ok_or_else(|| ParamError::Unknown {
                        name: k.trim().into(),
                        valid: specs.iter().map(|s| s.name.to_string()).collect(),
                    })?;
            values.insert(spec.name, parse(spec, v)?);
        }
        Ok(Params { values })
    }

    fn get(&self, name: &str) -> Value {
        *self
            .values
            .get(name)
            .unwrap_or_else(|| panic!("scenario reads undeclared parameter {name:?}"))
    }
    /// Whether the scenario declares parameter `name`.
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
    /// An integer parameter.
    pub fn int(&self, name: &str) -> u64 {
        match self.get(name) {
            Value::Int(v) => v,
            other => panic!("parameter {name} is {other:?}, not an integer"),
        }
    }
    /// A real parameter.
    pub fn real(&self, name: &str) -> f64 {
        match self.get(name) {
            Value::Real(v) => v,
            other => panic!("parameter {name} is {other:?}, not a number"),
        }
    }
    /// A duration parameter.
    pub fn duration(&self, name: &str) -> Duration {
        match self.get(name) {
            Value::Duration(v) => v,
            other => panic!("parameter {name} is {other:?}, not a duration"),
        }
    }
    /// A choice parameter.
    pub fn choice(&self, name: &str) -> &'static str {
        match self.get(name) {
            Value::Choice(w) => w,
            other => panic!("parameter {name} is {other:?}, not a choice"),
        }
    }
    /// All values as a JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.values
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_json()))
                .collect(),
        )
    }
    /// `--set` arguments that reproduce the non-default values.
    pub fn non_default_sets(&self, specs: &[ParamSpec]) -> Vec<String> {
        specs
            .iter()
            .filter(|s| parse(s, s.default).ok() != Some(self.get(s.name)))
            .map(|s| {
                let v = match self.get(s.name) {
                    Value::Int(v) => v.to_string(),
                    Value::Real(v) => v.to_string(),
                    Value::Duration(d) => format_duration(d),
                    Value::Choice(w) => w.to_string(),
                };
                format!("{}={}", s.name, v)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[ParamSpec] = &[
        ParamSpec {
            name: "clients",
            default: "2",
            kind: Kind::Int { min: 1, max: 10 },
            help: "",
        },
        ParamSpec {
            name: "loss",
            default: "0",
            kind: Kind::Real { min: 0.0, max: 1.0 },
            help: "",
        },
        ParamSpec {
            name: "latency",
            default: "1ms",
            kind: Kind::Duration,
            help: "",
        },
    ];

    #[test]
    fn defaults_and_overrides() {
        let p = Params::parse(SPECS, &["clients=5".into(), "latency=1.5s".into()]).unwrap();
        assert_eq!(p.int("clients"), 5);
        assert_eq!(p.real("loss"), 0.0);
        assert_eq!(p.duration("latency"), Duration::from_millis(1500));
        assert_eq!(
            p.non_default_sets(SPECS),
            vec!["clients=5", "latency=1500ms"]
        );
    }

    #[test]
    fn errors_name_the_valid_choices() {
        let e = Params::parse(SPECS, &["client=5".into()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown parameter \"client\"; valid parameters: clients, loss, latency"
        );
        let e = Params::parse(SPECS, &["clients=11".into()]).unwrap_err();
        assert!(matches!(e, ParamError::BadValue { .. }), "{e}");
        assert!(e.to_string().contains("1..=10"));
        assert_eq!(
            Params::parse(SPECS, &["loss".into()]).unwrap_err(),
            ParamError::Malformed("loss".into())
        );
        assert!(Params::parse(SPECS, &["latency=fast".into()]).is_err());
    }

    #[test]
    fn durations_round_trip() {
        for s in ["1ms", "250us", "2s", "100ns"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("5"), None);
    }
}
