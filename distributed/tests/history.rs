//! The history recorder and linearizability checker: porcupine's small register examples,
//! indeterminate operations, the queue model, budgets, counterexamples and their SVG, and
//! property tests (generated linearizable histories pass; a planted stale read fails).

use std::sync::atomic::AtomicBool;

use proptest::prelude::*;
use testbed_distributed::history::generate::{kv_history, plant_stale_read, KvSpec};
use testbed_distributed::history::models::{
    KvInput, KvModel, KvOp, KvOutput, KvStoreModel, QueueInput, QueueModel, QueueOutput,
    RegisterInput, RegisterModel, RegisterOutput,
};
use testbed_distributed::history::{
    check, counterexample_svg, CheckError, CheckOptions, History, Op, RecordError, Recorder,
    UnknownReason, Verdict,
};
use testbed_model::Instant;

fn t(n: u64) -> Instant {
    Instant::from_nanos(n)
}

fn w(client: u32, v: i64, call: u64, ret: u64) -> Op<RegisterInput, RegisterOutput> {
    Op::ok(
        client,
        RegisterInput::Write(v),
        RegisterOutput::Written,
        t(call),
        t(ret),
    )
}

fn r(client: u32, v: Option<i64>, call: u64, ret: u64) -> Op<RegisterInput, RegisterOutput> {
    Op::ok(
        client,
        RegisterInput::Read,
        RegisterOutput::Read(v),
        t(call),
        t(ret),
    )
}

fn zero_register() -> RegisterModel {
    RegisterModel { initial: Some(0) }
}

fn verdict<M: testbed_distributed::history::Model>(
    m: &M,
    h: &History<M::Input, M::Output>,
) -> Verdict {
    check(m, h, &CheckOptions::default())
        .expect("valid")
        .verdict
}

// Porcupine's TestRegisterModel examples (from MIT 6.824's 2017 quiz 2, section VII).
#[test]
fn porcupine_register_example_linearizable() {
    let h = History::new(vec![
        w(0, 100, 0, 100),
        r(1, Some(100), 25, 75),
        r(2, Some(0), 30, 60),
    ]);
    assert_eq!(verdict(&zero_register(), &h), Verdict::Linearizable);
}

#[test]
fn porcupine_register_example_not_linearizable() {
    let h = History::new(vec![
        w(0, 200, 0, 100),
        r(1, Some(200), 10, 30),
        r(2, Some(0), 40, 90),
    ]);
    let v = verdict(&zero_register(), &h);
    let cx = v.counterexample().expect("not linearizable");
    // Whatever order the search tried, the read of 0 after the read of 200 cannot be placed.
    assert!(cx.prefix.len() < 3, "{cx}");
    assert!(cx.to_string().contains("cannot place"), "{cx}");
}

#[test]
fn intervals_are_closed_touching_operations_are_concurrent() {
    // The write returns at 20, the read of the old value starts at 20: concurrent, so legal.
    let h = History::new(vec![w(0, 1, 10, 20), r(1, Some(0), 20, 30)]);
    assert_eq!(verdict(&zero_register(), &h), Verdict::Linearizable);
    // One nanosecond later it is a stale read.
    let h = History::new(vec![w(0, 1, 10, 20), r(1, Some(0), 21, 30)]);
    assert!(verdict(&zero_register(), &h).counterexample().is_some());
}

#[test]
fn indeterminate_write_may_or_may_not_have_happened() {
    let model = RegisterModel::default();
    let lost = Op::indeterminate(0, RegisterInput::Write(7), t(0));
    // Seen by a later read: it happened.
    let h = History::new(vec![lost.clone(), r(1, Some(7), 50, 60)]);
    assert_eq!(verdict(&model, &h), Verdict::Linearizable);
    // Not seen by a later read: it did not happen (yet) — also fine.
    let h = History::new(vec![lost.clone(), r(1, None, 50, 60)]);
    assert_eq!(verdict(&model, &h), Verdict::Linearizable);
    // Seen, then unseen: once applied it cannot be undone.
    let h = History::new(vec![lost, r(1, Some(7), 50, 60), r(1, None, 70, 80)]);
    assert!(verdict(&model, &h).counterexample().is_some());
}

#[test]
fn cas_model() {
    let model = RegisterModel::default();
    let cas = |expect, new, ok, call, ret| {
        Op::ok(
            0,
            RegisterInput::Cas { expect, new },
            RegisterOutput::Cas(ok),
            t(call),
            t(ret),
        )
    };
    let h = History::new(vec![
        w(1, 1, 0, 10),
        cas(1, 2, true, 20, 30),
        r(2, Some(2), 40, 50),
    ]);
    assert_eq!(verdict(&model, &h), Verdict::Linearizable);
    let h = History::new(vec![w(1, 1, 0, 10), cas(1, 2, false, 20, 30)]);
    assert!(verdict(&model, &h).counterexample().is_some());
}

#[test]
fn queue_model() {
    let enq = |v, call, ret| {
        Op::ok(
            0,
            QueueInput::Enqueue(v),
            QueueOutput::Enqueued,
            t(call),
            t(ret),
        )
    };
    let deq = |v, call, ret| {
        Op::ok(
            1,
            QueueInput::Dequeue,
            QueueOutput::Dequeued(v),
            t(call),
            t(ret),
        )
    };
    // Concurrent enqueues may land in either order.
    let h = History::new(vec![
        enq(1, 0, 10),
        enq(2, 5, 15),
        deq(Some(2), 20, 30),
        deq(Some(1), 40, 50),
    ]);
    assert_eq!(verdict(&QueueModel, &h), Verdict::Linearizable);
    // Sequential enqueues must come out in order.
    let h = History::new(vec![enq(1, 0, 10), enq(2, 20, 30), deq(Some(2), 40, 50)]);
    assert!(verdict(&QueueModel, &h).counterexample().is_some());
    // Empty dequeue after an enqueue completed is wrong.
    let h = History::new(vec![enq(1, 0, 10), deq(None, 20, 30)]);
    assert!(verdict(&QueueModel, &h).counterexample().is_some());
}

fn kv(
    client: u32,
    key: &str,
    op: KvOp,
    out: KvOutput,
    call: u64,
    ret: u64,
) -> Op<KvInput, KvOutput> {
    Op::ok(
        client,
        KvInput {
            key: key.into(),
            op,
        },
        out,
        t(call),
        t(ret),
    )
}

#[test]
fn kv_partitions_by_key_and_reports_the_failing_key() {
    let h = History::new(vec![
        kv(0, "a", KvOp::Put("1".into()), KvOutput::Done, 0, 10),
        kv(1, "b", KvOp::Put("2".into()), KvOutput::Done, 0, 10),
        kv(0, "a", KvOp::Get, KvOutput::Value("1".into()), 20, 30),
        kv(1, "b", KvOp::Get, KvOutput::Value("".into()), 20, 30),
    ]);
    let report = check(&KvModel, &h, &CheckOptions::default()).expect("valid");
    assert_eq!(report.partitions, 2);
    let cx = report
        .verdict
        .counterexample()
        .expect("stale read of b")
        .clone();
    assert_eq!(cx.partition, "\"b\"");
    assert_eq!(cx.stuck, 3);
    assert_eq!(cx.prefix, vec![1]);
    assert_eq!(cx.state_after_prefix, "\"2\"");
    // The whole-store model agrees.
    assert!(verdict(&KvStoreModel, &h).counterexample().is_some());

    let svg = counterexample_svg(&KvModel, &h, &cx, 100);
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("#f8b4b4"), "the failing op is highlighted");
    assert!(
        svg.contains("get(&quot;b&quot;) -&gt; &quot;&quot;"),
        "{svg}"
    );
    assert!(
        !svg.contains("\"a\""),
        "only the failing partition is drawn"
    );
}

#[test]
fn budget_and_cancel_give_unknown() {
    let h = kv_history(
        3,
        &KvSpec {
            ops: 400,
            clients: 20,
            keys: 1,
            ..KvSpec::default()
        },
    );
    let opts = CheckOptions {
        max_steps: 10,
        ..CheckOptions::default()
    };
    let report = check(&KvModel, &h, &opts).expect("valid");
    assert_eq!(report.verdict, Verdict::Unknown(UnknownReason::StepBudget));
    assert_eq!(report.steps, 10);
    let opts = CheckOptions {
        max_memo_bytes: 1_000,
        ..CheckOptions::default()
    };
    let report = check(&KvModel, &h, &opts).expect("valid");
    assert_eq!(
        report.verdict,
        Verdict::Unknown(UnknownReason::MemoryBudget)
    );
    let cancel = AtomicBool::new(true);
    let opts = CheckOptions {
        cancel: Some(&cancel),
        ..CheckOptions::default()
    };
    let report = check(&KvModel, &h, &opts).expect("valid");
    assert_eq!(report.verdict, Verdict::Unknown(UnknownReason::Cancelled));
}

#[test]
fn invalid_history_is_a_typed_error() {
    let h = History::new(vec![w(0, 1, 10, 5)]);
    assert_eq!(
        check(&zero_register(), &h, &CheckOptions::default()),
        Err(CheckError::ReturnBeforeCall { index: 0 })
    );
}

#[test]
fn recorder_builds_the_history() {
    let rec: Recorder<RegisterInput, RegisterOutput> = Recorder::new(3);
    let other = rec.clone();
    let a = rec.invoke(0, RegisterInput::Write(1), t(0)).expect("room");
    let b = other
        .invoke(1, RegisterInput::Write(2), t(1))
        .expect("room");
    let c = rec.invoke(2, RegisterInput::Read, t(2)).expect("room");
    assert_eq!(
        rec.invoke(3, RegisterInput::Read, t(3)),
        Err(RecordError::Full { limit: 3 })
    );
    rec.ok(a, RegisterOutput::Written, t(5)).expect("pending");
    assert_eq!(
        rec.ok(a, RegisterOutput::Written, t(6)),
        Err(RecordError::AlreadyCompleted(a))
    );
    other.fail(b).expect("pending");
    assert!(matches!(
        rec.ok(c, RegisterOutput::Read(Some(1)), t(1)),
        Err(RecordError::ReturnBeforeCall { .. })
    ));
    assert_eq!(
        rec.indeterminate(testbed_distributed::history::OpId(9)),
        Err(RecordError::UnknownOp(testbed_distributed::history::OpId(
            9
        )))
    );
    // c never completed: indeterminate. b failed: dropped.
    let h = rec.history();
    assert_eq!(h.len(), 2);
    assert_eq!(h.ops[0], w(0, 1, 0, 5));
    assert_eq!(h.ops[1], Op::indeterminate(2, RegisterInput::Read, t(2)));
    assert_eq!(
        verdict(&RegisterModel::default(), &h),
        Verdict::Linearizable
    );
}

#[test]
fn generated_history_is_deterministic_linearizable_and_breakable() {
    let spec = KvSpec {
        ops: 2_000,
        ..KvSpec::default()
    };
    let a = kv_history(42, &spec);
    assert_eq!(a, kv_history(42, &spec));
    assert_ne!(a, kv_history(43, &spec));
    assert!(
        a.ops.iter().any(|o| o.output.is_none()),
        "some indeterminate ops"
    );
    assert_eq!(verdict(&KvModel, &a), Verdict::Linearizable);
    let mut bad = a.clone();
    let g = plant_stale_read(&mut bad).expect("a place for a stale read");
    let first = verdict(&KvModel, &bad);
    let cx = first.counterexample().expect("stale read caught");
    assert_eq!(cx.partition, format!("{:?}", bad.ops[g].input.key));
    assert_eq!(
        first,
        verdict(&KvModel, &bad),
        "same counterexample every time"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sequential_runs_with_random_overlaps_are_linearizable(
        seed in any::<u64>(),
        clients in 1u32..8,
        ops in 1usize..120,
        keys in 1u32..4,
        latency in 1u64..50,
        think in 0u64..50,
        indeterminate in 0u64..100,
    ) {
        let spec = KvSpec { clients, ops, keys, max_latency_us: latency, max_think_us: think,
            indeterminate_per_mille: indeterminate };
        let h = kv_history(seed, &spec);
        prop_assert_eq!(verdict(&KvModel, &h), Verdict::Linearizable);
        prop_assert_eq!(verdict(&KvStoreModel, &h), Verdict::Linearizable);
    }

    #[test]
    fn a_planted_stale_read_is_caught(
        seed in any::<u64>(),
        clients in 1u32..6,
        ops in 20usize..120,
        keys in 1u32..3,
    ) {
        let spec = KvSpec { clients, ops, keys, max_latency_us: 20, max_think_us: 20,
            indeterminate_per_mille: 0 };
        let mut h = kv_history(seed, &spec);
        let planted = plant_stale_read(&mut h);
        prop_assume!(planted.is_some());
        let v = verdict(&KvModel, &h);
        prop_assert!(v.counterexample().is_some(), "planted stale read at op {:?} not caught", planted);
        prop_assert!(verdict(&KvStoreModel, &h).counterexample().is_some());
    }
}
