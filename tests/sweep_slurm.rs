//! A sweep sharded over a Slurm job array gives, once `testbed merge`d, the same result for every
//! seed as one local `testbed sweep` of the same range. Needs a Slurm cluster that takes jobs
//! (scripts/lib/slurm-up.sh installs and starts a single-node one; scripts/test runs it): skips
//! without one, saying why, and fails instead under TESTBED_REQUIRE_ALL=1. The batch script is the
//! one docs/cluster-sweeps.md shows.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const SCENARIO: &str = "partition-heal";
const SEEDS: (u64, u64) = (0, 120);
const SHARDS: u64 = 4;
/// Upper bound on the whole array (queueing included); the jobs take seconds.
const DEADLINE: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(200);

/// The batch script of docs/cluster-sweeps.md, with this build's binary and a results directory.
fn batch_script(tb: &str, results: &Path) -> String {
    let (a, b) = SEEDS;
    format!(
        r#"#!/bin/sh
#SBATCH --cpus-per-task=1
#SBATCH --time=10
# Exit 1 means some seeds failed: they are in the shard's file, which is what we want.
{tb} sweep {SCENARIO} --seeds {a}..{b} --jobs "$SLURM_CPUS_PER_TASK" \
  --shard "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT" \
  --json "{dir}/shard-$SLURM_ARRAY_TASK_ID.json" || [ $? = 1 ]
"#,
        dir = results.display()
    )
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The node states `sinfo` reports, or why there is no cluster to use.
fn cluster_takes_jobs() -> Result<String, String> {
    let o = run(Command::new("sinfo").args(["-h", "-o", "%P %T %c"]));
    let states = text(&o);
    if !o.status.success() {
        return Err(format!(
            "sinfo fails (no Slurm controller answers; scripts/lib/slurm-up.sh starts one): {}",
            states.trim()
        ));
    }
    let usable = states.lines().any(|l| {
        ["idle", "mixed", "allocated", "completing"]
            .iter()
            .any(|s| l.split_whitespace().nth(1) == Some(*s))
    });
    if usable {
        Ok(states)
    } else {
        Err(format!(
            "no Slurm node takes jobs (scripts/lib/slurm-up.sh): sinfo says {:?}",
            states.trim()
        ))
    }
}

/// What the cluster looked like: for a failure message.
fn diagnostics(dir: &Path) -> String {
    let mut s = String::new();
    for args in [&["squeue", "-a", "-l"][..], &["sinfo", "-N", "-l"]] {
        let o = run(Command::new(args[0]).args(&args[1..]));
        s += &format!("$ {}\n{}\n", args.join(" "), text(&o));
    }
    // The controller's log, where slurm.conf says it is (readable as root).
    let conf = run(Command::new("scontrol").args(["show", "config"]));
    let log = String::from_utf8_lossy(&conf.stdout)
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == "SlurmctldLogFile").then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| "/var/log/slurm/slurmctld.log".into());
    let o = run(Command::new("tail").args(["-n", "30", &log]));
    s += &format!("$ tail -n 30 {log}\n{}\n", text(&o));
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut outs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "out"))
            .collect();
        outs.sort();
        for p in outs {
            let body = std::fs::read_to_string(&p).unwrap_or_default();
            s += &format!("--- {}\n{body}\n", p.display());
        }
    }
    s
}

/// `sbatch --wait` of the array, bounded by [`DEADLINE`]: on timeout the job is cancelled and
/// the test fails with the queue, the nodes and the controller's log.
fn submit_and_wait(script: &Path, dir: &Path, job_name: &str) -> Output {
    let mut child = Command::new("sbatch")
        .arg("--wait")
        .arg(format!("--array=0-{}", SHARDS - 1))
        .arg(format!("--job-name={job_name}"))
        .arg(format!("--chdir={}", dir.display()))
        .arg(format!("--output={}/slurm-%A_%a.out", dir.display()))
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sbatch");
    let mut waited = Duration::ZERO;
    while child.try_wait().expect("wait for sbatch").is_none() {
        if waited >= DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            let _ = run(Command::new("scancel").arg(format!("--name={job_name}")));
            panic!(
                "the job array {job_name} did not finish within {} s (cancelled)\n{}",
                DEADLINE.as_secs(),
                diagnostics(dir)
            );
        }
        std::thread::sleep(POLL);
        waited += POLL;
    }
    child.wait_with_output().expect("sbatch output")
}

fn read_json(p: &Path) -> Value {
    let t = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
    serde_json::from_str(&t).unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()))
}

fn results(f: &Value) -> &Vec<Value> {
    f["results"].as_array().expect("a results array")
}

#[test]
fn sweep_on_slurm_matches_local_sweep() {
    if !testbed_testkit::tool(
        "sbatch",
        "Slurm is not installed (scripts/lib/slurm-up.sh installs and starts a single-node cluster)",
    ) {
        return;
    }
    if testbed_testkit::require(cluster_takes_jobs()).is_none() {
        return;
    }
    let tb = env!("CARGO_BIN_EXE_testbed");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sweep-slurm");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the results directory");
    let script = dir.join("sweep.sbatch");
    std::fs::write(&script, batch_script(tb, &dir)).expect("write the batch script");

    let job_name = format!("testbed-sweep-test-{}", std::process::id());
    let sb = submit_and_wait(&script, &dir, &job_name);
    assert!(
        sb.status.success(),
        "sbatch --wait failed ({}): {}\n{}",
        sb.status,
        text(&sb),
        diagnostics(&dir)
    );

    // Each array task ran its own shard: the file it wrote names shard i of SHARDS.
    let shard_files: Vec<PathBuf> = (0..SHARDS)
        .map(|i| dir.join(format!("shard-{i}.json")))
        .collect();
    let (a, b) = SEEDS;
    for (i, p) in shard_files.iter().enumerate() {
        assert!(p.is_file(), "no {}\n{}", p.display(), diagnostics(&dir));
        let f = read_json(p);
        assert_eq!(
            f["shards"],
            serde_json::json!([{"index": i, "count": SHARDS}]),
            "{}",
            p.display()
        );
        assert_eq!(
            results(&f).len() as u64,
            (b - a) / SHARDS,
            "{}",
            p.display()
        );
    }

    let merged_path = dir.join("merged.json");
    let m = run(Command::new(tb)
        .arg("merge")
        .args(&shard_files)
        .arg("--json")
        .arg(&merged_path));
    assert!(
        m.status.success(),
        "testbed merge failed ({}): {}",
        m.status,
        text(&m)
    );
    let local_path = dir.join("local.json");
    let l = run(Command::new(tb)
        .args(["sweep", SCENARIO, "--seeds", &format!("{a}..{b}"), "--json"])
        .arg(&local_path));
    assert!(
        l.status.success(),
        "local sweep failed ({}): {}",
        l.status,
        text(&l)
    );

    let merged = read_json(&merged_path);
    let local = read_json(&local_path);
    for key in ["kind", "scenario", "backend", "params", "seeds"] {
        assert_eq!(merged[key], local[key], "{key}");
    }
    assert_eq!(merged["summary"]["missing"], 0, "every seed has a result");
    let (mr, lr) = (results(&merged), results(&local));
    assert_eq!(lr.len() as u64, b - a, "the local sweep ran every seed");
    assert_eq!(
        mr.len(),
        lr.len(),
        "merged and local sweeps cover the same seeds"
    );
    for (m, l) in mr.iter().zip(lr) {
        assert_eq!(
            m, l,
            "seed {}: Slurm shard and local sweep differ",
            l["seed"]
        );
    }
    // Not a vacuous match: every seed ran to a trace hash, and the seeds differ from each other.
    let hashes: std::collections::BTreeSet<&str> =
        lr.iter().filter_map(|r| r["trace_hash"].as_str()).collect();
    assert!(
        hashes.len() as u64 > (b - a) / 2,
        "too few distinct trace hashes: {}",
        hashes.len()
    );
    assert!(
        lr.iter().all(|r| r["trace_hash"].is_string()),
        "a seed without a trace hash"
    );
    println!(
        "{} seeds of {SCENARIO} in {SHARDS} Slurm array tasks, merged: identical to the local sweep",
        b - a
    );
    let _ = std::fs::remove_dir_all(&dir);
}
