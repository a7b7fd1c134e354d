//! `testbed`: run scenarios on the simulator or real backends, list them, check determinism.
//! Thin dispatch: each subcommand lives in `cmd/<name>.rs`.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cmd;

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
    Run(cmd::run::RunArgs),
    /// Run a scenario for a range of seeds across threads and summarise (see docs/sweeps.md).
    Sweep(cmd::sweep::SweepArgs),
    /// Combine `sweep --json` results files (shards) into one summary.
    Merge(cmd::sweep::MergeArgs),
    /// Shrink a failing seed's fault schedule to a minimal one that still fails.
    Shrink(cmd::shrink::ShrinkArgs),
    /// Run a protocol server on its own for real clients (curl, wrk, browsers, Autobahn).
    Serve(cmd::serve::ServeArgs),
    /// Write a test CA and a leaf certificate (CA:FALSE, the names as SANs, Ed25519) as PEM:
    /// DIR/ca.pem, DIR/cert.pem, DIR/key.pem. For tests only.
    Cert(cmd::cert::CertArgs),
    /// The XDP filter on a real interface (needs root): attach, block, stats, detach.
    Xdp {
        #[command(subcommand)]
        cmd: cmd::xdp::XdpCmd,
    },
    /// Measure the claims of the guide 网络编程进阶主题 that run here, read bench results, and
    /// write a page with plots (index.html), a markdown summary and report.json.
    Report(cmd::report::ReportArgs),
    /// Run the fidelity suite: the same small workloads on real Linux TCP/UDP (root) and on
    /// the simulator in stream and packet fidelity, side by side. Exit 1 when the simulator
    /// is kinder than Linux on a row.
    Fidelity(cmd::fidelity::FidelityArgs),
    /// Run a scenario twice per seed and compare the traces event by event.
    CheckDeterminism(cmd::check_determinism::CheckDeterminismArgs),
    /// Search a scenario's fault schedules for a failing run, guided by coverage (see
    /// docs/explore.md). Exit 1 when one is found, 0 when the budget runs out.
    Explore(cmd::explore::ExploreArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::List { json } => cmd::list::list(json),
        Cmd::Run(a) => cmd::run::run(a),
        Cmd::Sweep(a) => cmd::sweep::sweep(a),
        Cmd::Merge(a) => cmd::sweep::merge_files(a),
        Cmd::Shrink(a) => cmd::shrink::shrink(a),
        Cmd::CheckDeterminism(a) => cmd::check_determinism::run(a),
        Cmd::Serve(a) => cmd::serve::run(a),
        Cmd::Cert(a) => cmd::cert::run(a),
        Cmd::Xdp { cmd } => cmd::xdp::run(cmd),
        Cmd::Report(args) => cmd::report::run(args),
        Cmd::Fidelity(args) => cmd::fidelity::run(args),
        Cmd::Explore(a) => cmd::explore::run(a),
    }
}
