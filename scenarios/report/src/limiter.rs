//! 网络编程进阶主题 §4.4 / §5.3: the limiter algorithms driven directly (their sans-IO cores) with one
//! deterministic arrival sequence, to show the fixed window's boundary burst and how the
//! others behave under the same load.
//!
//! Quota: 100 requests per second (burst 100). Arrivals: the guide's example (网络编程进阶主题) — 100 requests
//! spread over 0.9–1.0 s and 100 over 1.0–1.1 s — then silence, then a sustained overload of
//! 300 requests per second from 2 s to 4 s.

use super::claim::{Claim, Verdict};
use super::plot::Series;
use testbed_distributed::limit::{
    FixedWindow, Gcra, LeakyBucket, Quota, RateLimiter, Shaper, SlidingCounter, SlidingLog,
    TokenBucket,
};
use testbed_model::{Duration, Instant};

/// The quota every algorithm gets.
pub const LIMIT_PER_S: u64 = 100;
const END_NS: u64 = 4_000_000_000;
/// Width of the plot's bins.
pub const BIN_NS: u64 = 100_000_000;
const MS: u64 = 1_000_000;

/// The arrival times (nanoseconds), sorted.
pub fn arrivals() -> Vec<u64> {
    let mut t = Vec::new();
    // 网络编程进阶主题 §4.4: "0.9 s: 100 requests; 1.1 s: 100 requests" on either side of a boundary.
    t.extend((0..100).map(|i| 900 * MS + i * MS));
    t.extend((0..100).map(|i| 1000 * MS + i * MS));
    // Sustained overload, 3× the limit.
    let step = 1_000_000_000 / (3 * LIMIT_PER_S);
    let mut x = 2_000 * MS;
    while x < END_NS {
        t.push(x);
        x += step;
    }
    t
}

/// One algorithm's admissions (or, for the shaper, release times), nanoseconds, sorted.
pub struct Run {
    /// Algorithm name as plotted.
    pub name: &'static str,
    /// Admission (release) times.
    pub admitted: Vec<u64>,
}

fn meter(name: &'static str, mut l: impl RateLimiter, arrivals: &[u64]) -> Run {
    let admitted = arrivals
        .iter()
        .copied()
        .filter(|&t| l.check(Instant::from_nanos(t), 1).allowed)
        .collect();
    Run { name, admitted }
}

/// Runs every algorithm over [`arrivals`].
pub fn run_all() -> Vec<Run> {
    let a = arrivals();
    let q = Quota::per_second(LIMIT_PER_S);
    let mut shaper = Shaper::new(q, Duration::from_secs(1));
    let mut released: Vec<u64> = a
        .iter()
        .filter_map(|&t| {
            shaper
                .shape(Instant::from_nanos(t), 1)
                .ok()
                .map(|w| t + u64::try_from(w.as_nanos()).unwrap_or(u64::MAX))
        })
        .collect();
    released.sort_unstable();
    vec![
        meter("fixed window", FixedWindow::new(q), &a),
        meter("sliding log", SlidingLog::new(q), &a),
        meter("sliding counter", SlidingCounter::new(q), &a),
        meter("token bucket", TokenBucket::new(q), &a),
        meter("GCRA", Gcra::new(q), &a),
        meter("leaky bucket (meter)", LeakyBucket::new(q), &a),
        Run {
            name: "leaky bucket (queue, max wait 1 s)",
            admitted: released,
        },
    ]
}

/// The most admissions inside any window of `width_ns` (half-open).
pub fn max_in_window(sorted: &[u64], width_ns: u64) -> usize {
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..sorted.len() {
        while sorted[hi] - sorted[lo] >= width_ns {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

/// Admissions per [`BIN_NS`] bin over the run, as plot points (bin start in seconds, count).
pub fn binned(sorted: &[u64]) -> Vec<(f64, f64)> {
    let bins = END_NS.div_ceil(BIN_NS) as usize + 1;
    let mut counts = vec![0u32; bins];
    for &t in sorted {
        let b = (t / BIN_NS) as usize;
        if b < bins {
            counts[b] += 1;
        }
    }
    counts
        .iter()
        .enumerate()
        .map(|(i, &c)| ((i as u64 * BIN_NS) as f64 / 1e9, f64::from(c)))
        .collect()
}

/// The plot's series.
pub fn series(runs: &[Run]) -> Vec<Series> {
    runs.iter()
        .map(|r| Series {
            name: r.name.to_string(),
            points: binned(&r.admitted),
        })
        .collect()
}

fn get<'a>(runs: &'a [Run], name: &str) -> &'a [u64] {
    runs.iter()
        .find(|r| r.name == name)
        .map_or(&[], |r| r.admitted.as_slice())
}

/// The seed's limiter claims, measured on `runs`.
pub fn claims(runs: &[Run]) -> Vec<Claim> {
    let src = "ran here: distributed::limit cores driven in-process with the arrival sequence of \
               the limiter plot (deterministic; no clock)";
    let mk = |id: &str,
              claim: &str,
              seed_value: &str,
              measured: String,
              unit: &str,
              verdict: Verdict,
              detail: String| Claim {
        id: id.into(),
        section: "4.4".into(),
        claim: claim.into(),
        seed_value: seed_value.into(),
        measured,
        unit: unit.into(),
        backend: "in-process (model time)".into(),
        verdict,
        detail,
        source: src.into(),
    };
    let fixed = get(runs, "fixed window");
    let fixed_200 = max_in_window(fixed, 200 * MS);
    let log_1s = max_in_window(get(runs, "sliding log"), 1000 * MS);
    let counter_1s = max_in_window(get(runs, "sliding counter"), 1000 * MS);
    let fixed_1s = max_in_window(fixed, 1000 * MS);
    let tb_100 = max_in_window(get(runs, "token bucket"), 100 * MS);
    let gcra_100 = max_in_window(get(runs, "GCRA"), 100 * MS);
    let lm_100 = max_in_window(get(runs, "leaky bucket (meter)"), 100 * MS);
    let q_100 = max_in_window(get(runs, "leaky bucket (queue, max wait 1 s)"), 100 * MS);
    let steady_100 = (LIMIT_PER_S / 10) as usize;
    vec![
        example_claim(),
        mk(
            "limit.fixed-window-boundary",
            "A fixed window of 100 req/s admits 200 requests within 0.2 s across a window boundary",
            "200 in 0.2 s",
            format!("{fixed_200} in 0.2 s"),
            "most admissions in any 200 ms, limit 100/s",
            Verdict::from_bool(fixed_200 as u64 >= 2 * LIMIT_PER_S),
            format!("100 arrivals over 0.9–1.0 s and 100 over 1.0–1.1 s; most in any 1 s window: {fixed_1s}"),
        ),
        mk(
            "limit.sliding-window",
            "A sliding window never admits more than the limit in any window",
            "≤ 100 in any 1 s",
            format!("{log_1s} in 1 s"),
            "most admissions in any 1 s window (sliding log)",
            Verdict::from_bool(log_1s as u64 <= LIMIT_PER_S),
            format!("sliding log {log_1s}; the sliding-counter approximation {counter_1s}; fixed window {fixed_1s}"),
        ),
        mk(
            "limit.token-bucket-burst",
            "A token bucket admits bursts up to its capacity (banked tokens)",
            "burst up to capacity (100)",
            format!("{tb_100} in 0.1 s"),
            "most admissions in any 100 ms (the steady rate would be 10)",
            Verdict::from_bool(tb_100 >= LIMIT_PER_S as usize && tb_100 > 2 * steady_100),
            format!("GCRA admits exactly the same ({gcra_100}); both start full and refill 100/s"),
        ),
        mk(
            "limit.leaky-bucket-smooth",
            "A leaky bucket smooths traffic and allows no bursts",
            "no bursts",
            format!("{q_100} in 0.1 s"),
            "most releases in any 100 ms, leaky bucket as a queue (steady rate 10)",
            Verdict::from_bool(q_100 <= steady_100 + 1),
            format!(
                "holds for the queueing form (requests wait, released every 10 ms); the leaky bucket \
                 as a meter (no queue) makes the token bucket's decisions and admits {lm_100} in 100 ms"
            ),
        ),
    ]
}

/// 网络编程进阶主题 §5.3's token-bucket program: capacity 10, 5 tokens per second, 30 requests 100 ms
/// apart. Returns (admitted by `limit::TokenBucket`, admitted by a line-for-line port of the
/// guide's C code, which adds `(int)(elapsed * rate)` tokens and resets its clock on every call).
pub fn seed_token_bucket_example() -> (usize, usize) {
    let q = Quota::new(5, Duration::from_secs(1)).with_burst(10);
    let mut tb = TokenBucket::new(q);
    let arrivals: Vec<u64> = (0..30u64).map(|i| i * 100 * MS).collect();
    let ours = arrivals
        .iter()
        .filter(|&&t| tb.check(Instant::from_nanos(t), 1).allowed)
        .count();
    // The guide's token_bucket_consume(), with time in nanoseconds instead of gettimeofday.
    let (capacity, rate) = (10i64, 5.0f64);
    let (mut tokens, mut last) = (capacity, 0u64);
    let mut seeds = 0;
    for &now in &arrivals {
        let elapsed = (now - last) as f64 / 1e9;
        if elapsed > 0.0 {
            tokens = (tokens + (elapsed * rate) as i64).min(capacity);
            last = now;
        }
        if tokens >= 1 {
            tokens -= 1;
            seeds += 1;
        }
    }
    (ours, seeds)
}

fn example_claim() -> Claim {
    let (ours, seeds) = seed_token_bucket_example();
    // What the text describes: the full bucket, plus 5 tokens a second over the 2.9 s between
    // the first and last request.
    let described = 10 + (5 * 29) / 10;
    Claim {
        id: "limit.token-bucket-example".into(),
        section: "5.3".into(),
        claim: "The guide's token bucket (capacity 10, 5/s) under 10 req/s for 3 s admits the full bucket, then 5 per second".into(),
        seed_value: format!("bucket, then 5/s: {described} of 30 implied"),
        measured: format!("{ours} of 30"),
        unit: "requests admitted, 30 requests 100 ms apart".into(),
        backend: "in-process (model time)".into(),
        verdict: Verdict::from_bool(ours == described),
        detail: format!(
            "limit::TokenBucket admits {ours}; the seed's C program as printed admits {seeds}: every call adds (int)(0.1 s × 5) = 0 tokens and resets last_refill, so the bucket never refills"
        ),
        source: "ran here: limit::TokenBucket and a port of the guide's token_bucket_consume(), driven in-process".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_example_refills_here_and_not_in_the_seed_code() {
        let (ours, seeds) = seed_token_bucket_example();
        assert_eq!(seeds, 10, "the truncating refill never adds a token");
        assert!((23..=25).contains(&ours), "{ours}");
    }

    #[test]
    fn windows_count_half_open() {
        assert_eq!(max_in_window(&[], 10), 0);
        assert_eq!(max_in_window(&[0, 5, 10, 11], 10), 3);
        assert_eq!(max_in_window(&[0, 1, 2], 1), 1);
    }

    #[test]
    fn the_fixed_window_bursts_and_the_others_do_not() {
        let runs = run_all();
        let fixed = get(&runs, "fixed window");
        assert_eq!(max_in_window(fixed, 200 * MS), 200);
        assert!(max_in_window(get(&runs, "sliding log"), 1000 * MS) <= 100);
        assert!(max_in_window(get(&runs, "leaky bucket (queue, max wait 1 s)"), 100 * MS) <= 11);
        let c = claims(&runs);
        let fw = c
            .iter()
            .find(|c| c.id == "limit.fixed-window-boundary")
            .expect("fixed-window claim");
        assert_eq!(fw.verdict, Verdict::Holds, "{fw:?}");
        // binned counts add up to the admissions
        let total: f64 = binned(fixed).iter().map(|p| p.1).sum();
        assert_eq!(total as usize, fixed.len());
    }
}
