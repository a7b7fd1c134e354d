//! Replaying one failing run from the environment: `TESTBED_SEED=n` runs only seed `n`, and
//! with `TESTBED_SCHEDULE` (a schedule's JSON, or `@path` to a file holding it or a
//! `testbed run --json` result) that exact schedule instead of the drawn one. The command a
//! failure prints sets both ([`replay_command`]); `TESTBED_SEEDS`, `TESTBED_SEED_START` and
//! `TESTBED_JOBS` resize a sweep without touching the test.

use crate::faults::{FaultSchedule, ScheduleError};
use std::ops::Range;

/// One run to replay.
#[derive(Clone, Debug, PartialEq)]
pub struct Replay {
    /// The seed.
    pub seed: u64,
    /// The schedule to run instead of the seed's drawn one.
    pub schedule: Option<FaultSchedule>,
}

/// An environment variable the harness cannot use.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// Not an unsigned integer.
    #[error("{var}={value:?} is not an unsigned integer")]
    NotANumber {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// `TESTBED_SCHEDULE` without `TESTBED_SEED`.
    #[error("TESTBED_SCHEDULE is set but TESTBED_SEED is not: a schedule replays one seed")]
    ScheduleWithoutSeed,
    /// `TESTBED_SCHEDULE=@path` that cannot be read.
    #[error("TESTBED_SCHEDULE=@{path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// `TESTBED_SCHEDULE` that is not a schedule.
    #[error("TESTBED_SCHEDULE: {0}")]
    Schedule(ScheduleError),
    /// `TESTBED_JOBS=0` or a seed range past `u64::MAX`.
    #[error("{0}")]
    BadValue(String),
}

fn var(name: &'static str) -> Result<Option<u64>, EnvError> {
    match std::env::var(name) {
        Ok(v) => parse_u64(name, &v).map(Some),
        Err(_) => Ok(None),
    }
}

fn parse_u64(var: &'static str, value: &str) -> Result<u64, EnvError> {
    value.trim().parse().map_err(|_| EnvError::NotANumber {
        var,
        value: value.into(),
    })
}

impl Replay {
    /// The replay `TESTBED_SEED` and `TESTBED_SCHEDULE` ask for, if any.
    pub fn from_env() -> Result<Option<Replay>, EnvError> {
        Replay::parse(
            std::env::var("TESTBED_SEED").ok().as_deref(),
            std::env::var("TESTBED_SCHEDULE").ok().as_deref(),
        )
    }

    /// The replay the two variables' values ask for (`None`: unset).
    pub fn parse(seed: Option<&str>, schedule: Option<&str>) -> Result<Option<Replay>, EnvError> {
        let Some(seed) = seed else {
            return match schedule {
                Some(_) => Err(EnvError::ScheduleWithoutSeed),
                None => Ok(None),
            };
        };
        let seed = parse_u64("TESTBED_SEED", seed)?;
        let schedule = match schedule {
            None => None,
            Some(s) => {
                let text = match s.trim().strip_prefix('@') {
                    Some(path) => {
                        std::fs::read_to_string(path).map_err(|e| EnvError::Unreadable {
                            path: path.into(),
                            reason: e.to_string(),
                        })?
                    }
                    None => s.to_string(),
                };
                Some(FaultSchedule::from_json(&text).map_err(EnvError::Schedule)?)
            }
        };
        Ok(Some(Replay { seed, schedule }))
    }
}

/// `range` resized by `TESTBED_SEED_START` (first seed) and `TESTBED_SEEDS` (how many), the
/// variables `testbed_sim::check_seeds` reads too.
pub fn seeds_from_env(range: Range<u64>) -> Result<Range<u64>, EnvError> {
    let start = var("TESTBED_SEED_START")?.unwrap_or(range.start);
    let count = var("TESTBED_SEEDS")?.unwrap_or(range.end.saturating_sub(range.start));
    let end = start.checked_add(count).ok_or_else(|| {
        EnvError::BadValue(format!("seeds {start}..{start}+{count} run past u64::MAX"))
    })?;
    Ok(start..end)
}

/// Worker threads: `TESTBED_JOBS`, else the machine's parallelism.
pub fn jobs_from_env() -> Result<usize, EnvError> {
    match var("TESTBED_JOBS")? {
        Some(0) => Err(EnvError::BadValue(
            "TESTBED_JOBS=0: at least one worker thread runs".into(),
        )),
        Some(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

/// The command that replays `seed` with exactly `schedule`: testbed-sim's replay command for
/// this test (`TESTBED_SEED=n cargo test -p <pkg> --test <target> -- --exact <test>`, named
/// after the calling thread) with `TESTBED_SCHEDULE='<json>'` added.
pub fn replay_command(seed: u64, schedule: &FaultSchedule) -> String {
    let env = format!(
        "TESTBED_SCHEDULE={}",
        shell_quote(&schedule.to_json().to_string())
    );
    let base = testbed_sim::testing::replay_command(seed);
    match base.strip_prefix(&format!("TESTBED_SEED={seed} ")) {
        Some(rest) => format!("TESTBED_SEED={seed} {env} {rest}"),
        None => format!("re-run with TESTBED_SEED={seed} {env}"),
    }
}

/// `s` in single quotes for a POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{Fault, FaultEvent};

    fn one() -> FaultSchedule {
        FaultSchedule {
            events: vec![FaultEvent {
                at_ms: 5,
                for_ms: 10,
                fault: Fault::Crash {
                    host: "it's".into(),
                },
            }],
            buggify_mask: None,
        }
    }

    #[test]
    fn the_variables_parse_and_bad_ones_are_typed_errors() {
        assert_eq!(Replay::parse(None, None), Ok(None));
        assert_eq!(
            Replay::parse(Some(" 7 "), None),
            Ok(Some(Replay {
                seed: 7,
                schedule: None
            }))
        );
        let json = one().to_json().to_string();
        assert_eq!(
            Replay::parse(Some("7"), Some(&json)),
            Ok(Some(Replay {
                seed: 7,
                schedule: Some(one())
            }))
        );
        assert_eq!(
            Replay::parse(None, Some(&json)),
            Err(EnvError::ScheduleWithoutSeed)
        );
        assert_eq!(
            Replay::parse(Some("x"), None),
            Err(EnvError::NotANumber {
                var: "TESTBED_SEED",
                value: "x".into()
            })
        );
        assert!(matches!(
            Replay::parse(Some("1"), Some("{\"events\": 3}")),
            Err(EnvError::Schedule(ScheduleError::Parse(_)))
        ));
        assert!(matches!(
            Replay::parse(Some("1"), Some("@/nonexistent/schedule.json")),
            Err(EnvError::Unreadable { .. })
        ));
    }

    #[test]
    fn a_schedule_file_replays_like_inline_json() {
        let path = std::env::temp_dir().join(format!("testbed-replay-{}.json", std::process::id()));
        std::fs::write(&path, one().to_json().to_string()).unwrap();
        let r = Replay::parse(Some("3"), Some(&format!("@{}", path.display())));
        std::fs::remove_file(&path).unwrap();
        assert_eq!(r.unwrap().unwrap().schedule, Some(one()));
    }

    #[test]
    fn the_replay_command_sets_both_variables_and_names_this_test() {
        let cmd = replay_command(7, &one());
        assert!(
            cmd.starts_with(r#"TESTBED_SEED=7 TESTBED_SCHEDULE='{"events":[{"#),
            "{cmd}"
        );
        // The quote in the host name is escaped for the shell.
        assert!(cmd.contains(r#""host":"it'\''s""#), "{cmd}");
        assert!(
            cmd.contains(" cargo test -p testbed-harness --lib -- --exact "),
            "{cmd}"
        );
        assert!(
            cmd.ends_with(
                "replay::tests::the_replay_command_sets_both_variables_and_names_this_test"
            ),
            "{cmd}"
        );
    }
}
