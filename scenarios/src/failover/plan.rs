//! The fault schedule of one `failover` run, drawn from its seed: which instance crashes and
//! when, when it restarts, which instance is cut off from the registry and for how long.

use testbed_model::rng::derive_seed;
use testbed_model::{Duration, Instant, Rng, SeededRng};

/// The faults of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Clients start sending.
    pub warmup: Instant,
    /// The crashed instance (index).
    pub victim: usize,
    /// When it crashes.
    pub crash_at: Instant,
    /// When it restarts.
    pub restart_at: Instant,
    /// The instance partitioned from the registry (not from clients).
    pub cut: usize,
    /// When the partition starts.
    pub partition_at: Instant,
    /// When it is repaired: the last fault ends, the liveness phase starts.
    pub heal_at: Instant,
    /// The run ends.
    pub end: Instant,
}

impl Plan {
    /// Draws a plan for `instances` instances whose removal bound (TTL + tick) is `bound`.
    ///
    /// # Panics
    /// With fewer than 2 instances (the victim and the cut instance differ).
    pub fn draw(seed: u64, instances: usize, bound: Duration, liveness: Duration) -> Plan {
        assert!(instances >= 2, "failover needs 2 or more instances");
        let mut rng = SeededRng::new(derive_seed(seed, "failover:faults"));
        let ms = |rng: &mut SeededRng, lo: u64, hi: u64| {
            Duration::from_millis(rng.range_inclusive(lo, hi))
        };
        let warmup = Instant::from_secs(1);
        let victim = rng.below(instances as u64) as usize;
        let cut = (victim + 1 + rng.below(instances as u64 - 1) as usize) % instances;
        let crash_at = warmup + ms(&mut rng, 1000, 2000);
        let restart_at = crash_at + bound + ms(&mut rng, 1000, 2000);
        let partition_at = restart_at + ms(&mut rng, 1000, 2000);
        let heal_at = partition_at + bound + ms(&mut rng, 1000, 3000);
        Plan {
            warmup,
            victim,
            crash_at,
            restart_at,
            cut,
            partition_at,
            heal_at,
            end: heal_at + liveness,
        }
    }
}

impl Plan {
    /// The plan as JSON (times in seconds since the run's start).
    pub fn to_json(&self) -> serde_json::Value {
        let s = |t: Instant| t.since_epoch().as_secs_f64();
        serde_json::json!({
            "victim": self.victim,
            "crash_at_s": s(self.crash_at),
            "restart_at_s": s(self.restart_at),
            "partitioned": self.cut,
            "partition_at_s": s(self.partition_at),
            "heal_at_s": s(self.heal_at),
            "end_s": s(self.end),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_ordered_and_pick_two_instances() {
        for seed in 0..200 {
            let b = Duration::from_millis(2100);
            let p = Plan::draw(seed, 3, b, Duration::from_secs(5));
            assert_ne!(p.victim, p.cut);
            assert!(p.victim < 3 && p.cut < 3);
            assert!(p.warmup < p.crash_at);
            assert!(p.crash_at + b < p.restart_at);
            assert!(p.restart_at < p.partition_at);
            assert!(p.partition_at + b < p.heal_at && p.heal_at < p.end);
            assert_eq!(p, Plan::draw(seed, 3, b, Duration::from_secs(5)));
        }
    }
}
