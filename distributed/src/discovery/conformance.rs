//! The discovery conformance suite: one set of checks, generic over
//! `distributed::discovery::Discovery`, run against the simulated registry (exact virtual
//! time, tight bounds) and a real etcd (wall time, bounds with slack for etcd's 1 s TTL
//! granularity and 500 ms lessor tick). Each check uses its own service name and cleans up.

use super::{Change, Discovery, DiscoveryError, Instance, Watch, WatchEvent};
use std::collections::BTreeMap;
use testbed_model::{timeout, Duration, Runtime};

/// Timing of the implementation under test.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// The TTL the checks register with (at least the implementation's minimum).
    pub ttl: Duration,
    /// The reaper's period: expiry may lag the TTL by this much.
    pub tick: Duration,
    /// Transport and commit delays on top (sim: a couple of link latencies).
    pub slack: Duration,
    /// A TTL the implementation must reject as too short.
    pub ttl_below_min: Duration,
    /// How long a watch must stay quiet to count as "no further event".
    pub quiet: Duration,
}

/// A check's verdict: a measurement or what went wrong.
pub type Check = Result<String, String>;

macro_rules! ensure {
    ($c:expr, $($f:tt)*) => {
        if !$c {
            return Err(format!($($f)*));
        }
    };
}

fn inst(service: &str, id: &str, port: u16) -> Instance {
    let mut i = Instance::new(service, id, ([10, 0, 0, 200], port).into());
    i.metadata.insert("zone".into(), format!("z{}", port % 3));
    i
}

fn e2s<T>(what: &str, r: Result<T, DiscoveryError>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

async fn next_within<R: Runtime, W: Watch>(
    rt: &R,
    w: &mut W,
    d: Duration,
) -> Result<WatchEvent, String> {
    match timeout(rt, d, w.next()).await {
        Ok(r) => e2s("watch next", r),
        Err(_) => Err(format!("no watch event within {d:?}")),
    }
}

fn ids(v: &[Instance]) -> Vec<&str> {
    v.iter().map(|i| i.id.as_str()).collect()
}

/// Registered instances resolve with their address and metadata, sorted by id, at a
/// revision no older than their registrations; another service stays empty.
pub async fn register_resolve<D: Discovery, R: Runtime>(
    d: &D,
    _rt: &R,
    b: &Bounds,
    svc: &str,
) -> Check {
    let (a, z) = (inst(svc, "b-1", 7001), inst(svc, "a-2", 7002));
    let la = e2s("register", d.register(&a, b.ttl).await)?;
    let lz = e2s("register", d.register(&z, b.ttl).await)?;
    let r = e2s("resolve", d.resolve(svc).await)?;
    ensure!(
        r.instances == vec![z.clone(), a.clone()],
        "resolved {:?}",
        r.instances
    );
    ensure!(
        r.revision >= la.revision.max(lz.revision),
        "stale revision {:?}",
        r.revision
    );
    ensure!(
        la.ttl >= b.ttl,
        "granted ttl {:?} < asked {:?}",
        la.ttl,
        b.ttl
    );
    let other = e2s("resolve", d.resolve(&format!("{svc}-other")).await)?;
    ensure!(
        other.instances.is_empty(),
        "other service lists {:?}",
        ids(&other.instances)
    );
    e2s("revoke", d.revoke(la.id).await)?;
    e2s("revoke", d.revoke(lz.id).await)?;
    Ok(format!("2 instances at revision {}", r.revision.0))
}

/// Keepalives every TTL/3 keep an instance listed for twice its TTL and more.
pub async fn keepalive_keeps_alive<D: Discovery, R: Runtime>(
    d: &D,
    rt: &R,
    b: &Bounds,
    svc: &str,
) -> Check {
    let l = e2s("register", d.register(&inst(svc, "k", 7003), b.ttl).await)?;
    let end = rt.now() + b.ttl * 2 + b.tick;
    let mut n = 0;
    while rt.now() < end {
        rt.sleep(b.ttl / 3).await;
        let ttl = e2s("keepalive", d.keepalive(l.id).await)?;
        ensure!(ttl >= b.ttl, "keepalive renewed for {ttl:?}");
        n += 1;
    }
    let r = e2s("resolve", d.resolve(svc).await)?;
    ensure!(
        ids(&r.instances) == ["k"],
        "after {n} keepalives: {:?}",
        ids(&r.instances)
    );
    e2s("revoke", d.revoke(l.id).await)?;
    Ok(format!("{n} keepalives over {:?}", b.ttl * 2 + b.tick))
}

/// Without keepalives the instance stays listed until its TTL and is deleted (a watcher sees
/// the delete) within TTL + one tick of its last keepalive.
pub async fn expiry_within_ttl_plus_tick<D: Discovery, R: Runtime>(
    d: &D,
    rt: &R,
    b: &Bounds,
    svc: &str,
) -> Check {
    let l = e2s("register", d.register(&inst(svc, "e", 7004), b.ttl).await)?;
    let mut w = e2s("watch", d.watch(svc, l.revision).await)?;
    let sent = rt.now();
    e2s("keepalive", d.keepalive(l.id).await)?;
    let answered = rt.now();
    rt.sleep_until(sent + b.ttl - b.slack.min(b.ttl / 2)).await;
    let r = e2s("resolve", d.resolve(svc).await)?;
    ensure!(
        ids(&r.instances) == ["e"],
        "gone before its ttl: {:?} at {:?} after the keepalive",
        ids(&r.instances),
        rt.now() - sent
    );
    let e = next_within(rt, &mut w, b.ttl + b.tick + b.slack * 2).await?;
    let gone = rt.now();
    ensure!(
        matches!(&e.change, Change::Delete { id, .. } if id == "e"),
        "unexpected {e:?}"
    );
    let after = gone - answered;
    ensure!(
        gone >= sent + b.ttl,
        "deleted {:?} after the keepalive, before the ttl {:?}",
        gone - sent,
        b.ttl
    );
    ensure!(
        after <= b.ttl + b.tick + b.slack,
        "deleted {after:?} after the keepalive answer; bound {:?}",
        b.ttl + b.tick + b.slack
    );
    Ok(format!(
        "deleted {:.3} s after the last keepalive (ttl {:?}, tick {:?})",
        after.as_secs_f64(),
        b.ttl,
        b.tick
    ))
}

/// Revoking a lease deletes its instance at once, with a delete event at the revoke's
/// revision; the lease is then unknown to keepalive and revoke.
pub async fn revoke_emits_deletes<D: Discovery, R: Runtime>(
    d: &D,
    rt: &R,
    b: &Bounds,
    svc: &str,
) -> Check {
    let l = e2s("register", d.register(&inst(svc, "r", 7005), b.ttl).await)?;
    let r0 = e2s("resolve", d.resolve(svc).await)?;
    let mut w = e2s("watch", d.watch(svc, r0.revision).await)?;
    let rev = e2s("revoke", d.revoke(l.id).await)?;
    let e = next_within(rt, &mut w, b.slack + b.tick).await?;
    ensure!(
        e == WatchEvent {
            revision: rev,
            change: Change::Delete {
                service: svc.into(),
                id: "r".into()
            }
        },
        "event {e:?}, revoke at {rev:?}"
    );
    let r = e2s("resolve", d.resolve(svc).await)?;
    ensure!(
        r.instances.is_empty(),
        "still listed: {:?}",
        ids(&r.instances)
    );
    let k = d.keepalive(l.id).await;
    ensure!(
        k == Err(DiscoveryError::LeaseNotFound),
        "keepalive of a revoked lease: {k:?}"
    );
    let again = d.revoke(l.id).await;
    ensure!(
        again == Err(DiscoveryError::LeaseNotFound),
        "second revoke: {again:?}"
    );
    Ok(format!("delete at revision {}", rev.0))
}

/// A watch resumed after the last revision seen yields exactly the changes made since, in
/// order: none lost while no watch was open, none twice.
pub async fn watch_resumes_exactly_once<D: Discovery, R: Runtime>(
    d: &D,
    rt: &R,
    b: &Bounds,
    svc: &str,
) -> Check {
    let la = e2s(
        "register",
        d.register(&inst(svc, "a", 7006), b.ttl * 4).await,
    )?;
    let lb = e2s(
        "register",
        d.register(&inst(svc, "b", 7007), b.ttl * 4).await,
    )?;
    let r0 = e2s("resolve", d.resolve(svc).await)?;
    let mut w = e2s("watch", d.watch(svc, r0.revision).await)?;
    let rev1 = e2s("deregister", d.deregister(svc, "a").await)?;
    let c = inst(svc, "c", 7008);
    let lc = e2s("register", d.register(&c, b.ttl * 4).await)?;
    let e1 = next_within(rt, &mut w, b.slack + b.tick).await?;
    ensure!(
        e1.revision == rev1 && matches!(&e1.change, Change::Delete { id, .. } if id == "a"),
        "first event {e1:?}"
    );
    drop(w);
    let rev3 = e2s("deregister", d.deregister(svc, "b").await)?;
    let mut w = e2s("watch", d.watch(svc, e1.revision).await)?;
    let e2 = next_within(rt, &mut w, b.slack + b.tick).await?;
    let e3 = next_within(rt, &mut w, b.slack + b.tick).await?;
    ensure!(
        e2 == WatchEvent {
            revision: lc.revision,
            change: Change::Put(c)
        },
        "resumed first {e2:?}"
    );
    ensure!(
        e3.revision == rev3 && matches!(&e3.change, Change::Delete { id, .. } if id == "b"),
        "resumed second {e3:?}"
    );
    let rev4 = e2s("deregister", d.deregister(svc, "c").await)?;
    let e4 = next_within(rt, &mut w, b.slack + b.tick).await?;
    ensure!(
        e4.revision == rev4,
        "live event {e4:?}, expected revision {rev4:?}"
    );
    let extra = timeout(rt, b.quiet, w.next()).await;
    ensure!(extra.is_err(), "unexpected extra watch item {extra:?}");
    for l in [la, lb, lc] {
        e2s("revoke", d.revoke(l.id).await)?;
    }
    Ok(format!(
        "revisions {} {} {} {}",
        e1.revision.0, e2.revision.0, e3.revision.0, e4.revision.0
    ))
}

/// A TTL below the minimum is refused with `TtlTooShort` and nothing is registered.
pub async fn min_ttl_rejected<D: Discovery, R: Runtime>(
    d: &D,
    _rt: &R,
    b: &Bounds,
    svc: &str,
) -> Check {
    let r = d.register(&inst(svc, "m", 7009), b.ttl_below_min).await;
    ensure!(
        matches!(r, Err(DiscoveryError::TtlTooShort { asked, .. }) if asked == b.ttl_below_min),
        "register with {:?}: {r:?}",
        b.ttl_below_min
    );
    let res = e2s("resolve", d.resolve(svc).await)?;
    ensure!(res.instances.is_empty(), "registered anyway");
    Ok(format!("{r:?}").chars().take(120).collect())
}

/// Deregistering removes the instance at once; a second deregister is `NotFound`.
pub async fn deregister_removes<D: Discovery, R: Runtime>(
    d: &D,
    _rt: &R,
    b: &Bounds,
    svc: &str,
) -> Check {
    let l = e2s("register", d.register(&inst(svc, "d", 7010), b.ttl).await)?;
    let rev = e2s("deregister", d.deregister(svc, "d").await)?;
    ensure!(
        rev > l.revision,
        "deregister revision {rev:?} not after {:?}",
        l.revision
    );
    let r = e2s("resolve", d.resolve(svc).await)?;
    ensure!(
        r.instances.is_empty() && r.revision >= rev,
        "after deregister: {:?} at {:?}",
        ids(&r.instances),
        r.revision
    );
    ensure!(
        d.deregister(svc, "d").await == Err(DiscoveryError::NotFound),
        "second deregister"
    );
    e2s("revoke", d.revoke(l.id).await)?;
    Ok(format!("deleted at revision {}", rev.0))
}

/// Runs every check (each under service `<prefix>-<check>`) and returns name → verdict.
pub async fn run_all<D: Discovery, R: Runtime>(
    d: &D,
    rt: &R,
    b: &Bounds,
    prefix: &str,
) -> BTreeMap<&'static str, Check> {
    let mut out = BTreeMap::new();
    let svc = |n: &str| format!("{prefix}-{n}");
    macro_rules! run {
        ($name:literal, $f:ident) => {
            out.insert($name, $f(d, rt, b, &svc($name)).await);
        };
    }
    run!("register-resolve", register_resolve);
    run!("keepalive", keepalive_keeps_alive);
    run!("expiry", expiry_within_ttl_plus_tick);
    run!("revoke", revoke_emits_deletes);
    run!("watch-resume", watch_resumes_exactly_once);
    run!("min-ttl", min_ttl_rejected);
    run!("deregister", deregister_removes);
    out
}

/// Formats `run_all`'s verdicts; `Err` lists the failures.
pub fn verdict(results: &BTreeMap<&'static str, Check>) -> Result<String, String> {
    let mut lines = Vec::new();
    let mut failed = false;
    for (name, r) in results {
        match r {
            Ok(m) => lines.push(format!("ok   {name}: {m}")),
            Err(e) => {
                failed = true;
                lines.push(format!("FAIL {name}: {e}"));
            }
        }
    }
    let text = lines.join("\n");
    if failed {
        Err(text)
    } else {
        Ok(text)
    }
}
