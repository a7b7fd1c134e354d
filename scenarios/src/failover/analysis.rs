//! Reading the clients' logs of a `failover` run: when the crashed instance left their views,
//! how long the partitioned one was missing, success rates by phase.

use super::plan::Plan;
use super::workload::ClientLog;
use testbed_model::{Duration, Instant};

/// Successful and total calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rate {
    /// Calls that succeeded.
    pub ok: u64,
    /// Calls made.
    pub total: u64,
}

impl Rate {
    /// ok / total (1 when no call was made).
    pub fn ratio(self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.ok as f64 / self.total as f64
        }
    }
}

/// Calls started in `[from, to)`, all clients together.
pub fn rate(logs: &[ClientLog], from: Instant, to: Instant) -> Rate {
    let mut r = Rate::default();
    for c in logs.iter().flat_map(|l| &l.calls) {
        if c.start >= from && c.start < to {
            r.total += 1;
            r.ok += c.ok as u64;
        }
    }
    r
}

fn listed(views: &[(Instant, Vec<String>)], id: &str, t: Instant) -> bool {
    views
        .iter()
        .take_while(|(at, _)| *at <= t)
        .last()
        .is_some_and(|(_, ids)| ids.iter().any(|x| x == id))
}

/// The first instant in `[from, to)` at which `id` is not in the view (`None`: listed
/// throughout).
pub fn first_unlisted(log: &ClientLog, id: &str, from: Instant, to: Instant) -> Option<Instant> {
    if !listed(&log.views, id, from) {
        return Some(from);
    }
    log.views
        .iter()
        .find(|(at, ids)| *at >= from && *at < to && !ids.iter().any(|x| x == id))
        .map(|(at, _)| *at)
}

/// How long `id` was missing from the view within `[from, to)`.
pub fn unlisted_for(log: &ClientLog, id: &str, from: Instant, to: Instant) -> Duration {
    let mut total = Duration::ZERO;
    let mut t = from;
    let mut is_listed = listed(&log.views, id, from);
    for (at, ids) in log.views.iter().filter(|(at, _)| *at > from && *at < to) {
        if !is_listed {
            total += *at - t;
        }
        t = *at;
        is_listed = ids.iter().any(|x| x == id);
    }
    if !is_listed {
        total += to - t;
    }
    total
}

/// The latest instant at or after `from` when the view came to list all of `ids` and kept
/// listing them through `to`, over all clients (`None` if some client never did).
pub fn all_listed_since(
    logs: &[ClientLog],
    ids: &[String],
    from: Instant,
    to: Instant,
) -> Option<Instant> {
    let mut worst = from;
    for l in logs {
        let full = |v: &[String]| ids.iter().all(|i| v.contains(i));
        let mut since = if listed_all(&l.views, ids, from) {
            Some(from)
        } else {
            None
        };
        for (at, v) in l.views.iter().filter(|(at, _)| *at > from && *at <= to) {
            since = match (since, full(v)) {
                (Some(s), true) => Some(s),
                (None, true) => Some(*at),
                (_, false) => None,
            };
        }
        worst = worst.max(since?);
    }
    Some(worst)
}

fn listed_all(views: &[(Instant, Vec<String>)], ids: &[String], t: Instant) -> bool {
    ids.iter().all(|i| listed(views, i, t))
}

/// Successful calls to node `node` started in `[from, to)`.
pub fn served_by(logs: &[ClientLog], id: &str, from: Instant, to: Instant) -> u64 {
    logs.iter()
        .map(|l| {
            let node = l.nodes.get(id).copied();
            l.calls
                .iter()
                .filter(|c| {
                    c.ok && c.node.is_some() && c.node == node && c.start >= from && c.start < to
                })
                .count() as u64
        })
        .sum()
}

/// Phase boundaries of a plan, by call start time. Calls started within one call timeout
/// before the crash may be in flight when it hits, so they count in `crash`.
pub fn phases(
    p: &Plan,
    bound: Duration,
    recovery: Duration,
    call_timeout: Duration,
) -> [(&'static str, Instant, Instant); 5] {
    let hit = p.crash_at.saturating_sub(call_timeout);
    [
        ("before", p.warmup, hit),
        ("crash", hit, p.crash_at + bound),
        ("after_crash", p.crash_at + bound, p.partition_at),
        ("partition", p.partition_at, p.heal_at),
        ("liveness", p.heal_at + recovery, p.end),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::workload::Call;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn log() -> ClientLog {
        let v = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut l = ClientLog {
            views: vec![
                (at(0), v(&["a", "b"])),
                (at(100), v(&["a"])),
                (at(300), v(&["a", "b"])),
            ],
            ..ClientLog::default()
        };
        l.nodes.insert("a".into(), 0);
        l.nodes.insert("b".into(), 1);
        for (t, node, ok) in [
            (10, 0, true),
            (20, 1, true),
            (150, 0, false),
            (350, 1, true),
        ] {
            l.calls.push(Call {
                start: at(t),
                node: Some(node),
                ok,
                wrong: false,
            });
        }
        l
    }

    #[test]
    fn reads_views_and_calls() {
        let l = log();
        assert_eq!(first_unlisted(&l, "b", at(50), at(400)), Some(at(100)));
        assert_eq!(first_unlisted(&l, "a", at(0), at(400)), None);
        assert_eq!(first_unlisted(&l, "b", at(200), at(400)), Some(at(200)));
        assert_eq!(
            unlisted_for(&l, "b", at(0), at(400)),
            Duration::from_millis(200)
        );
        assert_eq!(
            unlisted_for(&l, "b", at(150), at(250)),
            Duration::from_millis(100)
        );
        assert_eq!(unlisted_for(&l, "a", at(0), at(400)), Duration::ZERO);
        let ls = [l];
        assert_eq!(rate(&ls, at(0), at(200)), Rate { ok: 2, total: 3 });
        assert_eq!(served_by(&ls, "b", at(0), at(400)), 2);
        let ids = ["a".to_string(), "b".to_string()];
        assert_eq!(all_listed_since(&ls, &ids, at(50), at(400)), Some(at(300)));
        assert_eq!(all_listed_since(&ls, &ids, at(0), at(50)), Some(at(0)));
    }
}
