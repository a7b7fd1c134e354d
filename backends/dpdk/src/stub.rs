//! What the crate offers without the `dpdk` feature: an [`Eal`] whose `init` fails with
//! [`EalError::NotBuilt`], so callers compile unchanged and learn at run time why not.

use crate::EalError;

/// DPDK's environment abstraction layer; in this build (no `dpdk` feature) it cannot start.
#[derive(Debug)]
pub struct Eal {
    _never: (),
}

impl Eal {
    /// Always fails: this crate was built without the `dpdk` feature.
    pub fn init<I, S>(_args: I) -> Result<Eal, EalError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Err(EalError::NotBuilt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_says_the_feature_is_missing() {
        let e = Eal::init(["--no-huge"]).unwrap_err();
        assert_eq!(e, EalError::NotBuilt);
        assert_eq!(e.to_string(), "built without the dpdk feature");
        assert_eq!(crate::available(), Err(EalError::NotBuilt));
    }
}
