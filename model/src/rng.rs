//! Seeded randomness.
//!
//! [`Rng`] is a small trait (one required method) so components can take `&mut impl Rng`.
//! [`SeededRng`] is xoshiro256** (Blackman & Vigna, 2018): 256 bits of state, period 2^256-1,
//! passes BigCrush, ~1 ns per draw, and its output is defined bit for bit, so a seed means the
//! same stream on every machine and every version of this crate. It is not cryptographic.
//! Its state is expanded from a `u64` seed with SplitMix64, as the authors recommend.
//!
//! Child streams: [`derive_seed`] mixes a parent seed with a label (a host name, a component
//! name, an index) into an independent seed, so each host or component gets its own stream
//! and adding a draw in one never shifts the draws of another.

use crate::time::Duration;

/// A source of random `u64`s plus derived helpers. Implementations must be deterministic
/// given their seed.
pub trait Rng {
    /// The next 64 random bits.
    fn next_u64(&mut self) -> u64;

    /// The next 32 random bits.
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in `0..n` without modulo bias (Lemire's method). `n` must be non-zero.
    fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        let mut m = (self.next_u64() as u128) * (n as u128);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = (self.next_u64() as u128) * (n as u128);
            }
        }
        (m >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn range_inclusive(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "Rng::range_inclusive: lo > hi");
        if lo == 0 && hi == u64::MAX {
            return self.next_u64();
        }
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p` (clamped to `[0, 1]`). Draws exactly one `u64` unless `p`
    /// is 0 or 1, in which case it draws nothing.
    fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        self.unit_f64() < p
    }

    /// A duration uniform in `lo..=hi` with nanosecond resolution.
    fn duration_between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let lo_ns = u64::try_from(lo.as_nanos()).unwrap_or(u64::MAX);
        let hi_ns = u64::try_from(hi.as_nanos()).unwrap_or(u64::MAX);
        if hi_ns <= lo_ns {
            return lo;
        }
        Duration::from_nanos(self.range_inclusive(lo_ns, hi_ns))
    }

    /// Fill `buf` with random bytes.
    fn fill_bytes(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    /// Fisher–Yates shuffle.
    fn shuffle<T>(&mut self, items: &mut [T])
    where
        Self: Sized,
    {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

impl<R: Rng + ?Sized> Rng for &mut R {
    fn next_u64(&mut self) -> u64 {
        (**self).next_u64()
    }
}

/// One step of SplitMix64: a bijective 64-bit mixer.
pub const fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stable 64-bit hash of a label (FNV-1a), for [`derive_seed`].
pub const fn label_hash(label: &str) -> u64 {
    let bytes = label.as_bytes();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

/// The seed of the child stream named `label` under `parent`. Independent of every other
/// label's stream and of the parent's own draws.
pub const fn derive_seed(parent: u64, label: &str) -> u64 {
    splitmix64(splitmix64(parent) ^ splitmix64(label_hash(label) ^ 0x5EED))
}

/// The seed of the `index`-th child stream under `parent`.
pub const fn derive_seed_indexed(parent: u64, label: &str, index: u64) -> u64 {
    splitmix64(derive_seed(parent, label) ^ splitmix64(index))
}

/// xoshiro256**, seeded from a `u64` via SplitMix64.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeededRng {
    s: [u64; 4],
    seed: u64,
}

impl SeededRng {
    /// A generator whose whole stream is determined by `seed`.
    pub fn new(seed: u64) -> SeededRng {
        let mut x = seed;
        let mut s = [0u64; 4];
        for slot in &mut s {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            *slot = splitmix64(x.wrapping_sub(0x9E37_79B9_7F4A_7C15));
        }
        if s == [0; 4] {
            s[0] = 1; // the all-zero state is the one fixed point
        }
        SeededRng { s, seed }
    }

    /// The seed this generator was built from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The child generator named `label` (see [`derive_seed`]). Does not advance `self`.
    pub fn child(&self, label: &str) -> SeededRng {
        SeededRng::new(derive_seed(self.seed, label))
    }

    /// The `index`-th child generator named `label`. Does not advance `self`.
    pub fn child_indexed(&self, label: &str, index: u64) -> SeededRng {
        SeededRng::new(derive_seed_indexed(self.seed, label, index))
    }
}

impl Rng for SeededRng {
    #[inline]
    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::{Rng, SeededRng};
    use proptest::prelude::*;

    #[test]
    fn stream_is_fixed_for_a_seed() {
        // Pin the algorithm: changing it would silently change every recorded trace hash.
        let mut r = SeededRng::new(7);
        let first: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        let mut again = SeededRng::new(7);
        assert_eq!(first, (0..3).map(|_| again.next_u64()).collect::<Vec<_>>());
        assert_eq!(
            first,
            [
                12923355070828475994,
                5142052590334782674,
                15488392906492639638
            ]
        );
    }

    #[test]
    fn matches_reference_xoshiro256starstar() {
        // Vigna's reference implementation from state [1, 2, 3, 4].
        let mut r = SeededRng {
            s: [1, 2, 3, 4],
            seed: 0,
        };
        let out: Vec<u64> = (0..4).map(|_| r.next_u64()).collect();
        assert_eq!(out, [11520, 0, 1509978240, 1215971899390074240]);
    }

    #[test]
    fn children_are_independent_and_stable() {
        let root = SeededRng::new(1);
        assert_eq!(root.child("a"), root.child("a"));
        assert_ne!(
            root.child("a").clone().next_u64(),
            root.child("b").clone().next_u64()
        );
        assert_ne!(
            root.child_indexed("h", 0).next_u64(),
            root.child_indexed("h", 1).next_u64()
        );
    }

    proptest! {
        // A fixed seed: every run checks the same inputs (PROPTEST_RNG_SEED does not apply).
        #![proptest_config(ProptestConfig {
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x5EED),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]
        #[test]
        fn below_is_in_range(seed: u64, n in 1u64..u64::MAX) {
            let mut r = SeededRng::new(seed);
            for _ in 0..16 { prop_assert!(r.below(n) < n); }
        }

        #[test]
        fn unit_is_in_unit_interval(seed: u64) {
            let mut r = SeededRng::new(seed);
            for _ in 0..16 { let x = r.unit_f64(); prop_assert!((0.0..1.0).contains(&x)); }
        }

        #[test]
        fn shuffle_is_a_permutation(seed: u64, len in 0usize..50) {
            let mut v: Vec<usize> = (0..len).collect();
            SeededRng::new(seed).shuffle(&mut v);
            v.sort_unstable();
            prop_assert_eq!(v, (0..len).collect::<Vec<_>>());
        }
    }

    #[test]
    fn chance_is_roughly_calibrated() {
        let mut r = SeededRng::new(3);
        let hits = (0..100_000).filter(|_| r.chance(0.25)).count();
        assert!((24_000..26_000).contains(&hits), "hits = {hits}");
    }
}
