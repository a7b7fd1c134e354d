//! `--seeds A..B` / `A..=B`: the one parser of seed ranges (check-determinism, sweep, report).

use std::ops::Range;

/// Why a seed range was rejected (a usage error: exit 2).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SeedsError {
    /// Not `A..B` or `A..=B` with unsigned integers.
    #[error("bad --seeds {0:?}: expected A..B or A..=B with A and B in 0..=18446744073709551614")]
    Malformed(String),
    /// No seed in the range (`5..5`, `7..3`).
    #[error("--seeds {0:?} is empty: B must be above A in A..B (at least A in A..=B)")]
    Empty(String),
    /// `A..=18446744073709551615`: its end does not fit in a u64 range.
    #[error("--seeds {0:?} ends past the largest seed range: the last seed is at most 18446744073709551614")]
    Overflow(String),
}

/// Parses `A..B` (B excluded) or `A..=B` (B included) into a non-empty range.
pub fn parse_seeds(s: &str) -> Result<Range<u64>, SeedsError> {
    let num = |x: &str| {
        x.trim()
            .parse::<u64>()
            .map_err(|_| SeedsError::Malformed(s.into()))
    };
    let (a, b, inclusive) = if let Some((a, b)) = s.split_once("..=") {
        (num(a)?, num(b)?, true)
    } else if let Some((a, b)) = s.split_once("..") {
        (num(a)?, num(b)?, false)
    } else {
        return Err(SeedsError::Malformed(s.into()));
    };
    let end = if inclusive {
        b.checked_add(1)
            .ok_or_else(|| SeedsError::Overflow(s.into()))?
    } else {
        b
    };
    if a >= end {
        return Err(SeedsError::Empty(s.into()));
    }
    Ok(a..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_bad_ones_are_typed_errors() {
        assert_eq!(parse_seeds("0..200"), Ok(0..200));
        assert_eq!(parse_seeds(" 5 ..= 5 "), Ok(5..6));
        assert_eq!(parse_seeds("5..5"), Err(SeedsError::Empty("5..5".into())));
        assert_eq!(parse_seeds("7..=3"), Err(SeedsError::Empty("7..=3".into())));
        assert_eq!(
            parse_seeds("x..5"),
            Err(SeedsError::Malformed("x..5".into()))
        );
        assert_eq!(parse_seeds("5"), Err(SeedsError::Malformed("5".into())));
        assert_eq!(
            parse_seeds("-1..5"),
            Err(SeedsError::Malformed("-1..5".into()))
        );
        let max = "0..=18446744073709551615";
        assert_eq!(parse_seeds(max), Err(SeedsError::Overflow(max.into())));
        assert_eq!(
            parse_seeds("18446744073709551614..=18446744073709551614"),
            Ok(u64::MAX - 1..u64::MAX)
        );
        assert_eq!(parse_seeds("0..18446744073709551615"), Ok(0..u64::MAX));
        assert!(SeedsError::Overflow(max.into())
            .to_string()
            .contains("18446744073709551614"));
    }
}
