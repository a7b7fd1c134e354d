//! A simulated host's two clocks. The monotonic clock runs at global time × (1 + drift) and is
//! continuous: a drift change keeps what it has counted so far (it never steps, never runs
//! backwards). The wall clock is the monotonic clock plus an offset counted from
//! [`testbed_model::runtime::WALL_EPOCH`]; `clock_skew` steps the offset, so only wall-clock
//! readers see a step. `now()`, sleeps, timeouts, smoltcp and quinn use the monotonic clock.

use testbed_model::{Duration, Instant};

/// Largest drift either way, parts per million (a clock between 0.9× and 1.1× real time;
/// real oscillators are within ±100 ppm, NTP slews at most ±500 ppm).
pub const MAX_DRIFT_PPM: i64 = 100_000;
/// Largest wall-clock offset either way, nanoseconds (one year).
pub const MAX_OFFSET_NS: i64 = 365 * 86_400 * 1_000_000_000;

const PPM: i128 = 1_000_000;

/// One host's monotonic and wall clocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HostClock {
    /// Monotonic reading at global time `since`.
    mono_base: u64,
    /// Global time of the last drift change.
    since: Instant,
    drift_ppm: i64,
    /// Wall clock minus monotonic clock, nanoseconds.
    offset_ns: i64,
}

impl Default for HostClock {
    fn default() -> Self {
        HostClock {
            mono_base: 0,
            since: Instant::ZERO,
            drift_ppm: 0,
            offset_ns: 0,
        }
    }
}

impl HostClock {
    /// The monotonic clock at global time `global` (not before the last drift change).
    pub(crate) fn mono(&self, global: Instant) -> Instant {
        let since = global.as_nanos().saturating_sub(self.since.as_nanos()) as i128;
        let elapsed = since * (PPM + self.drift_ppm as i128) / PPM;
        Instant::from_nanos((self.mono_base as i128 + elapsed).clamp(0, u64::MAX as i128) as u64)
    }

    /// The earliest global time, not before `now`, at which the monotonic clock reads at
    /// least `local`.
    pub(crate) fn global_at(&self, now: Instant, local: Instant) -> Instant {
        if local == Instant::MAX {
            return Instant::MAX;
        }
        if self.drift_ppm == 0 && self.mono_base == self.since.as_nanos() {
            return local.max(now);
        }
        let ahead = local.as_nanos() as i128 - self.mono_base as i128;
        if ahead <= 0 {
            return now.max(self.since);
        }
        let rate = PPM + self.drift_ppm as i128;
        let g = self.since.as_nanos() as i128 + (ahead * PPM + rate - 1) / rate;
        let mut g = Instant::from_nanos(g.clamp(0, u64::MAX as i128) as u64);
        while self.mono(g) < local && g < Instant::MAX {
            g += Duration::from_nanos(1);
        }
        g.max(now)
    }

    /// The wall clock at global time `global`: nanoseconds since the wall epoch (never
    /// negative: offsets are bounded far below the epoch).
    pub(crate) fn wall_ns(&self, global: Instant) -> u64 {
        let epoch = testbed_model::runtime::WALL_EPOCH_SECS as i128 * 1_000_000_000;
        let w = epoch + self.mono(global).as_nanos() as i128 + self.offset_ns as i128;
        w.clamp(0, u64::MAX as i128) as u64
    }

    /// From global time `now` on, the monotonic clock runs at `drift_ppm` (continuing from its
    /// current reading) and the wall clock reads `offset_ns` past the monotonic clock.
    ///
    /// # Panics
    /// If `drift_ppm` or `offset_ns` is past [`MAX_DRIFT_PPM`] / [`MAX_OFFSET_NS`].
    pub(crate) fn set(&mut self, now: Instant, offset_ns: i64, drift_ppm: i64) {
        assert!(
            drift_ppm.abs() <= MAX_DRIFT_PPM,
            "clock_skew: drift_ppm {drift_ppm} is past ±{MAX_DRIFT_PPM}"
        );
        assert!(
            offset_ns.abs() <= MAX_OFFSET_NS,
            "clock_skew: offset_ns {offset_ns} is past ±{MAX_OFFSET_NS}"
        );
        self.mono_base = self.mono(now).as_nanos();
        self.since = now;
        self.drift_ppm = drift_ppm;
        self.offset_ns = offset_ns;
    }

    /// The current drift.
    pub(crate) fn drift_ppm(&self) -> i64 {
        self.drift_ppm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_change_keeps_accumulated_time() {
        let mut c = HostClock::default();
        c.set(Instant::ZERO, 0, 100_000);
        let before = c.mono(Instant::from_secs(10));
        assert_eq!(before, Instant::from_secs(11));
        c.set(Instant::from_secs(10), 0, 0);
        assert_eq!(
            c.mono(Instant::from_secs(10)),
            before,
            "no step at the change"
        );
        assert_eq!(c.mono(Instant::from_secs(12)), Instant::from_secs(13));
    }

    #[test]
    fn offset_moves_only_the_wall_clock() {
        let mut c = HostClock::default();
        c.set(Instant::from_secs(5), -MAX_OFFSET_NS, 0);
        assert_eq!(c.mono(Instant::from_secs(6)), Instant::from_secs(6));
        let w0 = c.wall_ns(Instant::from_secs(6));
        let w1 = c.wall_ns(Instant::from_secs(7));
        assert_eq!(
            w1 - w0,
            1_000_000_000,
            "a large negative offset does not freeze it"
        );
    }

    #[test]
    fn to_global_inverts_mono() {
        let mut c = HostClock::default();
        c.set(Instant::from_millis(3), 7, -37_123);
        for ms in [3u64, 4, 1_000, 123_456] {
            let local = Instant::from_millis(ms);
            let g = c.global_at(Instant::from_millis(3), local);
            assert!(c.mono(g) >= local);
            assert!(c.mono(g - Duration::from_nanos(1)) < local || g == Instant::from_millis(3));
        }
    }
}
