//! Deterministic test histories: clients issue operations back to back against a correct
//! store, each operation taking effect at a random instant inside its interval, so the
//! history is linearizable by construction. [`plant_stale_read`] then breaks it.

use std::collections::BTreeMap;

use testbed_model::rng::{Rng, SeededRng};
use testbed_model::Instant;

use super::models::{KvInput, KvOp, KvOutput};
use super::op::{History, Op};

/// The shape of a generated key-value history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvSpec {
    /// Concurrent clients.
    pub clients: u32,
    /// Total operations.
    pub ops: usize,
    /// Distinct keys.
    pub keys: u32,
    /// Longest operation latency, in microseconds (at least 1).
    pub max_latency_us: u64,
    /// Longest pause between a client's operations, in microseconds.
    pub max_think_us: u64,
    /// Per mille of operations left indeterminate (the client times out; the effect is
    /// applied or not at random).
    pub indeterminate_per_mille: u64,
}

impl Default for KvSpec {
    /// The benchmark's history: 50 clients, 10,000 operations, 8 keys.
    fn default() -> Self {
        KvSpec {
            clients: 50,
            ops: 10_000,
            keys: 8,
            max_latency_us: 2_000,
            max_think_us: 500,
            indeterminate_per_mille: 5,
        }
    }
}

/// A linearizable key-value history (get/put/append), the same for the same `seed`.
/// Put values never contain `;` and appended values end with it, so a put's value is
/// unique in the history.
pub fn kv_history(seed: u64, spec: &KvSpec) -> History<KvInput, KvOutput> {
    let mut rng = SeededRng::new(seed);
    let clients = spec.clients.max(1) as usize;
    let mut free = vec![0u64; clients];
    // (effect instant or None when the operation never took effect, op)
    let mut planned: Vec<(Option<u64>, Op<KvInput, KvOutput>)> = Vec::with_capacity(spec.ops);
    for n in 0..spec.ops {
        let c = (0..clients).min_by_key(|&c| (free[c], c)).unwrap_or(0);
        let call = free[c] + rng.below(spec.max_think_us.max(1) * 1_000);
        let latency = 1 + rng.below(spec.max_latency_us.max(1) * 1_000);
        let ret = call + latency;
        free[c] = ret;
        let key = format!("k{}", rng.below(u64::from(spec.keys.max(1))));
        let op = match rng.below(10) {
            0..=4 => KvOp::Get,
            5..=7 => KvOp::Put(format!("p{n}")),
            _ => KvOp::Append(format!("a{n};")),
        };
        let input = KvInput { key, op };
        let indeterminate = rng.below(1000) < spec.indeterminate_per_mille;
        let at = call + rng.below(latency + 1);
        if indeterminate {
            let applied = rng.below(2) == 0;
            let op = Op::indeterminate(c as u32, input, Instant::from_nanos(call));
            planned.push((applied.then_some(at), op));
        } else {
            let op = Op::ok(
                c as u32,
                input,
                KvOutput::Done,
                Instant::from_nanos(call),
                Instant::from_nanos(ret),
            );
            planned.push((Some(at), op));
        }
    }
    // Apply in effect order; fill in what gets returned.
    let mut order: Vec<usize> = (0..planned.len())
        .filter(|&i| planned[i].0.is_some())
        .collect();
    order.sort_by_key(|&i| (planned[i].0, i));
    let mut store: BTreeMap<String, String> = BTreeMap::new();
    for i in order {
        let op = &mut planned[i].1;
        let key = op.input.key.clone();
        match &op.input.op {
            KvOp::Get => {
                let v = store.get(&key).cloned().unwrap_or_default();
                if op.output.is_some() {
                    op.output = Some(KvOutput::Value(v));
                }
            }
            KvOp::Put(v) => {
                store.insert(key, v.clone());
            }
            KvOp::Append(v) => store.entry(key).or_default().push_str(v),
        }
    }
    History::new(planned.into_iter().map(|(_, op)| op).collect())
}

/// Plants a stale read: finds a completed get that started after a completed write `w2`,
/// itself started after a completed put `w1` of the same key, and makes the get return
/// `w1`'s value — which no linearization allows. Returns the get's index, or `None` if the
/// history has no such triple.
pub fn plant_stale_read(history: &mut History<KvInput, KvOutput>) -> Option<usize> {
    let ops = &history.ops;
    let done = |i: usize| ops[i].output.is_some();
    for (g, get) in ops.iter().enumerate() {
        if get.input.op != KvOp::Get || !done(g) {
            continue;
        }
        let writes =
            |i: usize| done(i) && ops[i].input.key == get.input.key && ops[i].input.op != KvOp::Get;
        let Some(w2) = (0..ops.len())
            .filter(|&i| writes(i) && ops[i].ret < get.call)
            .max_by_key(|&i| (ops[i].ret, i))
        else {
            continue;
        };
        let w1 = (0..ops.len()).find(|&i| {
            writes(i) && matches!(ops[i].input.op, KvOp::Put(_)) && ops[i].ret < ops[w2].call
        });
        if let Some(w1) = w1 {
            let KvOp::Put(stale) = ops[w1].input.op.clone() else {
                continue;
            };
            history.ops[g].output = Some(KvOutput::Value(stale));
            return Some(g);
        }
    }
    None
}
