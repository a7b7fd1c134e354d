//! Every size the registry and its wire format accept has a limit; [`Limits`] holds them and
//! checks instances against them.

use super::types::{DiscoveryError, Instance};
use testbed_model::Duration;

/// The registry's limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Shortest TTL a lease may have (etcd: about 2 s with default election settings).
    pub ttl_min: Duration,
    /// Longest TTL a lease may have.
    pub ttl_max: Duration,
    /// Bytes in a service name or instance id.
    pub name_bytes_max: usize,
    /// Metadata entries per instance.
    pub metadata_entries_max: usize,
    /// Bytes in one metadata key or value.
    pub metadata_bytes_max: usize,
    /// Live leases.
    pub leases_max: usize,
    /// Registered instances, all services together.
    pub instances_max: usize,
    /// Changes kept for watchers to resume from; older ones are compacted.
    pub history_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            ttl_min: Duration::from_millis(500),
            ttl_max: Duration::from_secs(3600),
            name_bytes_max: 128,
            metadata_entries_max: 16,
            metadata_bytes_max: 256,
            leases_max: 10_000,
            instances_max: 10_000,
            history_max: 4096,
        }
    }
}

impl Limits {
    /// Checks a TTL against the minimum and maximum.
    pub fn check_ttl(&self, ttl: Duration) -> Result<(), DiscoveryError> {
        if ttl < self.ttl_min {
            return Err(DiscoveryError::TtlTooShort {
                asked: ttl,
                min: self.ttl_min,
            });
        }
        if ttl > self.ttl_max {
            return Err(DiscoveryError::TtlTooLong {
                asked: ttl,
                max: self.ttl_max,
            });
        }
        Ok(())
    }

    /// Checks a service name or instance id.
    pub fn check_name(&self, name: &str) -> Result<(), DiscoveryError> {
        if name.is_empty() || name.len() > self.name_bytes_max {
            return Err(DiscoveryError::Limit(
                "name length (1..=name_bytes_max)".into(),
            ));
        }
        if name.contains('/') {
            return Err(DiscoveryError::Limit("names may not contain '/'".into()));
        }
        Ok(())
    }

    /// Checks an instance's names and metadata.
    pub fn check_instance(&self, i: &Instance) -> Result<(), DiscoveryError> {
        self.check_name(&i.service)?;
        self.check_name(&i.id)?;
        if i.metadata.len() > self.metadata_entries_max {
            return Err(DiscoveryError::Limit("metadata_entries_max".into()));
        }
        if i.metadata
            .iter()
            .any(|(k, v)| k.len() > self.metadata_bytes_max || v.len() > self.metadata_bytes_max)
        {
            return Err(DiscoveryError::Limit("metadata_bytes_max".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_bounds_and_names_are_checked() {
        let l = Limits::default();
        assert_eq!(
            l.check_ttl(Duration::from_millis(499)),
            Err(DiscoveryError::TtlTooShort {
                asked: Duration::from_millis(499),
                min: Duration::from_millis(500)
            })
        );
        assert!(l.check_ttl(Duration::from_millis(500)).is_ok());
        assert!(matches!(
            l.check_ttl(Duration::from_secs(3601)),
            Err(DiscoveryError::TtlTooLong { .. })
        ));
        assert!(l.check_name("").is_err());
        assert!(l.check_name("a/b").is_err());
        assert!(l.check_name(&"x".repeat(129)).is_err());
        assert!(l.check_name(&"x".repeat(128)).is_ok());
        let mut i = Instance::new("svc", "a", "10.0.0.1:1".parse().unwrap());
        for n in 0..17 {
            i.metadata.insert(format!("k{n}"), "v".into());
        }
        assert_eq!(
            l.check_instance(&i),
            Err(DiscoveryError::Limit("metadata_entries_max".into()))
        );
    }
}
