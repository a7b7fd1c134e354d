//! What a `failover` run measured (from the clients' logs) and the invariants it is held to.

use super::analysis::{
    self, all_listed_since, first_unlisted, phases, rate, served_by, unlisted_for,
};
use super::plan::Plan;
use super::workload::ClientLog;
use super::Cfg;
use crate::outcome::{Invariant, Outcome};
use serde_json::{json, Map, Value};

/// What one variant measured (seconds; `None`: did not happen).
pub(super) struct Measured {
    removal_s: Option<f64>,
    cut_unlisted_s: f64,
    served_while_cut: u64,
    recovered_s: Option<f64>,
    rates: Vec<(&'static str, analysis::Rate)>,
    victim_down_rate: analysis::Rate,
    wrong: u64,
}

pub(super) fn measure(
    logs: &[ClientLog],
    cfg: &Cfg,
    plan: &Plan,
    mx: &mut Map<String, Value>,
) -> Measured {
    let (victim, cut) = (
        format!("inst-{}", plan.victim),
        format!("inst-{}", plan.cut),
    );
    let removal = logs
        .iter()
        .map(|l| {
            first_unlisted(l, &victim, plan.crash_at, plan.restart_at).map(|t| t - plan.crash_at)
        })
        .collect::<Option<Vec<_>>>()
        .and_then(|d| d.into_iter().max());
    let cut_unlisted = logs
        .iter()
        .map(|l| unlisted_for(l, &cut, plan.partition_at, plan.heal_at))
        .max()
        .unwrap_or_default();
    let all: Vec<String> = (0..cfg.instances).map(|i| format!("inst-{i}")).collect();
    let recovered = all_listed_since(logs, &all, plan.heal_at, plan.end)
        .map(|t| (t - plan.heal_at).as_secs_f64());
    let rates: Vec<_> = phases(plan, cfg.bound, cfg.recovery, cfg.client.call_timeout)
        .iter()
        .map(|(n, a, b)| (*n, rate(logs, *a, *b)))
        .collect();
    let m = Measured {
        removal_s: removal.map(|d| d.as_secs_f64()),
        cut_unlisted_s: cut_unlisted.as_secs_f64(),
        served_while_cut: served_by(logs, &cut, plan.partition_at, plan.heal_at),
        recovered_s: recovered,
        victim_down_rate: rate(logs, plan.crash_at, plan.restart_at),
        rates,
        wrong: logs
            .iter()
            .flat_map(|l| &l.calls)
            .filter(|c| c.wrong)
            .count() as u64,
    };
    mx.insert("crash_removal_s".into(), json!(m.removal_s));
    mx.insert("partitioned_unlisted_s".into(), json!(m.cut_unlisted_s));
    mx.insert("partitioned_served_calls".into(), json!(m.served_while_cut));
    mx.insert("recovery_s".into(), json!(m.recovered_s));
    mx.insert(
        "success_while_victim_down".into(),
        json!(m.victim_down_rate.ratio()),
    );
    for (n, r) in &m.rates {
        mx.insert(format!("success_{n}"), json!(r.ratio()));
        mx.insert(format!("calls_{n}"), json!(r.total));
    }
    m
}

pub(super) fn check(out: &mut Outcome, name: &str, m: &Measured, cfg: &Cfg, sp: bool) {
    let inv = |n: &str| format!("{n}_{name}");
    let bound = cfg.bound.as_secs_f64();
    let rate_of = |p: &str| {
        m.rates
            .iter()
            .find(|(n, _)| *n == p)
            .map(|(_, r)| *r)
            .unwrap_or_default()
    };
    out.invariants.push(Invariant::check(
        &inv("no_wrong_answers"),
        m.wrong == 0,
        format!("{} wrong answers", m.wrong),
    ));
    if sp {
        out.invariants.push(Invariant::check(
            &inv("crashed_instance_kept_listed"),
            m.removal_s.is_none(),
            format!("self-preservation kept the crashed instance listed until its restart (removal: {:?} s)", m.removal_s),
        ));
        out.invariants.push(Invariant::check(
            &inv("partitioned_instance_kept_listed"),
            m.cut_unlisted_s == 0.0 && m.served_while_cut > 0,
            format!(
                "unlisted {:.3} s during the partition; it served {} calls",
                m.cut_unlisted_s, m.served_while_cut
            ),
        ));
    } else {
        out.invariants.push(Invariant::check(
            &inv("crashed_instance_removed_within_bound"),
            m.removal_s.is_some_and(|r| r <= bound),
            format!("removed from every client's view {:?} s after the crash (bound ttl + tick + slack = {bound:.3} s)", m.removal_s),
        ));
        let after = rate_of("after_crash");
        out.invariants.push(Invariant::check(
            &inv("success_recovers_after_crash"),
            after.total > 0 && after.ok == after.total,
            format!(
                "{} of {} calls started from crash + {bound:.3} s until the partition succeeded",
                after.ok, after.total
            ),
        ));
        out.invariants.push(Invariant::check(
            &inv("partitioned_instance_removed_while_serving"),
            m.cut_unlisted_s > 0.0 && m.served_while_cut > 0,
            format!(
                "unlisted {:.3} s during the partition while it served {} calls",
                m.cut_unlisted_s, m.served_while_cut
            ),
        ));
    }
    let live = rate_of("liveness");
    out.invariants.push(Invariant::check(
        &inv("liveness_after_heal"),
        m.recovered_s.is_some_and(|r| r <= cfg.recovery.as_secs_f64()) && live.total > 0 && live.ok == live.total,
        format!(
            "all instances listed {:?} s after the heal (bound {:?}); {} of {} liveness calls succeeded",
            m.recovered_s, cfg.recovery, live.ok, live.total
        ),
    ));
}
/// The difference self-preservation must make: the partitioned instance stays listed, and
/// the crashed one too (so calls fail more while it is down).
pub(super) fn tradeoff(out: &mut Outcome, on: &Measured, off: &Measured) {
    let (r_on, r_off) = (on.victim_down_rate.ratio(), off.victim_down_rate.ratio());
    out.invariants.push(Invariant::check(
        "self_preservation_tradeoff",
        on.cut_unlisted_s < off.cut_unlisted_s && r_on < r_off,
        format!(
            "partitioned instance unlisted {:.3} s (on) vs {:.3} s (off); success while the crashed instance was down {r_on:.4} (on) vs {r_off:.4} (off)",
            on.cut_unlisted_s, off.cut_unlisted_s
        ),
    ));
}
