//! Buggify points (FoundationDB's BUGGIFY): per run, each named point is enabled with one
//! probability when first reached, and an enabled point fires with another on every call.
//! Each point draws from its own stream (`derive_seed(seed, "buggify:<name>")`), so adding a
//! point, or reaching one more often, never shifts the draws of another.
//!
//! A mask (`SimConfig::buggify_mask`, a fault schedule's `buggify_mask`) replaces the
//! per-run enable draw: point `name` is enabled iff bit [`buggify_bit`]`(name)` of the mask
//! is set. Whether an enabled point fires is still drawn from its stream. A fuzz input or an
//! exploration mutation chooses which rare paths a run takes this way, and the schedule file
//! replays that choice.

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

/// Which bit of a buggify mask enables point `name` (0..64; a stable hash of the name, so two
/// points may share a bit).
pub fn buggify_bit(name: &str) -> u32 {
    (derive_seed(0, &format!("buggify-bit:{name}")) % 64) as u32
}

/// The run's buggify points.
pub(crate) struct Buggify {
    on: bool,
    seed: u64,
    /// Replaces the enable draw when set (see the module's notes).
    mask: Option<u64>,
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
            mask: None,
            enable,
            fire,
            points: BTreeMap::new(),
        }
    }

    /// Enables exactly the points whose bit is set in `mask` (`None`: drawn per run). Points
    /// already reached keep their decision.
    pub(crate) fn set_mask(&mut self, mask: Option<u64>) {
        self.mask = mask;
    }

    /// Whether point `name` fires now.
    pub(crate) fn reach(&mut self, name: &'static str) -> bool {
        if !self.on {
            return false;
        }
        let (seed, enable, mask) = (self.seed, self.enable, self.mask);
        let p = self.points.entry(name).or_insert_with(|| {
            let mut rng = SeededRng::new(derive_seed(seed, &format!("buggify:{name}")));
            // Drawn even under a mask, so a mask that agrees with the draw gives the same run.
            let drawn = rng.chance(enable);
            let enabled = mask.map_or(drawn, |m| m >> buggify_bit(name) & 1 == 1);
            Point {
                rng: enabled.then_some(rng),
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

    #[test]
    fn a_mask_decides_which_points_are_enabled_and_the_draw_still_decides_firing() {
        let names = [
            "rpc.short_read",
            "http1.delay_flush",
            "discovery.early_close",
        ];
        for seed in 0..50u64 {
            for mask in [0, u64::MAX, 1 << buggify_bit(names[1])] {
                let mut b = Buggify::new(true, seed, 0.25, 0.5);
                b.set_mask(Some(mask));
                let fired: Vec<u64> = names
                    .iter()
                    .map(|n| (0..40).filter(|_| b.reach(n)).count() as u64)
                    .collect();
                for (p, n) in b.points().iter().zip(names) {
                    let want = mask >> buggify_bit(n) & 1 == 1;
                    assert_eq!(p.enabled, want, "seed {seed} mask {mask:#x} point {n}");
                }
                assert!(fired
                    .iter()
                    .zip(b.points())
                    .all(|(f, p)| p.enabled || *f == 0));
            }
        }
        // A mask that agrees with the draw gives the same firings as no mask.
        let seed = (0..)
            .find(|&s| Buggify::new(true, s, 0.25, 1.0).reach("p"))
            .unwrap();
        let mut drawn = Buggify::new(true, seed, 0.25, 0.3);
        let mut masked = Buggify::new(true, seed, 0.25, 0.3);
        masked.set_mask(Some(1 << buggify_bit("p")));
        let a: Vec<bool> = (0..200).map(|_| drawn.reach("p")).collect();
        let b: Vec<bool> = (0..200).map(|_| masked.reach("p")).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn bits_are_stable_and_spread() {
        assert_eq!(buggify_bit("p"), buggify_bit("p"));
        let bits: std::collections::BTreeSet<u32> = (0..200)
            .map(|i| buggify_bit(&format!("point{i}")))
            .collect();
        assert!(bits.len() > 50 && bits.iter().all(|b| *b < 64), "{bits:?}");
    }
}
