//! `testbed`: run scenarios on the simulator or real backends, list them, check determinism.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use testbed_scenarios::determinism::{check_seed, SeedVerdict};
use testbed_scenarios::{catalogue, find, prepare, replay_command, Backend, RunCtx};
use testbed_sim::Fidelity;

mod fidelity_cmd;
mod report_cmd;
mod serve_cmd;
mod shrink_cmd;
mod sweep_cmd;
mod xdp_cmd;

#[derive(Parser)]
#[command(
    name = "testbed",
    version,
    about = "Deterministic network testbed: seeded simulation with fault injection, and the same code on real I/O backends"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// List scenarios with their parameters.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run one scenario once.
    Run {
        /// Scenario name (see `testbed list`).
        scenario: String,
        /// sim (default), kernel, uring, xdp (root, clang), dpdk (built with --features dpdk).
        #[arg(long, default_value = "sim")]
        backend: String,
        /// Root seed of the run.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Parameter override, repeatable: --set clients=100
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Write the simulator's trace as JSON lines to FILE.
        #[arg(long, value_name = "FILE")]
        trace: Option<std::path::PathBuf>,
        /// Print exactly one JSON object on stdout.
        #[arg(long)]
        json: bool,
        /// Simulator: stream (reliable byte streams, fast) or packet (smoltcp TCP per host
        /// over packet links). Scenarios about packets (floods) always use packet.
        #[arg(long, default_value = "stream")]
        fidelity: String,
        /// Simulator: write one pcap per host into DIR (implies --fidelity packet).
        #[arg(long, value_name = "DIR")]
        pcap: Option<std::path::PathBuf>,
        /// --backend dpdk: DPDK EAL arguments (default: --no-huge --no-pci --no-shconf
        /// --no-telemetry -m 512). On lab hardware e.g. "-l 2-3 -a 0000:01:00.0".
        #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
        dpdk_args: Option<String>,
        /// --backend dpdk: the port the server uses (PCI address or --vdev name). Default:
        /// net_af_packet on a veth pair the run creates.
        #[arg(long, value_name = "PORT", requires = "dpdk_peer")]
        dpdk_port: Option<String>,
        /// --backend dpdk with --dpdk-port: the kernel interface wired to that port; the run
        /// moves it into its namespace and runs the clients there.
        #[arg(long, value_name = "IFACE", requires = "dpdk_port")]
        dpdk_peer: Option<String>,
        /// --backend dpdk: apply the scenario's link parameters (latency, jitter, loss,
        /// bandwidth) to the real frames through an impairment bridge (the simulator's link
        /// model; this kernel has no netem).
        #[arg(long)]
        impair: bool,
        /// Replay this fault schedule (JSON: a schedule, or a `run --json` result) instead of
        /// the faults drawn from the seed.
        #[arg(long, value_name = "FILE")]
        schedule: Option<std::path::PathBuf>,
    },
    /// Run a scenario for a range of seeds across threads and summarise (see docs/sweeps.md).
    Sweep(sweep_cmd::SweepArgs),
    /// Combine `sweep --json` results files (shards) into one summary.
    Merge(sweep_cmd::MergeArgs),
    /// Shrink a failing seed's fault schedule to a minimal one that still fails.
    Shrink(shrink_cmd::ShrinkArgs),
    /// Run a protocol server on its own for real clients (curl, wrk, browsers, Autobahn).
    Serve(serve_cmd::ServeArgs),
    /// Write a test CA and a leaf certificate (CA:FALSE, the names as SANs, Ed25519) as PEM:
    /// DIR/ca.pem, DIR/cert.pem, DIR/key.pem. For tests only.
    Cert {
        /// Output directory.
        dir: std::path::PathBuf,
        /// DNS names or IP addresses for the leaf, repeatable.
        #[arg(long = "name", default_values_t = ["localhost".to_string(), "127.0.0.1".to_string()])]
        names: Vec<String>,
        /// Seed for the keys (default: from the OS; a fixed seed gives the same PKI every time).
        #[arg(long)]
        seed: Option<u64>,
        /// ECDSA P-256 keys instead of Ed25519 (for clients without Ed25519, such as
        /// BoringSSL-based curl_cffi); always from the OS generator.
        #[arg(long)]
        ecdsa: bool,
    },
    /// The XDP filter on a real interface (needs root): attach, block, stats, detach.
    Xdp {
        #[command(subcommand)]
        cmd: xdp_cmd::XdpCmd,
    },
    /// Measure the claims of the guide 网络编程进阶主题 that run here, read bench results, and
    /// write a page with plots (index.html), a markdown summary and report.json.
    Report(report_cmd::ReportArgs),
    /// Run the fidelity suite: the same small workloads on real Linux TCP/UDP (root) and on
    /// the simulator in stream and packet fidelity, side by side. Exit 1 when the simulator
    /// is kinder than Linux on a row.
    Fidelity(fidelity_cmd::FidelityArgs),
    /// Run a scenario twice per seed and compare the traces event by event.
    CheckDeterminism {
        /// Scenario name.
        scenario: String,
        /// Seed range: A..B (end excluded) or A..=B.
        #[arg(long, default_value = "0..20")]
        seeds: String,
        /// Parameter override, repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
        /// stream or packet (see `run --fidelity`).
        #[arg(long, default_value = "stream")]
        fidelity: String,
    },
}

/// Wall-clock stopwatch handed to scenarios (they never read clocks themselves).
#[allow(clippy::disallowed_methods)] // the CLI measures wall time for RT/s-in-wall-time metrics
fn stopwatch() -> impl Fn() -> testbed_model::Duration {
    let t0 = std::time::Instant::now();
    move || t0.elapsed()
}

fn usage(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("testbed: {e}");
    ExitCode::from(2)
}

fn list(json: bool) -> ExitCode {
    if json {
        let v: Vec<_> = catalogue()
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name(),
                    "summary": s.summary(),
                    "backends": s.backends().iter().map(|b| b.name()).collect::<Vec<_>>(),
                    "params": s.params().iter().map(|p| serde_json::json!({"name": p.name, "default": p.default, "kind": p.kind.to_string(), "help": p.help})).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return ExitCode::SUCCESS;
    }
    for s in catalogue() {
        let backends: Vec<_> = s.backends().iter().map(|b| b.name()).collect();
        println!(
            "{:<16} {} [backends: {}]",
            s.name(),
            s.summary(),
            backends.join(", ")
        );
        for p in s.params() {
            println!(
                "    {:<18} default {:<8} {} ({})",
                p.name, p.default, p.help, p.kind
            );
        }
    }
    ExitCode::SUCCESS
}

/// The replay command of a DPDK run: built with the feature, with the run's DPDK options.
fn dpdk_replay(replay: &str, d: &testbed_scenarios::DpdkOpts) -> String {
    let mut r = replay.replacen(
        "cargo run --release --",
        "cargo run --release --features dpdk --",
        1,
    );
    let quote = |v: &str| format!("'{}'", v.replace('\'', r"'\''"));
    for (flag, v) in [
        ("--dpdk-args", &d.eal_args),
        ("--dpdk-port", &d.port),
        ("--dpdk-peer", &d.peer),
    ] {
        if let Some(v) = v {
            r += &format!(" {flag} {}", quote(v));
        }
    }
    if d.impair {
        r += " --impair";
    }
    r
}

/// The output and simulator options of `testbed run`.
struct RunOpts {
    trace: Option<std::path::PathBuf>,
    json: bool,
    fidelity: String,
    pcap: Option<std::path::PathBuf>,
    dpdk: testbed_scenarios::DpdkOpts,
    schedule: Option<std::path::PathBuf>,
}

fn run(scenario: &str, backend: &str, seed: u64, sets: &[String], opts: RunOpts) -> ExitCode {
    let RunOpts {
        trace,
        json,
        fidelity,
        pcap,
        dpdk,
        schedule,
    } = opts;
    let fidelity = fidelity.as_str();
    let fidelity = match (parse_fidelity(fidelity), &pcap) {
        (Err(e), _) => return usage(e),
        (Ok(Fidelity::Stream), Some(_)) if fidelity_given_explicitly() => {
            return usage("--pcap needs packet fidelity (frames); drop --fidelity stream")
        }
        (Ok(_), Some(_)) => Fidelity::Packet,
        (Ok(f), None) => f,
    };
    let s = match shrink_cmd::lookup(scenario) {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    let backend: Backend = match backend.parse() {
        Ok(b) => b,
        Err(e) => return usage(e),
    };
    let params = match prepare(s, backend, sets) {
        Ok(p) => p,
        Err(e) => return usage(e),
    };
    if trace.is_some() && backend != Backend::Sim {
        return usage("--trace needs --backend sim (real backends have no event trace)");
    }
    if (pcap.is_some() || fidelity == Fidelity::Packet) && backend != Backend::Sim {
        return usage("--fidelity and --pcap are simulator settings; use --backend sim");
    }
    let wall = stopwatch();
    let mut replay = replay_command(s, backend, seed, &params);
    if fidelity == Fidelity::Packet {
        replay.push_str(" --fidelity packet");
    }
    if backend == Backend::Dpdk {
        replay = dpdk_replay(&replay, &dpdk);
    } else if dpdk != Default::default() {
        return usage("--dpdk-args, --dpdk-port, --dpdk-peer and --impair need --backend dpdk");
    }
    let schedule = match &schedule {
        Some(path) => match shrink_cmd::read_schedule(path) {
            Ok(sch) => {
                replay.push_str(&format!(" --schedule {}", path.display()));
                Some(sch)
            }
            Err(e) => return usage(e),
        },
        None => None,
    };
    let ctx = RunCtx::new(backend, seed, params, &wall)
        .with_trace(trace.is_some())
        .with_replay(replay)
        .with_fidelity(fidelity)
        .with_pcap(pcap)
        .with_dpdk(dpdk);
    let outcome = match schedule
        .as_ref()
        .map_or_else(|| s.run(&ctx), |sch| testbed_scenarios::run_with_schedule(s, &ctx, sch))
    {
        Ok(o) => o,
        Err(e) if e.is_usage() => return usage(e),
        Err(e) => {
            eprintln!("testbed: {e}");
            return ExitCode::from(1);
        }
    };
    if let (Some(path), Some((events, hosts))) = (&trace, &outcome.trace) {
        let written = std::fs::File::create(path)
            .map(std::io::BufWriter::new)
            .and_then(|f| testbed_sim::trace::write_jsonl(events, hosts, f));
        if let Err(e) = written {
            eprintln!("testbed: writing trace to {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    if json {
        println!("{}", outcome.to_json());
    } else {
        print!("{}", outcome.summary());
    }
    if !outcome.passed() {
        eprintln!(
            "testbed: {} failed with seed {seed}; replay: {}",
            outcome.scenario, outcome.replay
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn parse_fidelity(s: &str) -> Result<Fidelity, String> {
    match s {
        "stream" => Ok(Fidelity::Stream),
        "packet" => Ok(Fidelity::Packet),
        other => Err(format!(
            "unknown --fidelity {other:?}; use stream or packet"
        )),
    }
}

/// Whether `--fidelity` appeared on the command line (its default is stream).
fn fidelity_given_explicitly() -> bool {
    std::env::args().any(|a| a == "--fidelity" || a.starts_with("--fidelity="))
}

fn check_determinism(
    scenario: &str,
    seeds: &str,
    sets: &[String],
    json: bool,
    fidelity: &str,
) -> ExitCode {
    let fidelity = match parse_fidelity(fidelity) {
        Ok(f) => f,
        Err(e) => return usage(e),
    };
    let s = match find(scenario) {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    let range = match testbed_scenarios::seeds::parse_seeds(seeds) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    let params = match prepare(s, Backend::Sim, sets) {
        Ok(p) => p,
        Err(e) => return usage(e),
    };
    let mut diverged = Vec::new();
    let mut checked = 0u64;
    for seed in range.clone() {
        let replay = format!(
            "cargo run --release -- check-determinism {} --seeds {seed}..={seed}{}",
            s.name(),
            if fidelity == Fidelity::Packet {
                " --fidelity packet"
            } else {
                ""
            }
        );
        match check_seed(s, &params, seed, fidelity, replay.clone()) {
            Ok(SeedVerdict::Same(_)) => checked += 1,
            Ok(SeedVerdict::Diverged { index, detail }) => {
                checked += 1;
                eprintln!("seed {seed}: diverged at event #{index}: {detail}\n  replay: {replay}");
                diverged.push(serde_json::json!({"seed": seed, "index": index, "detail": detail, "replay": replay}));
            }
            Err(e) if e.is_usage() => return usage(e),
            Err(e) => {
                eprintln!("testbed: seed {seed}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let ok = diverged.is_empty();
    if json {
        println!(
            "{}",
            serde_json::json!({"scenario": s.name(), "seeds": format!("{}..{}", range.start, range.end), "checked": checked, "passed": ok, "diverged": diverged})
        );
    } else {
        println!(
            "check-determinism {} seeds {}..{}: {} checked, {} diverged: {}",
            s.name(),
            range.start,
            range.end,
            checked,
            diverged.len(),
            if ok {
                "DETERMINISTIC"
            } else {
                "NOT DETERMINISTIC"
            }
        );
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn cert(dir: &std::path::Path, names: &[String], seed: Option<u64>, ecdsa: bool) -> ExitCode {
    let seed = match seed.map_or_else(testbed_kernel::os_seed, Ok) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("testbed: reading /dev/urandom: {e}");
            return ExitCode::from(1);
        }
    };
    let alg = if ecdsa {
        testbed_protocols::tls::KeyAlg::EcdsaP256
    } else {
        testbed_protocols::tls::KeyAlg::Ed25519
    };
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let pki = match testbed_protocols::tls::test_pki_with(
        &names,
        alg,
        &mut testbed_model::SeededRng::new(seed),
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("testbed: {e}");
            return ExitCode::from(1);
        }
    };
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("ca.pem"), &pki.ca_pem)?;
        std::fs::write(dir.join("cert.pem"), &pki.leaf_pem)?;
        std::fs::write(dir.join("key.pem"), &pki.key_pem)
    };
    if let Err(e) = write() {
        eprintln!("testbed: writing to {}: {e}", dir.display());
        return ExitCode::from(1);
    }
    println!(
        "wrote {0}/ca.pem, {0}/cert.pem, {0}/key.pem for {1}",
        dir.display(),
        names.join(", ")
    );
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::List { json } => list(json),
        Cmd::Run {
            scenario,
            backend,
            seed,
            sets,
            trace,
            json,
            fidelity,
            pcap,
            dpdk_args,
            dpdk_port,
            dpdk_peer,
            impair,
            schedule,
        } => run(
            &scenario,
            &backend,
            seed,
            &sets,
            RunOpts {
                trace,
                json,
                fidelity,
                pcap,
                dpdk: testbed_scenarios::DpdkOpts {
                    eal_args: dpdk_args,
                    port: dpdk_port,
                    peer: dpdk_peer,
                    impair,
                },
                schedule,
            },
        ),
        Cmd::Sweep(a) => sweep_cmd::sweep(a),
        Cmd::Merge(a) => sweep_cmd::merge_files(a),
        Cmd::Shrink(a) => shrink_cmd::shrink(a),
        Cmd::CheckDeterminism {
            scenario,
            seeds,
            sets,
            json,
            fidelity,
        } => check_determinism(&scenario, &seeds, &sets, json, &fidelity),
        Cmd::Serve(a) => serve_cmd::run(a),
        Cmd::Cert {
            dir,
            names,
            seed,
            ecdsa,
        } => cert(&dir, &names, seed, ecdsa),
        Cmd::Xdp { cmd } => xdp_cmd::run(cmd),
        Cmd::Report(args) => report_cmd::run(args),
        Cmd::Fidelity(args) => fidelity_cmd::run(args),
    }
}
