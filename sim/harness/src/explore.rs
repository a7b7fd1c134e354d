//! Feedback-guided search for a failing fault schedule, without compiler instrumentation
//! (AFL's loop over what the simulator sees). Each run of a [`Candidate`] (run seed + fault
//! schedule) reports [`Feedback`]: whether it failed, and features of what it did (trace
//! transitions, invariants, progress counters and margins: see [`coverage`]). Candidates that
//! set a coverage slot no run set before join a bounded corpus; new candidates are mutations
//! of corpus entries ([`mutate`]: within the scenario's [`SwarmSpec`] ranges), picked by a
//! power schedule that favours entries whose finds are rare and recent, plus a few fresh swarm
//! draws. The search is a pure function of the exploration seed and `jobs` (batches of `jobs`
//! candidates are drawn before they run and their results are taken in order), so a given
//! `--seed` and `--jobs` always explores the same way.

pub mod coverage;
pub mod mutate;

use crate::faults::SwarmSpec;
use crate::sweep::panic_message;
use coverage::Coverage;
pub use mutate::{in_ranges, mutate, Candidate, RangeError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use testbed_model::rng::derive_seed;
use testbed_model::{Rng, SeededRng};

/// What one run reports back.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Feedback {
    /// Whether the run failed (an invariant broke, or it panicked).
    pub failed: bool,
    /// What failed, for the report.
    pub failure: Vec<String>,
    /// Features of what the run did ([`coverage::feature`] and friends).
    pub features: Vec<u64>,
    /// Features of how far the run got by the system's own account (a scenario's stage
    /// counters and invariant margins): coverage like `features`, but the power schedule
    /// favours entries whose progress is rare ([`PROGRESS_BONUS`]).
    pub progress: Vec<u64>,
}

/// How to search.
pub struct Config<'a> {
    /// The exploration seed (not a run seed: run seeds are drawn from it).
    pub seed: u64,
    /// Runs in flight at once (threads).
    pub jobs: usize,
    /// Give up after this many runs.
    pub max_runs: u64,
    /// Checked between batches: `true` stops the search (a time budget; the caller owns the
    /// clock, so the search itself stays deterministic up to where it stops).
    pub stop: &'a (dyn Fn() -> bool + Sync),
    /// Most corpus entries kept (the least promising is evicted past it).
    pub corpus_max: usize,
}

/// Runs that start from fresh swarm draws before mutation begins.
const WARMUP_RUNS: u64 = 16;
/// Share of later candidates that are fresh swarm draws rather than mutations.
const FRESH_SHARE: f64 = 0.05;
/// Entries counted as recent by the power schedule.
const RECENT: usize = 8;
/// How much more a rare progress slot weighs than any other rare slot.
pub const PROGRESS_BONUS: f64 = 8.0;

/// A failing candidate.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// What failed.
    pub candidate: Candidate,
    /// Which run found it (1-based: the runs it took).
    pub run: u64,
    /// What failed in it.
    pub failure: Vec<String>,
}

/// How a search ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The first failing candidate, if any.
    pub found: Option<Found>,
    /// Runs made.
    pub runs: u64,
    /// Corpus entries at the end.
    pub corpus: usize,
    /// Coverage slots set.
    pub covered: usize,
    /// Whether `stop` ended the search (rather than a find or the run budget).
    pub stopped: bool,
}

struct Entry {
    candidate: Candidate,
    /// Every slot its run set.
    slots: Vec<usize>,
    /// Its progress slots.
    progress: Vec<usize>,
    /// When it joined (its position among all additions).
    added: u64,
    /// Times it was picked for mutation.
    picks: u64,
}

struct Search<'s> {
    spec: &'s SwarmSpec,
    rng: SeededRng,
    coverage: Coverage,
    corpus: Vec<Entry>,
    additions: u64,
    drawn: u64,
    corpus_max: usize,
}

impl Search<'_> {
    /// The power schedule: an entry is as promising as the rarest thing its run did (1/hits
    /// of its least-hit slot; progress slots count [`PROGRESS_BONUS`] times), ×4 while it is
    /// among the newest, less the more it was picked.
    fn weight(&self, e: &Entry) -> f64 {
        let rarity = |slots: &[usize]| {
            let rarest = slots
                .iter()
                .map(|s| self.coverage.hits(*s))
                .min()
                .unwrap_or(u32::MAX)
                .max(1);
            1.0 / f64::from(rarest)
        };
        let rarity = rarity(&e.slots).max(PROGRESS_BONUS * rarity(&e.progress));
        let recent = if self.additions.saturating_sub(e.added) <= RECENT as u64 {
            4.0
        } else {
            1.0
        };
        (rarity * recent / (1.0 + e.picks as f64 / 32.0)).max(1e-6)
    }

    fn pick(&mut self) -> usize {
        let weights: Vec<f64> = self.corpus.iter().map(|e| self.weight(e)).collect();
        let total: f64 = weights.iter().sum();
        let mut x = self.rng.unit_f64() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        self.corpus.len() - 1
    }

    fn next(&mut self) -> Candidate {
        self.drawn += 1;
        if self.corpus.is_empty() || self.drawn <= WARMUP_RUNS || self.rng.chance(FRESH_SHARE) {
            let seed = self.rng.next_u64();
            return Candidate {
                seed,
                schedule: self.spec.draw(seed),
            };
        }
        let i = self.pick();
        self.corpus[i].picks += 1;
        let d = self.rng.below(self.corpus.len() as u64) as usize;
        let (c, donor) = (&self.corpus[i].candidate, &self.corpus[d].candidate);
        mutate(self.spec, c, donor, &mut self.rng)
    }

    fn learn(&mut self, candidate: Candidate, fb: &Feedback) {
        let progress = Coverage::slots(&fb.progress);
        let all: Vec<u64> = fb.features.iter().chain(&fb.progress).copied().collect();
        let slots = Coverage::slots(&all);
        if self.coverage.add(&slots).is_empty() {
            return;
        }
        self.additions += 1;
        let e = Entry {
            candidate,
            slots,
            progress,
            added: self.additions,
            picks: 0,
        };
        if self.corpus.len() >= self.corpus_max.max(1) {
            // Evict the least promising entry (the oldest among equals).
            let worst = (0..self.corpus.len())
                .min_by(|a, b| {
                    let (wa, wb) = (self.weight(&self.corpus[*a]), self.weight(&self.corpus[*b]));
                    wa.total_cmp(&wb)
                        .then(self.corpus[*a].added.cmp(&self.corpus[*b].added))
                })
                .expect("corpus is full, so not empty");
            self.corpus.remove(worst);
        }
        self.corpus.push(e);
    }
}

/// Runs `batch` on up to `jobs` threads; results in batch order. A panicking run is a failure.
fn run_batch(
    batch: &[Candidate],
    jobs: usize,
    run: &(dyn Fn(&Candidate) -> Feedback + Sync),
) -> Vec<Feedback> {
    let guarded = |c: &Candidate| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(c))).unwrap_or_else(|p| {
            Feedback {
                failed: true,
                failure: vec![format!("panicked: {}", panic_message(&*p))],
                ..Feedback::default()
            }
        })
    };
    if jobs <= 1 || batch.len() <= 1 {
        return batch.iter().map(guarded).collect();
    }
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<Feedback>>> = Mutex::new(vec![None; batch.len()]);
    std::thread::scope(|sc| {
        for _ in 0..jobs.min(batch.len()) {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(c) = batch.get(i) else { break };
                let fb = guarded(c);
                out.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(fb);
            });
        }
    });
    out.into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|f| f.expect("every index ran"))
        .collect()
}

/// Searches for a candidate that fails under `run`, within `spec`'s ranges.
pub fn explore(
    spec: &SwarmSpec,
    cfg: &Config<'_>,
    run: &(dyn Fn(&Candidate) -> Feedback + Sync),
) -> Report {
    let mut s = Search {
        spec,
        rng: SeededRng::new(derive_seed(cfg.seed, "explore")),
        coverage: Coverage::default(),
        corpus: Vec::new(),
        additions: 0,
        drawn: 0,
        corpus_max: cfg.corpus_max,
    };
    let jobs = cfg.jobs.max(1);
    let mut runs = 0u64;
    let mut stopped = false;
    while runs < cfg.max_runs {
        if (cfg.stop)() {
            stopped = true;
            break;
        }
        let n = (jobs as u64).min(cfg.max_runs - runs);
        let batch: Vec<Candidate> = (0..n).map(|_| s.next()).collect();
        let results = run_batch(&batch, jobs, run);
        for (candidate, fb) in batch.into_iter().zip(results) {
            runs += 1;
            if fb.failed {
                return Report {
                    found: Some(Found {
                        candidate,
                        run: runs,
                        failure: fb.failure,
                    }),
                    runs,
                    corpus: s.corpus.len(),
                    covered: s.coverage.covered(),
                    stopped: false,
                };
            }
            s.learn(candidate, &fb);
        }
    }
    Report {
        found: None,
        runs,
        corpus: s.corpus.len(),
        covered: s.coverage.covered(),
        stopped,
    }
}

#[cfg(test)]
mod tests;
