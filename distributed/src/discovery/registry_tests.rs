use super::*;
use proptest::prelude::*;

fn inst(svc: &str, id: &str) -> Instance {
    Instance::new(svc, id, "10.0.0.9:80".parse().unwrap())
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn at(n: u64) -> Instant {
    Instant::from_millis(n)
}

/// Drives the reaper at every instant it asks for, up to `until`.
fn run_until(r: &mut Registry, until: Instant) {
    while let Some(t) = r.poll_timeout() {
        if t > until {
            break;
        }
        r.handle_timeout(t);
    }
}

#[test]
fn expires_within_ttl_plus_one_tick_of_the_last_keepalive() {
    let mut r = Registry::new(Instant::ZERO, RegistryConfig::default());
    let lease = r.handle_grant(at(0), ms(1000)).unwrap().id;
    r.handle_put(at(0), lease, inst("a", "x")).unwrap();
    r.handle_keepalive(at(450), lease).unwrap();
    // Expiry at 1450; the reaper runs at 1500.
    run_until(&mut r, at(1499));
    assert_eq!(r.resolve("a").instances.len(), 1);
    run_until(&mut r, at(1500));
    assert!(r.resolve("a").instances.is_empty());
    assert_eq!(r.stats().expired, 1);
    assert_eq!(r.poll_timeout(), None, "no leases, no reaper");
}

#[test]
fn keepalives_keep_an_instance_past_its_ttl() {
    let mut r = Registry::new(Instant::ZERO, RegistryConfig::default());
    let lease = r.handle_grant(at(0), ms(600)).unwrap().id;
    r.handle_put(at(0), lease, inst("a", "x")).unwrap();
    for k in 1..=20 {
        run_until(&mut r, at(k * 200));
        assert_eq!(r.handle_keepalive(at(k * 200), lease), Ok(ms(600)));
    }
    assert_eq!(r.resolve("a").instances.len(), 1);
    run_until(&mut r, at(4000 + 600 + 100));
    assert!(r.resolve("a").instances.is_empty());
    assert_eq!(
        r.handle_keepalive(at(4800), lease),
        Err(DiscoveryError::LeaseNotFound)
    );
}

#[test]
fn revoke_deletes_every_instance_of_the_lease_with_events() {
    let mut r = Registry::new(at(5), RegistryConfig::default());
    let lease = r.handle_grant(at(5), ms(1000)).unwrap().id;
    let other = r.handle_grant(at(5), ms(1000)).unwrap().id;
    let r0 = r.revision();
    r.handle_put(at(5), lease, inst("a", "x")).unwrap();
    r.handle_put(at(5), lease, inst("b", "y")).unwrap();
    r.handle_put(at(5), other, inst("a", "z")).unwrap();
    let before = r.revision();
    let after = r.handle_revoke(at(6), lease).unwrap();
    assert_eq!(after.0, before.0 + 2);
    let ids: Vec<_> = r.resolve("a").instances.into_iter().map(|i| i.id).collect();
    assert_eq!(ids, vec!["z"]);
    let a = r.changes_since("a", before, 10).unwrap();
    assert_eq!(
        a.iter().map(|e| e.change.clone()).collect::<Vec<_>>(),
        vec![Change::Delete {
            service: "a".into(),
            id: "x".into()
        }]
    );
    assert_eq!(r.changes_since("a", r0, 10).unwrap().len(), 3);
    assert_eq!(
        r.handle_revoke(at(7), lease),
        Err(DiscoveryError::LeaseNotFound)
    );
}

#[test]
fn min_ttl_and_unknown_leases_are_rejected() {
    let mut r = Registry::new(Instant::ZERO, RegistryConfig::default());
    assert_eq!(
        r.handle_grant(at(0), ms(100)),
        Err(DiscoveryError::TtlTooShort {
            asked: ms(100),
            min: ms(500)
        })
    );
    assert_eq!(
        r.handle_put(at(0), LeaseId(42), inst("a", "x")),
        Err(DiscoveryError::LeaseNotFound)
    );
    assert_eq!(
        r.handle_delete(at(0), "a", "x"),
        Err(DiscoveryError::NotFound)
    );
}

#[test]
fn re_registering_moves_an_instance_to_the_new_lease() {
    let mut r = Registry::new(Instant::ZERO, RegistryConfig::default());
    let l1 = r.handle_grant(at(0), ms(500)).unwrap().id;
    let l2 = r.handle_grant(at(0), ms(5000)).unwrap().id;
    r.handle_put(at(0), l1, inst("a", "x")).unwrap();
    r.handle_put(at(0), l2, inst("a", "x")).unwrap();
    run_until(&mut r, at(1000));
    assert_eq!(
        r.resolve("a").instances.len(),
        1,
        "l1's expiry no longer owns x"
    );
}

#[test]
fn limits_on_counts() {
    let cfg = RegistryConfig {
        limits: Limits {
            leases_max: 1,
            instances_max: 1,
            ..Limits::default()
        },
        ..RegistryConfig::default()
    };
    let mut r = Registry::new(Instant::ZERO, cfg);
    let l = r.handle_grant(at(0), ms(500)).unwrap().id;
    assert_eq!(
        r.handle_grant(at(0), ms(500)),
        Err(DiscoveryError::Limit("leases_max".into()))
    );
    r.handle_put(at(0), l, inst("a", "x")).unwrap();
    assert_eq!(
        r.handle_put(at(0), l, inst("a", "y")),
        Err(DiscoveryError::Limit("instances_max".into()))
    );
    // Replacing an existing registration is not a new instance.
    r.handle_put(at(0), l, inst("a", "x")).unwrap();
}

fn three_leases(sp: Option<SelfPreservation>) -> (Registry, [LeaseId; 3]) {
    let mut r = Registry::new(
        Instant::ZERO,
        RegistryConfig {
            self_preservation: sp,
            ..RegistryConfig::default()
        },
    );
    let ids = [0, 1, 2].map(|n| {
        let l = r.handle_grant(at(0), ms(3000)).unwrap().id;
        r.handle_put(at(0), l, inst("a", &format!("i{n}"))).unwrap();
        l
    });
    (r, ids)
}

/// Leases 0 and 1 renew every 500 ms; lease 2 stops at 0.
fn renew_two(r: &mut Registry, ids: [LeaseId; 3], until: u64) {
    let mut t = 0;
    while t < until {
        t += 500;
        run_until(r, at(t));
        r.handle_keepalive(at(t), ids[0]).unwrap();
        r.handle_keepalive(at(t), ids[1]).unwrap();
    }
}

#[test]
fn without_self_preservation_a_silent_lease_expires() {
    let (mut r, ids) = three_leases(None);
    renew_two(&mut r, ids, 6000);
    assert_eq!(r.resolve("a").instances.len(), 2);
    assert!(!r.is_protected());
    assert_eq!(r.stats().expired, 1);
}

#[test]
fn self_preservation_keeps_a_silent_lease_until_renewals_recover() {
    let (mut r, ids) = three_leases(Some(SelfPreservation::default()));
    renew_two(&mut r, ids, 6000);
    assert_eq!(r.resolve("a").instances.len(), 3, "expiry suspended");
    assert!(r.is_protected());
    assert!(r.stats().expiries_suspended > 0);
    // The silent one comes back: it still has its lease and protection ends.
    r.handle_keepalive(at(6000), ids[2]).unwrap();
    run_until(&mut r, at(6100));
    assert!(!r.is_protected());
    assert_eq!(r.resolve("a").instances.len(), 3);
    assert_eq!(r.stats().expired, 0);
}

#[test]
fn a_restarted_registry_numbers_after_the_old_one() {
    let mut old = Registry::new(at(0), RegistryConfig::default());
    let l = old.handle_grant(at(0), ms(1000)).unwrap().id;
    old.handle_put(at(0), l, inst("a", "x")).unwrap();
    let seen = old.revision();
    let mut new = Registry::new(at(10), RegistryConfig::default());
    assert!(new.revision() > seen);
    assert_eq!(
        new.handle_keepalive(at(10), l),
        Err(DiscoveryError::LeaseNotFound)
    );
    assert!(matches!(
        new.changes_since("a", seen, 10),
        Err(DiscoveryError::Compacted { .. })
    ));
    let l2 = new.handle_grant(at(10), ms(1000)).unwrap().id;
    assert_ne!(l, l2);
}

proptest! {
    /// Whatever the keepalive schedule, an instance is listed for at least `ttl` after each
    /// keepalive and gone within `ttl + tick` of the last one.
    #[test]
    fn expiry_bounds_hold(
        ttl_ms in 500u64..3000,
        tick_ms in 10u64..500,
        gaps in proptest::collection::vec(1u64..4000, 1..12),
    ) {
        let cfg = RegistryConfig { tick: ms(tick_ms), ..RegistryConfig::default() };
        let mut r = Registry::new(Instant::ZERO, cfg);
        let lease = r.handle_grant(at(0), ms(ttl_ms)).unwrap().id;
        r.handle_put(at(0), lease, inst("a", "x")).unwrap();
        let mut last = 0u64;
        let mut now = 0u64;
        let mut alive = true;
        for g in gaps {
            now += g;
            // Step the reaper through the gap, checking the invariant at each run.
            while let Some(t) = r.poll_timeout() {
                if t > at(now) { break; }
                r.handle_timeout(t);
                let listed = !r.resolve("a").instances.is_empty();
                let since = t.as_nanos() / 1_000_000 - last;
                if since < ttl_ms { prop_assert!(listed, "removed {since} ms after keepalive"); }
                if since >= ttl_ms + tick_ms { prop_assert!(!listed, "listed {since} ms after keepalive"); }
            }
            alive = !r.resolve("a").instances.is_empty();
            if !alive { break; }
            r.handle_keepalive(at(now), lease).unwrap();
            last = now;
        }
        if alive {
            run_until(&mut r, at(last + ttl_ms + tick_ms));
            prop_assert!(r.resolve("a").instances.is_empty());
        }
    }
}

#[test]
fn an_empty_lease_left_behind_does_not_keep_protection_on() {
    let (mut r, ids) = three_leases(Some(SelfPreservation::default()));
    renew_two(&mut r, ids, 2000);
    assert!(r.is_protected());
    // Instance i2 comes back under a new lease; its old lease is now empty.
    let fresh = r.handle_grant(at(2000), ms(3000)).unwrap().id;
    r.handle_put(at(2000), fresh, inst("a", "i2")).unwrap();
    let mut t = 2000;
    while t < 4000 {
        t += 500;
        run_until(&mut r, at(t));
        for l in [ids[0], ids[1], fresh] {
            r.handle_keepalive(at(t), l).unwrap();
        }
    }
    assert!(!r.is_protected());
    assert_eq!(r.lease_count(), 3, "the empty lease expired");
    assert_eq!(r.resolve("a").instances.len(), 3);
}
