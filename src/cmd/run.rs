//! `testbed run`: one scenario, once, on one backend.

use super::args::{BackendArg, FidelityArg};
use super::shrink;
use super::{fidelity_given_explicitly, stopwatch, usage};
use std::process::ExitCode;
use testbed_scenarios::{prepare, replay_command, Backend, DpdkOpts, RunCtx};
use testbed_sim::Fidelity;

/// Run one scenario once.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Scenario name (see `testbed list`).
    pub scenario: String,
    /// sim (default), kernel, uring, xdp (root, clang), dpdk (built with --features dpdk).
    #[arg(long, value_enum, default_value = "sim")]
    pub backend: BackendArg,
    /// Root seed of the run.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Parameter override, repeatable: --set clients=100
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Write the simulator's trace as JSON lines to FILE.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<std::path::PathBuf>,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Simulator: stream (reliable byte streams, fast) or packet (smoltcp TCP per host
    /// over packet links). Scenarios about packets (floods) always use packet.
    #[arg(long, value_enum, default_value = "stream")]
    pub fidelity: FidelityArg,
    /// Simulator: write one pcap per host into DIR (implies --fidelity packet).
    #[arg(long, value_name = "DIR")]
    pub pcap: Option<std::path::PathBuf>,
    /// --backend dpdk: DPDK EAL arguments (default: --no-huge --no-pci --no-shconf
    /// --no-telemetry -m 512). On lab hardware e.g. "-l 2-3 -a 0000:01:00.0".
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub dpdk_args: Option<String>,
    /// --backend dpdk: the port the server uses (PCI address or --vdev name). Default:
    /// net_af_packet on a veth pair the run creates.
    #[arg(long, value_name = "PORT", requires = "dpdk_peer")]
    pub dpdk_port: Option<String>,
    /// --backend dpdk with --dpdk-port: the kernel interface wired to that port; the run
    /// moves it into its namespace and runs the clients there.
    #[arg(long, value_name = "IFACE", requires = "dpdk_port")]
    pub dpdk_peer: Option<String>,
    /// --backend dpdk: apply the scenario's link parameters (latency, jitter, loss,
    /// bandwidth) to the real frames through an impairment bridge (the simulator's link
    /// model; this kernel has no netem).
    #[arg(long)]
    pub impair: bool,
    /// Simulator: log the components' tracing spans and events, stamped with simulated time
    /// and host (RUST_LOG-style directives: "info", "warn,testbed_protocols=debug"; default
    /// from TESTBED_LOG, then RUST_LOG). With --trace they go into that file among the
    /// simulator's events; without, as lines on stderr.
    #[arg(long, value_name = "FILTER")]
    pub log: Option<String>,
    /// Replay this fault schedule (JSON: a schedule, or a `run --json` result) instead of
    /// the faults drawn from the seed.
    #[arg(long, value_name = "FILE")]
    pub schedule: Option<std::path::PathBuf>,
}

/// The replay command of a DPDK run: built with the feature, with the run's DPDK options.
fn dpdk_replay(replay: &str, d: &DpdkOpts) -> String {
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
    fidelity: FidelityArg,
    pcap: Option<std::path::PathBuf>,
    dpdk: DpdkOpts,
    schedule: Option<std::path::PathBuf>,
    log: Option<String>,
}

/// Runs `testbed run`.
pub fn run(a: RunArgs) -> ExitCode {
    run_once(
        &a.scenario,
        a.backend,
        a.seed,
        &a.sets,
        RunOpts {
            trace: a.trace,
            json: a.json,
            fidelity: a.fidelity,
            pcap: a.pcap,
            dpdk: DpdkOpts {
                eal_args: a.dpdk_args,
                port: a.dpdk_port,
                peer: a.dpdk_peer,
                impair: a.impair,
            },
            schedule: a.schedule,
            log: a.log,
        },
    )
}

fn run_once(
    scenario: &str,
    backend: BackendArg,
    seed: u64,
    sets: &[String],
    opts: RunOpts,
) -> ExitCode {
    let RunOpts {
        trace,
        json,
        fidelity,
        pcap,
        dpdk,
        schedule,
        log,
    } = opts;
    let fidelity = match (Fidelity::from(fidelity), &pcap) {
        (Fidelity::Stream, Some(_)) if fidelity_given_explicitly() => {
            return usage("--pcap needs packet fidelity (frames); drop --fidelity stream")
        }
        (_, Some(_)) => Fidelity::Packet,
        (f, None) => f,
    };
    let s = match shrink::lookup(scenario) {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    let backend: Backend = match backend.backend() {
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
        Some(path) => match shrink::read_schedule(path) {
            Ok(sch) => {
                replay.push_str(&format!(" --schedule {}", path.display()));
                Some(sch)
            }
            Err(e) => return usage(e),
        },
        None => None,
    };
    if log.is_some() && backend != Backend::Sim {
        return usage("--log needs --backend sim (its lines are stamped with simulated time)");
    }
    let run_log = if backend == Backend::Sim {
        match super::log::install(log.as_deref(), trace.is_some()) {
            Ok(l) => l,
            Err(e) => return usage(e),
        }
    } else {
        None
    };
    let ctx = RunCtx::new(backend, seed, params, &wall)
        .with_trace(trace.is_some())
        .with_replay(replay)
        .with_fidelity(fidelity)
        .with_pcap(pcap)
        .with_dpdk(dpdk);
    let outcome = match schedule.as_ref().map_or_else(
        || s.run(&ctx),
        |sch| testbed_scenarios::run_with_schedule(s, &ctx, sch),
    ) {
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
            .and_then(|f| super::log::write_trace(events, hosts, run_log.as_ref(), f));
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
