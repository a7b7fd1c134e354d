//! Swarm exploration from a plain `#[test]`: run the user's check for a range of seeds, each
//! with the fault schedule its seed draws from a [`Swarm`], on worker threads; on a failure,
//! shrink that seed's schedule (ddmin, [`crate::shrink`]) with the same check and report once:
//! seed, minimal schedule as one line of JSON, error, and the command that replays it.
//!
//! The smallest failing seed is the one reported, whatever the thread count: seeds are claimed
//! in order, and once a seed fails no higher seed starts ([`SeedPool::run_until`]). A failure
//! is the check returning `Err` or panicking.

use crate::faults::{FaultSchedule, ScheduleError};
use crate::replay::{jobs_from_env, replay_command, seeds_from_env, EnvError, Replay};
use crate::shrink::shrink;
use crate::swarm::{Swarm, SwarmError};
use crate::sweep::SeedPool;
use std::fmt::{self, Display};
use std::ops::Range;
use testbed_sim::testing::catch_quietly;

/// What [`SwarmCheck::try_run`] explored when every seed passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// The seeds run (one seed for a replay).
    pub seeds: Range<u64>,
    /// Worker threads used.
    pub jobs: usize,
    /// Whether this was a replay (`TESTBED_SEED` or [`SwarmCheck::replay`]).
    pub replayed: bool,
}

/// A failing seed, its schedule shrunk.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// The smallest failing seed.
    pub seed: u64,
    /// The schedule the seed drew (or the replayed one).
    pub original: FaultSchedule,
    /// The error (or panic message with its location) of the original schedule.
    pub original_error: String,
    /// The smallest schedule found that still fails with this seed.
    pub minimal: FaultSchedule,
    /// The error of the minimal schedule: what the replay shows.
    pub error: String,
    /// Runs the shrinker spent.
    pub shrink_runs: u64,
    /// The shrinker ran out of runs: `minimal` may not be 1-minimal.
    pub shrink_exhausted: bool,
    /// The schedule was given to replay (`TESTBED_SCHEDULE`, [`SwarmCheck::replay`]) and ran as
    /// is, without shrinking. (`TESTBED_SEED` alone runs the drawn schedule and shrinks it.)
    pub replayed: bool,
    /// The command that replays `minimal` with `seed`.
    pub replay: String,
}

impl Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seed {} failed: {}", self.seed, self.error)?;
        let what = if self.replayed {
            "replayed schedule".to_string()
        } else {
            format!(
                "minimal schedule ({} of {} events, {} shrink runs{})",
                self.minimal.events.len(),
                self.original.events.len(),
                self.shrink_runs,
                if self.shrink_exhausted {
                    "; budget spent, may not be minimal"
                } else {
                    ""
                }
            )
        };
        writeln!(f, "{what}: {}", self.minimal.to_json())?;
        if !self.replayed && self.original_error != self.error {
            writeln!(f, "the drawn schedule failed with: {}", self.original_error)?;
        }
        write!(f, "replay: {}", self.replay)
    }
}

/// Why an exploration did not pass.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// A seed failed.
    #[error("{0}")]
    Failed(Box<Failure>),
    /// The swarm's names or ranges are inconsistent.
    #[error("bad swarm: {0}")]
    Swarm(#[from] SwarmError),
    /// An environment variable the harness reads is malformed.
    #[error("{0}")]
    Env(#[from] EnvError),
    /// The schedule to replay does not fit the swarm.
    #[error("TESTBED_SCHEDULE does not fit this swarm: {0}")]
    Schedule(ScheduleError),
}

/// Seeds, threads, shrink budget and replay for exploring a [`Swarm`]; [`check_swarm`] is
/// the one-line form.
///
/// ```
/// use testbed_harness::{SwarmCheck, CheckError, FaultKind, Swarm};
/// let swarm = Swarm::new(["a", "b"]).crashable(["b"]).kinds([FaultKind::Crash]);
/// // A "bug" that needs a crash of b starting in the first second.
/// let err = SwarmCheck::new(swarm)
///     .seeds(0..50)
///     .jobs(2)
///     .replay(None) // ignore TESTBED_SEED for this example
///     .try_run(|_seed, s| match s.events.iter().any(|e| e.at_ms < 1000) {
///         true => Err("crashed early"),
///         false => Ok(()),
///     })
///     .unwrap_err();
/// let CheckError::Failed(f) = err else { panic!("{err}") };
/// assert_eq!(f.minimal.events.len(), 1);
/// assert_eq!(f.minimal.events[0].at_ms, 0);
/// ```
#[derive(Clone, Debug)]
pub struct SwarmCheck {
    swarm: Swarm,
    seeds: Range<u64>,
    jobs: Option<usize>,
    shrink_runs: u64,
    replay: Option<Option<Replay>>,
}

impl SwarmCheck {
    /// Seeds `0..100`, `TESTBED_JOBS` threads (default: the machine's parallelism), 500
    /// shrink runs, the replay from the environment.
    pub fn new(swarm: Swarm) -> SwarmCheck {
        SwarmCheck {
            swarm,
            seeds: 0..100,
            jobs: None,
            shrink_runs: 500,
            replay: None,
        }
    }

    /// The seeds (`TESTBED_SEEDS` and `TESTBED_SEED_START` still resize them).
    pub fn seeds(mut self, seeds: Range<u64>) -> SwarmCheck {
        self.seeds = seeds;
        self
    }

    /// Worker threads, instead of `TESTBED_JOBS`. The check then runs on several threads at
    /// once (it is `Fn + Sync`: build the `Sim` inside it, per seed).
    pub fn jobs(mut self, n: usize) -> SwarmCheck {
        self.jobs = Some(n.max(1));
        self
    }

    /// At most this many runs for shrinking a failure (0: report the drawn schedule).
    pub fn shrink_runs(mut self, n: u64) -> SwarmCheck {
        self.shrink_runs = n;
        self
    }

    /// Replay this instead of what `TESTBED_SEED`/`TESTBED_SCHEDULE` say (`None`: explore
    /// the seeds even when they are set).
    pub fn replay(mut self, replay: Option<Replay>) -> SwarmCheck {
        self.replay = Some(replay);
        self
    }

    /// Runs `check(seed, schedule)` for every seed, or only the replay, and reports the
    /// smallest failing seed with its shrunk schedule. Apply the schedule to the `Sim` built
    /// for the seed with [`FaultSchedule::apply`].
    pub fn try_run<E: Display>(
        &self,
        check: impl Fn(u64, &FaultSchedule) -> Result<(), E> + Sync,
    ) -> Result<Checked, CheckError> {
        let spec = self.swarm.spec()?;
        let replay = match &self.replay {
            Some(r) => r.clone(),
            None => Replay::from_env()?,
        };
        // Strips testbed-sim's own replay hint (a `SimError` names seed and command) from an
        // error: the failure prints the full command once.
        let run = |seed: u64, s: &FaultSchedule| -> Result<(), String> {
            let hint = format!(
                " (seed {seed}; replay: {})",
                testbed_sim::testing::replay_command(seed)
            );
            match catch_quietly(|| check(seed, s)) {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string().replace(&hint, "")),
                Err(panic) => Err(format!("panicked: {panic}")),
            }
        };
        let (seeds, jobs, replayed, found) = match replay {
            Some(Replay {
                seed,
                schedule: Some(s),
            }) => {
                s.validate(&spec).map_err(CheckError::Schedule)?;
                let found = run(seed, &s).err().map(|e| (seed, s, e));
                (seed..seed + 1, 1, true, found)
            }
            Some(Replay {
                seed,
                schedule: None,
            }) => {
                let s = spec.draw(seed);
                let found = run(seed, &s).err().map(|e| (seed, s, e));
                (seed..seed + 1, 1, true, found)
            }
            None => {
                let seeds = seeds_from_env(self.seeds.clone())?;
                let jobs = match self.jobs {
                    Some(n) => n,
                    None => jobs_from_env()?,
                };
                let pool = SeedPool {
                    jobs,
                    thread_name: std::thread::current().name().map(str::to_string),
                };
                let results = pool.run_until(
                    seeds.clone(),
                    &|seed| {
                        let s = spec.draw(seed);
                        run(seed, &s).err().map(|e| (s, e))
                    },
                    &|r| r.is_some(),
                );
                let found = results
                    .into_iter()
                    .find_map(|(seed, r)| r.map(|(s, e)| (seed, s, e)));
                (seeds, jobs, false, found)
            }
        };
        let Some((seed, original, original_error)) = found else {
            return Ok(Checked {
                seeds,
                jobs,
                replayed,
            });
        };
        // A replayed schedule is run as given; a drawn one is shrunk.
        let given = replayed && original != spec.draw(seed);
        let (minimal, shrink_runs, shrink_exhausted) = if given || self.shrink_runs == 0 {
            (original.clone(), 0, false)
        } else {
            shrink(&original, self.shrink_runs, &mut |s| run(seed, s).is_err())
        };
        let error = if minimal == original {
            original_error.clone()
        } else {
            // Shrinking kept only schedules that fail; this reruns the one it settled on
            // for its error. Deterministic, so it fails again unless the check is not.
            run(seed, &minimal).err().unwrap_or_else(|| {
                "the minimal schedule passed when run again: the check is not deterministic".into()
            })
        };
        Err(CheckError::Failed(Box::new(Failure {
            seed,
            replay: replay_command(seed, &minimal),
            original,
            original_error,
            minimal,
            error,
            shrink_runs,
            shrink_exhausted,
            replayed: given,
        })))
    }

    /// [`SwarmCheck::try_run`], panicking once (at the caller's line) with the failure: seed,
    /// minimal schedule, error and replay command.
    #[track_caller]
    pub fn run<E: Display>(&self, check: impl Fn(u64, &FaultSchedule) -> Result<(), E> + Sync) {
        if let Err(e) = self.try_run(check) {
            panic!("{e}");
        }
    }
}

/// Runs `check(seed, schedule)` for each seed of `seeds`, with the schedule `swarm` draws for
/// the seed; on a failure, shrinks the schedule and panics once with the seed, the minimal
/// schedule, the error and the command that replays it. [`SwarmCheck`] has the knobs (threads,
/// shrink budget); the environment variables are in the crate docs.
#[track_caller]
pub fn check_swarm<E: Display>(
    seeds: Range<u64>,
    swarm: &Swarm,
    check: impl Fn(u64, &FaultSchedule) -> Result<(), E> + Sync,
) {
    SwarmCheck::new(swarm.clone()).seeds(seeds).run(check)
}

#[cfg(test)]
mod tests;
