//! Degradation per feature (网络编程进阶主题 §5.4): what each feature serves at each
//! [`crate::degrade::Level`]. Core features are served in full at every level; optional ones
//! may fall back to canned or cached data, or be shed (not called at all).

use crate::degrade::Level;

/// What a feature does at one level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Call the real dependency.
    Full,
    /// Do not call it; answer with fallback data.
    Fallback,
    /// Do not call it; leave the feature out of the answer.
    Shed,
}

/// A feature's action at the degraded and critical levels (normal is always [`Action::Full`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeaturePolicy {
    /// At [`Level::Degraded`].
    pub degraded: Action,
    /// At [`Level::Critical`].
    pub critical: Action,
}

impl FeaturePolicy {
    /// Never degraded.
    pub const CORE: FeaturePolicy = FeaturePolicy {
        degraded: Action::Full,
        critical: Action::Full,
    };
    /// 网络编程进阶主题 §5.4's reviews: fallback text ("Loading...") once degraded.
    pub const FALLBACK_WHEN_DEGRADED: FeaturePolicy = FeaturePolicy {
        degraded: Action::Fallback,
        critical: Action::Fallback,
    };
    /// 网络编程进阶主题 §5.4's recommendations: cached hot products when degraded, not called when critical.
    pub const FALLBACK_THEN_SHED: FeaturePolicy = FeaturePolicy {
        degraded: Action::Fallback,
        critical: Action::Shed,
    };

    /// The action at `level`.
    pub fn at(&self, level: Level) -> Action {
        match level {
            Level::Normal => Action::Full,
            Level::Degraded => self.degraded,
            Level::Critical => self.critical,
        }
    }

    /// Whether the feature is ever degraded.
    pub fn is_core(&self) -> bool {
        *self == Self::CORE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_table() {
        let (core, reviews, recs) = (
            FeaturePolicy::CORE,
            FeaturePolicy::FALLBACK_WHEN_DEGRADED,
            FeaturePolicy::FALLBACK_THEN_SHED,
        );
        for l in [Level::Normal, Level::Degraded, Level::Critical] {
            assert_eq!(core.at(l), Action::Full);
        }
        assert_eq!(reviews.at(Level::Normal), Action::Full);
        assert_eq!(reviews.at(Level::Critical), Action::Fallback);
        assert_eq!(recs.at(Level::Degraded), Action::Fallback);
        assert_eq!(recs.at(Level::Critical), Action::Shed);
        assert!(core.is_core() && !recs.is_core());
    }
}
