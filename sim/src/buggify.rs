//! Buggify points (FoundationDB's BUGGIFY): per run, each named point is enabled with one
//! probability when first reached, and an enabled point fires with another on every call.
//! Each point draws from its own stream (`derive_seed(seed, "buggify:<name>")`), so adding a
//! point, or reaching one more often, never shifts the draws of another.

use std::collections::BTreeMap;
use testbed_model::rng::derive_seed;
use testbed_model::{Rng, SeededRng};

/// One point's state for the run.
struct Point {
    /// Its stream; `None` when the point is disabled for the run.
    rng: Option<SeededRng>,
    reached: u64,
    fired: u64,
}

/// The run's buggify points.
pub(crate) struct Buggify {
    on: bool,
    seed: u64,
    enable: f64,
    fire: f64,
    points: BTreeMap<&'static str, Point>,
}

/// How often one buggify point was reached and fired in a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuggifyPoint {
    /// The point's name.
    pub name: &'static str,
    /// Whether it was enabled for the run.
    pub enabled: bool,
    /// Calls that reached it.
    pub reached: u64,
    /// Calls that it answered `true`.
    pub fired: u64,
}

impl Buggify {
    pub(crate) fn new(on: bool, seed: u64, enable: f64, fire: f64) -> Buggify {
        Buggify {
            on,
            seed,
            enable,
            fire,
            points: BTreeMap::new(),
        }
    }

    /// Whether point `name` fires now.
    pub(crate) fn reach(&mut self, name: &'static str) -> bool {
        if !self.on {
            return false;
        }
        let (seed, enable) = (self.seed, self.enable);
        let p = self.points.entry(name).or_insert_with(|| {
            let mut rng = SeededRng::new(derive_seed(seed, &format!("buggify:{name}")));
            Point {
                rng: rng.chance(enable).then_some(rng),
                reached: 0,
                fired: 0,
            }
        });
        p.reached += 1;
        let fired = match &mut p.rng {
            Some(rng) => rng.chance(self.fire),
            None => false,
        };
        p.fired += u64::from(fired);
        fired
    }

    /// Every point reached so far, by name.
    pub(crate) fn points(&self) -> Vec<BuggifyPoint> {
        self.points
            .iter()
            .map(|(name, p)| BuggifyPoint {
                name,
                enabled: p.rng.is_some(),
                reached: p.reached,
                fired: p.fired,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_never_fires_and_records_nothing() {
        let mut b = Buggify::new(false, 1, 1.0, 1.0);
        assert!(!(0..100).any(|_| b.reach("x")));
        assert!(b.points().is_empty());
    }

    #[test]
    fn a_point_is_enabled_in_about_the_given_share_of_runs() {
        let enabled = (0..2000u64)
            .filter(|&seed| {
                let mut b = Buggify::new(true, seed, 0.25, 1.0);
                b.reach("p")
            })
            .count();
        assert!(
            (400..600).contains(&enabled),
            "enabled in {enabled} of 2000"
        );
    }

    #[test]
    fn an_enabled_point_fires_at_its_rate_and_other_points_do_not_shift_it() {
        let seed = (0..)
            .find(|&s| Buggify::new(true, s, 0.25, 1.0).reach("p"))
            .unwrap();
        let mut alone = Buggify::new(true, seed, 0.25, 0.05);
        let a: Vec<bool> = (0..4000).map(|_| alone.reach("p")).collect();
        let mut mixed = Buggify::new(true, seed, 0.25, 0.05);
        let b: Vec<bool> = (0..4000)
            .map(|_| {
                mixed.reach("q");
                mixed.reach("p")
            })
            .collect();
        assert_eq!(a, b, "reaching another point shifted this one's draws");
        let fired = a.iter().filter(|f| **f).count();
        assert!((120..280).contains(&fired), "fired {fired} of 4000");
        let p = &alone.points()[0];
        assert_eq!((p.name, p.enabled, p.reached), ("p", true, 4000));
        assert_eq!(p.fired, fired as u64);
    }
}
