//! Seed sweeps, for any deterministic per-seed run ([`run_seeds`]): one scenario run for a range of seeds across worker threads (each run is
//! single-threaded and deterministic, so results do not depend on the thread count), split
//! into shards for many machines, merged back, and summarised: passed/failed counts, failing
//! seeds with replay commands, and min/median/p99/max of every numeric metric.

use crate::seeds::parse_seeds;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Part `index` of `count` (0-based) of a seed range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Shard {
    /// Which part, `0..count`.
    pub index: u64,
    /// How many parts.
    pub count: u64,
}

impl Shard {
    /// The whole range.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `i/n` with `i < n`.
    pub fn parse(s: &str) -> Result<Shard, SweepError> {
        let bad = || SweepError::BadShard(s.into());
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        (index < count)
            .then_some(Shard { index, count })
            .ok_or_else(bad)
    }

    /// This shard's contiguous part of `full`: shards are disjoint, cover `full`, and differ in
    /// length by at most one seed.
    pub fn range(&self, full: &Range<u64>) -> Range<u64> {
        let len = (full.end - full.start) as u128;
        let at = |i: u64| full.start + (len * i as u128 / self.count as u128) as u64;
        at(self.index)..at(self.index + 1)
    }
}

/// What went wrong with a sweep's input.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SweepError {
    /// `--shard` is not `i/n` with `i < n`.
    #[error("bad --shard {0:?}: expected i/n with 0 <= i < n, e.g. 0/4")]
    BadShard(String),
    /// A results file that is not a sweep's.
    #[error("{file}: not a sweep results file: {reason}")]
    NotResults {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// Results of different sweeps.
    #[error(
        "{file}: {what} differs from the first file ({a} vs {b}); only shards of one sweep merge"
    )]
    Mismatch {
        /// The file.
        file: String,
        /// Which field.
        what: &'static str,
        /// First file's value.
        a: String,
        /// This file's value.
        b: String,
    },
    /// The same seed with different results: the runs were not deterministic (or the
    /// binaries differ).
    #[error("seed {seed} has different results in two files (trace hash {a} vs {b})")]
    Conflict {
        /// The seed.
        seed: u64,
        /// One trace hash.
        a: String,
        /// The other.
        b: String,
    },
    /// Nothing to merge.
    #[error("no results files given")]
    Empty,
}

/// One seed's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Whether every invariant held.
    pub passed: bool,
    /// Trace hash, hex (simulator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_hash: Option<String>,
    /// Failed invariants as `name: detail` (or the error or panic that stopped the run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
    /// The replay command, for failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// Top-level numeric metrics.
    pub metrics: BTreeMap<String, f64>,
}

/// A results file: one shard's runs, or several shards merged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepFile {
    /// Always `testbed-sweep`.
    pub kind: String,
    /// Scenario.
    pub scenario: String,
    /// Backend.
    pub backend: String,
    /// Parameter values.
    pub params: serde_json::Value,
    /// The whole sweep's seed range, `A..B`.
    pub seeds: String,
    /// The shards these results cover.
    pub shards: Vec<Shard>,
    /// Wall seconds per shard, as measured by the CLI.
    pub wall_s: Vec<f64>,
    /// Per-seed results, by seed.
    pub results: Vec<SeedResult>,
}

/// Runs `run_seed` for every seed of `seeds` on `jobs` threads; `progress` sees each result
/// as it lands. Results come back in seed order. Each run must be deterministic in its seed
/// alone, so the results do not depend on `jobs`.
pub fn run_seeds(
    seeds: Range<u64>,
    jobs: usize,
    run_seed: &(dyn Fn(u64) -> SeedResult + Sync),
    progress: &(dyn Fn(&SeedResult) + Sync),
) -> Vec<SeedResult> {
    let run = |seed| {
        let r = run_seed(seed);
        progress(&r);
        r
    };
    let pool = SeedPool {
        jobs,
        thread_name: None,
    };
    pool.run_until(seeds, &run, &|_| false)
        .into_iter()
        .map(|(_, r)| r)
        .collect()
}

/// Worker threads that run one seed at a time, claiming seeds in increasing order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeedPool {
    /// Threads (at least one runs).
    pub jobs: usize,
    /// The workers' thread name. A test harness passes the test's own (libtest names a test's
    /// thread after the test), so replay commands built inside a run name the test.
    pub thread_name: Option<String>,
}

impl SeedPool {
    /// Runs `run` for the seeds of `seeds` until one's result satisfies `stop`: seeds above
    /// the smallest stopping seed are not started, seeds below it all finish, and results
    /// above it are dropped, so the results (in seed order, up to and including the smallest
    /// stopping seed) do not depend on `jobs` when each run depends on its seed alone.
    pub fn run_until<T: Send>(
        &self,
        seeds: Range<u64>,
        run: &(dyn Fn(u64) -> T + Sync),
        stop: &(dyn Fn(&T) -> bool + Sync),
    ) -> Vec<(u64, T)> {
        let next = AtomicU64::new(seeds.start);
        let stop_at = AtomicU64::new(u64::MAX);
        let out = Mutex::new(Vec::new());
        let work = || {
            let mut mine = Vec::new();
            // Claims never step past `seeds.end`, so a range ending at u64::MAX cannot wrap.
            while let Ok(seed) = next.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
                (s < seeds.end).then(|| s + 1)
            }) {
                if seed > stop_at.load(Ordering::Relaxed) {
                    break;
                }
                let r = run(seed);
                if stop(&r) {
                    stop_at.fetch_min(seed, Ordering::Relaxed);
                }
                mine.push((seed, r));
            }
            out.lock().unwrap_or_else(|p| p.into_inner()).extend(mine);
        };
        std::thread::scope(|sc| {
            for _ in 0..self.jobs.max(1) {
                let mut b = std::thread::Builder::new();
                if let Some(n) = &self.thread_name {
                    b = b.name(n.clone());
                }
                b.spawn_scoped(sc, work)
                    .expect("the OS spawns a worker thread");
            }
        });
        let last = stop_at.into_inner();
        let mut v = out.into_inner().unwrap_or_else(|p| p.into_inner());
        v.retain(|(seed, _)| *seed <= last);
        v.sort_by_key(|(seed, _)| *seed);
        v
    }
}

/// The text of a caught panic's payload (`std::panic::catch_unwind`'s error).
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "non-text panic".into())
}

/// Merges shard files of one sweep. Seeds present twice must agree.
pub fn merge(files: Vec<(String, SweepFile)>) -> Result<SweepFile, SweepError> {
    let mut it = files.into_iter();
    let (_, mut acc) = it.next().ok_or(SweepError::Empty)?;
    let mut by_seed: BTreeMap<u64, SeedResult> = BTreeMap::new();
    for r in std::mem::take(&mut acc.results) {
        by_seed.insert(r.seed, r);
    }
    for (name, f) in it {
        let check = |what: &'static str, a: String, b: String| {
            if a == b {
                Ok(())
            } else {
                Err(SweepError::Mismatch {
                    file: name.clone(),
                    what,
                    a,
                    b,
                })
            }
        };
        check("scenario", acc.scenario.clone(), f.scenario.clone())?;
        check("backend", acc.backend.clone(), f.backend.clone())?;
        check("params", acc.params.to_string(), f.params.to_string())?;
        check("seed range", acc.seeds.clone(), f.seeds.clone())?;
        acc.shards.extend(f.shards);
        acc.wall_s.extend(f.wall_s);
        for r in f.results {
            match by_seed.get(&r.seed) {
                Some(old) if old.trace_hash != r.trace_hash || old.passed != r.passed => {
                    return Err(SweepError::Conflict {
                        seed: r.seed,
                        a: format!("{:?}", old.trace_hash),
                        b: format!("{:?}", r.trace_hash),
                    })
                }
                Some(_) => {}
                None => {
                    by_seed.insert(r.seed, r);
                }
            }
        }
    }
    acc.shards.sort();
    acc.shards.dedup();
    acc.results = by_seed.into_values().collect();
    Ok(acc)
}

/// min/median/p99/max (nearest rank) of one metric over the seeds that report it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Dist {
    /// Seeds reporting it.
    pub count: usize,
    /// Smallest.
    pub min: f64,
    /// Median.
    pub median: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Dist {
    /// The distribution of `v` (`None` when empty).
    pub fn of(mut v: Vec<f64>) -> Option<Dist> {
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let q = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Some(Dist {
            count: v.len(),
            min: v[0],
            median: q(0.5),
            p99: q(0.99),
            max: v[v.len() - 1],
        })
    }
}

/// The summary of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Scenario.
    pub scenario: String,
    /// The sweep's seed range.
    pub seeds: String,
    /// Seeds run.
    pub runs: u64,
    /// Seeds that passed.
    pub passed: u64,
    /// Seeds that failed.
    pub failed: u64,
    /// Seeds of the range with no result (shards not merged in).
    pub missing: u64,
    /// Failing seeds with what failed and the replay command.
    pub failing: Vec<SeedResult>,
    /// Numeric metric distributions.
    pub metrics: BTreeMap<String, Dist>,
}

impl SweepFile {
    /// Counts and distributions over the results.
    pub fn summary(&self) -> Summary {
        let total = parse_seeds(&self.seeds).map_or(0, |r| r.end - r.start);
        let mut values: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for r in &self.results {
            for (k, v) in &r.metrics {
                values.entry(k).or_default().push(*v);
            }
        }
        let runs = self.results.len() as u64;
        let failing: Vec<SeedResult> = self.results.iter().filter(|r| !r.passed).cloned().collect();
        Summary {
            scenario: self.scenario.clone(),
            seeds: self.seeds.clone(),
            runs,
            passed: runs - failing.len() as u64,
            failed: failing.len() as u64,
            missing: total.saturating_sub(runs),
            failing,
            metrics: values
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_string(), Dist::of(v)?)))
                .collect(),
        }
    }
}

impl Summary {
    /// The human rendering; lists at most `show_failures` failing seeds.
    pub fn render(&self, show_failures: usize) -> String {
        let mut s = format!(
            "sweep {} seeds {}: {} runs, {} passed, {} failed",
            self.scenario, self.seeds, self.runs, self.passed, self.failed
        );
        if self.missing > 0 {
            let _ = write!(s, ", {} seeds missing (shards not merged)", self.missing);
        }
        s.push('\n');
        for f in self.failing.iter().take(show_failures) {
            let _ = writeln!(s, "  FAIL seed {}: {}", f.seed, f.failed.join("; "));
            if let Some(r) = &f.replay {
                let _ = writeln!(s, "    replay: {r}");
            }
        }
        if self.failing.len() > show_failures {
            let _ = writeln!(
                s,
                "  ... and {} more failing seeds (see --json)",
                self.failing.len() - show_failures
            );
        }
        if !self.metrics.is_empty() {
            let _ = writeln!(
                s,
                "  {:<28} {:>12} {:>12} {:>12} {:>12}",
                "metric", "min", "median", "p99", "max"
            );
            for (k, d) in &self.metrics {
                let _ = writeln!(
                    s,
                    "  {:<28} {:>12} {:>12} {:>12} {:>12}",
                    k,
                    num(d.min),
                    num(d.median),
                    num(d.p99),
                    num(d.max)
                );
            }
        }
        s
    }
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests;
