//! Linearizability checker benchmark, driven by `scripts/bench-linearizability`.
//!
//! `gen --seed S --out FILE [--stale-read]` writes the generated 50-client, 10,000-operation
//! KV history (history::generate) in the shared JSON-lines format; `check --model
//! register|kv|kv-store [--runs N] [--timeout-s S] FILE...` checks each file repeatedly and prints one JSON
//! line per file: verdict and median wall time of `history::check` (parsing excluded).
//!
//! The JSON-lines format, one operation per line: `client`, `call`, `ret` (null: never
//! returned, +∞), `f` (read/write/cas or get/put/append), `key`, `value`, `to` (cas),
//! `out` (read value, null = nil; cas result; get value), `unknown` (true: output not seen).
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant as Wall};

use serde_json::{json, Value};
use testbed_distributed::history::generate::{kv_history, plant_stale_read, KvSpec};
use testbed_distributed::history::models::{
    KvInput, KvModel, KvOp, KvOutput, KvStoreModel, RegisterInput, RegisterModel, RegisterOutput,
};
use testbed_distributed::history::{check, CheckOptions, History, Model, Op, Verdict};
use testbed_model::Instant;

fn fail(msg: String) -> ! {
    eprintln!("linearizability bench: {msg}");
    std::process::exit(2)
}

fn times(v: &Value) -> (u32, Instant, Instant) {
    let client = v["client"].as_u64().unwrap_or(0) as u32;
    let call = Instant::from_nanos(v["call"].as_u64().unwrap_or(0));
    let ret = v["ret"].as_u64().map_or(Instant::MAX, Instant::from_nanos);
    (client, call, ret)
}

fn lines(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| fail(format!("{path}: {e}")));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| fail(format!("{path}: {e}: {l}"))))
        .collect()
}

fn register_history(path: &str) -> History<RegisterInput, RegisterOutput> {
    let ops = lines(path)
        .iter()
        .map(|v| {
            let (client, call, ret) = times(v);
            let unknown = v["unknown"].as_bool().unwrap_or(false);
            let (input, output) = match v["f"].as_str() {
                Some("read") => (RegisterInput::Read, RegisterOutput::Read(v["out"].as_i64())),
                Some("write") => (
                    RegisterInput::Write(v["value"].as_i64().unwrap_or(0)),
                    RegisterOutput::Written,
                ),
                Some("cas") => (
                    RegisterInput::Cas {
                        expect: v["value"].as_i64().unwrap_or(0),
                        new: v["to"].as_i64().unwrap_or(0),
                    },
                    RegisterOutput::Cas(v["out"].as_bool().unwrap_or(false)),
                ),
                other => fail(format!("{path}: unknown register op {other:?}")),
            };
            Op {
                client,
                input,
                output: (!unknown).then_some(output),
                call,
                ret,
            }
        })
        .collect();
    History::new(ops)
}

fn kv_file(path: &str) -> History<KvInput, KvOutput> {
    let ops = lines(path)
        .iter()
        .map(|v| {
            let (client, call, ret) = times(v);
            let unknown = v["unknown"].as_bool().unwrap_or(false);
            let key = v["key"].as_str().unwrap_or("").to_string();
            let value = v["value"].as_str().unwrap_or("").to_string();
            let (op, output) = match v["f"].as_str() {
                Some("get") => (
                    KvOp::Get,
                    KvOutput::Value(v["out"].as_str().unwrap_or("").to_string()),
                ),
                Some("put") => (KvOp::Put(value), KvOutput::Done),
                Some("append") => (KvOp::Append(value), KvOutput::Done),
                other => fail(format!("{path}: unknown kv op {other:?}")),
            };
            Op {
                client,
                input: KvInput { key, op },
                output: (!unknown).then_some(output),
                call,
                ret,
            }
        })
        .collect();
    History::new(ops)
}

fn kv_line(op: &Op<KvInput, KvOutput>) -> Value {
    let (f, value) = match &op.input.op {
        KvOp::Get => ("get", Value::Null),
        KvOp::Put(v) => ("put", json!(v)),
        KvOp::Append(v) => ("append", json!(v)),
    };
    let out = match &op.output {
        Some(KvOutput::Value(v)) => json!(v),
        _ => Value::Null,
    };
    let ret = (op.ret != Instant::MAX).then_some(op.ret.as_nanos());
    json!({"client": op.client, "call": op.call.as_nanos(), "ret": ret, "f": f,
           "key": op.input.key, "value": value, "out": out, "unknown": op.output.is_none()})
}

/// Median wall nanoseconds of checking `h` (up to `runs` runs; at least 3 unless 5 s were
/// spent; no more once 2 s were spent) and the verdict.
fn measure<M: Model>(
    model: &M,
    h: &History<M::Input, M::Output>,
    runs: usize,
    timeout: Option<Duration>,
) -> (String, u64) {
    let mut ns = Vec::new();
    let mut verdict = String::new();
    let started = Wall::now();
    for i in 0..runs.max(1) {
        // A wall-clock deadline through the cancel flag, set by a timer thread.
        let cancel = AtomicBool::new(false);
        let (done, wait) = mpsc::channel::<()>();
        let (report, took) = std::thread::scope(|s| {
            if let Some(limit) = timeout {
                let cancel = &cancel;
                s.spawn(move || {
                    if wait.recv_timeout(limit).is_err() {
                        cancel.store(true, Ordering::Relaxed);
                    }
                });
            }
            let opts = CheckOptions {
                cancel: Some(&cancel),
                ..CheckOptions::default()
            };
            // Timed from after the timer thread's spawn to the verdict: neither the spawn
            // nor the timer's wake-up and join (milliseconds on a loaded machine) count.
            let t = Wall::now();
            let r = check(model, h, &opts);
            let took = t.elapsed();
            let _ = done.send(());
            (r, took)
        });
        let report = report.unwrap_or_else(|e| fail(e.to_string()));
        ns.push(took.as_nanos() as u64);
        verdict = match report.verdict {
            Verdict::Linearizable => "ok".to_string(),
            Verdict::NotLinearizable(_) => "illegal".to_string(),
            _ => "unknown".to_string(),
        };
        let spent = started.elapsed().as_secs_f64();
        if (i >= 2 && spent > 2.0) || spent > 5.0 {
            break;
        }
    }
    ns.sort_unstable();
    (verdict, ns[ns.len() / 2])
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    match args.first().map(String::as_str) {
        Some("gen") => {
            let seed: u64 = flag("--seed").and_then(|s| s.parse().ok()).unwrap_or(1);
            let out = flag("--out").unwrap_or_else(|| fail("gen needs --out FILE".into()));
            let mut h = kv_history(seed, &KvSpec::default());
            if args.iter().any(|a| a == "--stale-read") && plant_stale_read(&mut h).is_none() {
                fail("no place for a stale read".into());
            }
            let text: String = h.ops.iter().map(|o| format!("{}\n", kv_line(o))).collect();
            std::fs::write(&out, text).unwrap_or_else(|e| fail(format!("{out}: {e}")));
        }
        Some("check") => {
            let model = flag("--model").unwrap_or_else(|| fail("check needs --model".into()));
            let runs: usize = flag("--runs").and_then(|s| s.parse().ok()).unwrap_or(15);
            let timeout = flag("--timeout-s")
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|&s| s > 0.0)
                .map(Duration::from_secs_f64);
            let mut skip = false;
            for a in &args[1..] {
                if skip {
                    skip = false;
                    continue;
                }
                if a.starts_with("--") {
                    skip = true;
                    continue;
                }
                let (verdict, ns) = match model.as_str() {
                    "register" => measure(
                        &RegisterModel::default(),
                        &register_history(a),
                        runs,
                        timeout,
                    ),
                    "kv" => measure(&KvModel, &kv_file(a), runs, timeout),
                    "kv-store" => measure(&KvStoreModel, &kv_file(a), runs, timeout),
                    m => fail(format!("unknown model {m}")),
                };
                println!("{}", json!({"file": a, "verdict": verdict, "ns": ns}));
            }
        }
        _ => fail(
            "usage: gen --seed S --out FILE [--stale-read] | check --model M [--runs N] FILE..."
                .into(),
        ),
    }
}
