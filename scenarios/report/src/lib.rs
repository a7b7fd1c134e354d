//! testbed-report — `testbed report`: the quantitative claims of the guide 网络编程进阶主题
//! against what was measured, as a self-contained HTML page (inline SVG plots, no scripts, no external resources), a markdown
//! summary and a JSON file. Experiments that run anywhere (simulator scenarios, the limiter and
//! hashing cores) run in-process here; bench results that need root or time are read from the
//! claims directory, and a claim without a record says how to measure it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod breaker;
pub mod claim;
pub mod ddos;
pub mod fidelity;
pub mod hashing;
pub mod http;
pub mod kv;
pub mod limiter;
pub mod plot;
mod render;
pub mod runs;
pub mod seed;

use claim::{Claim, Verdict};
use plot::{LineChart, PlotError};
use plotters::prelude::SeriesLabelPosition;
use std::path::{Path, PathBuf};
use testbed_contract::Backend;
use testbed_model::Duration;

/// What to build.
pub struct Config<'a> {
    /// Directory of bench claim files (`*.jsonl`), usually `target/claims`.
    pub from: PathBuf,
    /// Smaller experiments (for tests): fewer keys, a smaller page.
    pub quick: bool,
    /// Seed of every scenario run.
    pub seed: u64,
    /// A line describing the machine (CPU, cores, kernel).
    pub machine: String,
    /// Wall-clock stopwatch for scenarios that report wall rates.
    pub wall: &'a dyn Fn() -> Duration,
}

/// One plot: drawn, or the reason it is not.
#[derive(Clone, Debug, PartialEq)]
pub struct Plot {
    /// Stable id (`limiter`, `http-versions`, ...), used as the HTML anchor.
    pub id: &'static str,
    /// Heading.
    pub title: String,
    /// What it shows and where the numbers come from.
    pub caption: String,
    /// The `<svg>` element, or why there is none.
    pub svg: Result<String, String>,
}

/// The built report.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Claims in seed-section order.
    pub claims: Vec<Claim>,
    /// Plots in page order.
    pub plots: Vec<Plot>,
    /// Machine line.
    pub machine: String,
    /// Whether the experiments were the quick ones.
    pub quick: bool,
    /// Problems met while reading inputs (unparseable lines, failed runs).
    pub notes: Vec<String>,
    /// Where the bench claim files were looked for.
    pub from: String,
    /// The fidelity suite's table (Linux against the simulator), when built.
    pub fidelity: Option<fidelity::Section>,
}

/// Why the report could not be written.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// Writing an output file failed.
    #[error("writing {path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
}

/// The files written.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    /// The page.
    pub html: PathBuf,
    /// The markdown summary.
    pub markdown: PathBuf,
    /// Claims and plot list as JSON.
    pub json: PathBuf,
}

fn plot(id: &'static str, title: &str, caption: String, svg: Result<String, PlotError>) -> Plot {
    Plot {
        id,
        title: title.into(),
        caption,
        svg: svg.map_err(|e| e.to_string()),
    }
}

/// Runs the experiments and gathers the records.
pub fn build(cfg: &Config<'_>) -> Report {
    let mut claims: Vec<Claim> = Vec::new();
    let mut plots = Vec::new();
    let mut notes = Vec::new();
    let from = cfg.from.display().to_string();

    // Bench records (§1, §2): read, or listed as not run here.
    let (bench, file_notes) = claim::read_dir(&cfg.from);
    notes.extend(file_notes);
    for b in seed::BENCH_CLAIMS {
        claims.push(match bench.iter().find(|c| c.id == b.id) {
            Some(c) => c.clone(),
            None => seed::not_run(b, &from),
        });
    }
    // Records of benches this report does not list (newer benches) still show.
    for c in &bench {
        if !claims.iter().any(|x| x.id == c.id) {
            claims.push(c.clone());
        }
    }

    // §3: HTTP versions.
    let http_sets: &[&str] = if cfg.quick { &["resources=20"] } else { &[] };
    let hv = runs::run("http-versions", cfg.seed, http_sets, cfg.wall);
    claims.extend(http::claims(&hv));
    plots.push(plot(
        "http-versions",
        "HTTP/1.1 vs HTTP/2 vs HTTP/3: page-load time against loss",
        format!(
            "Simulated page load (smoltcp TCP and quinn QUIC over lossy links), one point per \
             (version, loss) cell. Source: {}",
            hv.source()
        ),
        match hv.missing() {
            Some(m) => Err(PlotError::NotRun(m)),
            None => plot::line_chart(
                LineChart {
                    title: "page-load time vs loss",
                    x_desc: "packet loss (%)",
                    y_desc: "page-load time (s)",
                    steps: false,
                    legend: SeriesLabelPosition::UpperLeft,
                },
                &http::series(&hv),
            ),
        },
    ));

    // §3.3: WebSocket latency on real loopback sockets.
    let ws_sets: &[&str] = if cfg.quick {
        &["clients=1", "messages=100", "deflate=0"]
    } else {
        &["clients=1", "messages=1000", "deflate=0"]
    };
    let ws = runs::run_on("ws-echo", Backend::Kernel, cfg.seed, ws_sets, cfg.wall);
    claims.extend(http::ws_claims(&ws));

    // §4: the breaker's state machine, driven directly.
    claims.extend(breaker::claims(&breaker::drive()));

    // §4: limiters.
    let lim = limiter::run_all();
    claims.extend(limiter::claims(&lim));
    plots.push(plot(
        "limiter",
        "Limiter admissions over time per algorithm (100 req/s)",
        "distributed::limit cores driven in-process (model time, no clock) with one arrival \
         sequence: 100 requests over 0.9–1.0 s and 100 over 1.0–1.1 s (the seed's boundary \
         example), then 300 req/s from 2 s to 4 s. Admissions per 100 ms bin; the steady limit \
         is 10 per bin. The fixed window admits both halves of the boundary burst; token bucket, \
         GCRA and the leaky bucket as a meter make identical decisions (their lines coincide); \
         the leaky bucket as a queue releases requests evenly."
            .into(),
        plot::line_chart(
            LineChart {
                title: "admissions per 100 ms",
                x_desc: "time (s)",
                y_desc: "requests admitted per 100 ms",
                steps: true,
                legend: SeriesLabelPosition::UpperRight,
            },
            &limiter::series(&lim),
        ),
    ));

    // §4: hashing.
    let keys = if cfg.quick { 10_000 } else { 100_000 };
    let remap = hashing::run(keys);
    claims.extend(hashing::claims(&remap));
    plots.push(plot(
        "hashing",
        "Key movement when adding nodes, per hashing scheme",
        format!(
            "{keys} keys placed by distributed::balance (computed in-process); nodes added one at \
             a time from {} to {}; y: share of keys whose node changed at that step. The last line is the \
             new node's fair share, 1/n: the least a scheme can move and stay balanced. A ring \
             with one point per node can move less, but only because its nodes are badly \
             unbalanced (see hash.vnodes-balance).",
            hashing::START_NODES,
            hashing::END_NODES
        ),
        plot::line_chart(
            LineChart {
                title: "keys moved per node added",
                x_desc: format!("nodes added (starting from {})", hashing::START_NODES).as_str(),
                y_desc: "keys moved (%)",
                steps: false,
                legend: SeriesLabelPosition::MiddleRight,
            },
            &hashing::series(&remap),
        ),
    ));

    // §4: scenarios other work adds (avalanche, retry-storm, rebalance).
    let mut avalanche = None;
    for (name, section, text) in runs::LATER {
        let r = runs::run(name, cfg.seed, &[], cfg.wall);
        claims.extend(runs::later_claims(&r, section, text));
        if *name == "avalanche" {
            avalanche = Some(r);
        }
    }
    let breaker = avalanche.as_ref().map_or_else(
        || {
            Err(PlotError::NotRun(
                "not run here: avalanche was not run".into(),
            ))
        },
        |r| match (r.missing(), r.metric("breaker_timeline")) {
            (Some(m), _) => Err(PlotError::NotRun(m)),
            (None, None) => Err(PlotError::NotRun(
                "`avalanche` ran but has no breaker_timeline metric".into(),
            )),
            (None, Some(v)) => plot::state_timeline(
                "circuit breaker state",
                "time (ms)",
                &runs::BREAKER_STATES,
                &runs::breaker_timelines(v),
            ),
        },
    );
    plots.push(plot(
        "breaker",
        "Circuit-breaker state timeline in the avalanche scenario",
        format!(
            "From the avalanche scenario's breaker_timeline metric. Source: {}",
            avalanche
                .as_ref()
                .map_or("avalanche not run".into(), runs::ScenarioRun::source)
        ),
        breaker,
    ));

    // §5: floods.
    let syn = runs::run("syn-flood", cfg.seed, &[], cfg.wall);
    claims.extend(ddos::syn_claims(&syn));
    let udp = runs::run("udp-flood", cfg.seed, &[], cfg.wall);
    claims.extend(ddos::udp_claims(&udp));
    let hf = runs::run("http-flood", cfg.seed, &[], cfg.wall);
    claims.extend(ddos::http_flood_claims(&hf));

    // Drop rate per filter path: the XDP bench if it ran, else the filter's model.
    let xdp_bars = ddos::xdp_bars(&bench);
    let drop = if xdp_bars.is_empty() {
        let dx = runs::run("ddos-xdp", cfg.seed, &[], cfg.wall);
        plot(
            "drop-rate",
            "Drop rate per filter path",
            format!(
                "The XDP bench has not run here (no xdp.* records in {from}; run \
                 scripts/bench-xdp for packets per second on veth), so this shows the XDP filter's \
                 model on the simulator: share of each flow's packets dropped, by the path that \
                 handles it. Source: {}",
                dx.source()
            ),
            match dx.missing() {
                Some(m) => Err(PlotError::NotRun(m)),
                None => plot::bar_chart(
                    "packets dropped (%) per filter path, ddos-xdp on sim",
                    "dropped (%)",
                    &ddos::sim_bars(&dx),
                ),
            },
        )
    } else {
        let src: Vec<&str> = bench
            .iter()
            .filter(|c| c.id.starts_with("xdp."))
            .map(|c| c.source.as_str())
            .collect();
        plot(
            "drop-rate",
            "Drop rate per filter path",
            format!(
                "Packets dropped per second on one veth, 60-byte frames, median of the bench's \
                 runs (xdp.* records; the skb, nft and no-filter rates are read from the records' \
                 detail text). Source: {}",
                src.first().copied().unwrap_or("?")
            ),
            plot::bar_chart("drop rate per filter path", "Mpps dropped", &xdp_bars),
        )
    };
    plots.push(drop);

    for r in [&hv, &ws, &syn, &udp, &hf] {
        if let Some(o) = r.outcome() {
            if !o.passed() {
                notes.push(format!(
                    "{}: an invariant failed; its numbers are shown as measured ({})",
                    r.name, r.command
                ));
            }
            for c in runs::metric_claims(r) {
                claim::upsert(&mut claims, c);
            }
        }
    }

    // A linearizability counterexample: from a kv run or sweep record, else the planted bug.
    let cx =
        kv::from_records(&cfg.from, &mut notes).map_or_else(|| kv::planted(cfg.seed, cfg.wall), Ok);
    plots.push(Plot {
        id: "kv-counterexample",
        title: "Linearizability counterexample of a failing kv run".into(),
        caption: match &cx {
            Ok(f) => format!(
                "The checker's timeline of the key the history fails on: one row per client, \
                 each operation a bar from call to return, the longest linearizable prefix \
                 numbered, the operation that cannot be placed in red, indeterminate ones dashed. \
                 {} Source: {}",
                f.text.lines().next().unwrap_or_default(),
                f.source
            ),
            Err(_) => "No failing kv run to draw.".into(),
        },
        svg: cx.map(|f| f.svg),
    });

    // The fidelity suite: Linux numbers from `testbed fidelity --out`, sim side in-process.
    let (fid, fid_notes) = fidelity::build(&cfg.from, cfg.quick);
    notes.extend(fid_notes);
    plots.push(plot(
        "fidelity",
        "Simulator against Linux, per fidelity-suite row",
        format!(
            "Each bar: the stream- or packet-fidelity value of a row of `testbed fidelity` as a \
             percentage of the value real Linux TCP/UDP gave between network namespaces (100 = \
             the same; the table below the claims has the units, outcomes and verdicts). Source: {}",
            fid.source
        ),
        fidelity::plot(&fid),
    ));
    claims.sort_by_key(Claim::section_key);
    Report {
        claims,
        plots,
        machine: cfg.machine.clone(),
        quick: cfg.quick,
        notes,
        from,
        fidelity: Some(fid),
    }
}

impl Report {
    /// Claims per verdict, in verdict order.
    pub fn counts(&self) -> Vec<(Verdict, usize)> {
        let mut v: Vec<(Verdict, usize)> = Vec::new();
        for c in &self.claims {
            match v.iter_mut().find(|(x, _)| *x == c.verdict) {
                Some(e) => e.1 += 1,
                None => v.push((c.verdict.clone(), 1)),
            }
        }
        v.sort();
        v
    }

    /// The page.
    pub fn html(&self) -> String {
        render::html(self)
    }

    /// The markdown summary.
    pub fn markdown(&self) -> String {
        render::markdown(self)
    }

    /// Claims and plots as JSON.
    pub fn json(&self) -> serde_json::Value {
        render::json(self)
    }

    /// Writes `index.html`, `report.md`, `report.json` and each drawn plot as `<id>.svg` into
    /// `out`.
    pub fn write(&self, out: &Path) -> Result<Written, ReportError> {
        let w = |path: PathBuf, body: String| -> Result<PathBuf, ReportError> {
            std::fs::create_dir_all(out)
                .and_then(|()| std::fs::write(&path, body))
                .map_err(|e| ReportError::Write {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            Ok(path)
        };
        for p in &self.plots {
            if let Ok(svg) = &p.svg {
                w(out.join(format!("{}.svg", p.id)), svg.clone())?;
            }
        }
        Ok(Written {
            html: w(out.join("index.html"), self.html())?,
            markdown: w(out.join("report.md"), self.markdown())?,
            json: w(
                out.join("report.json"),
                serde_json::to_string_pretty(&self.json()).unwrap_or_default() + "\n",
            )?,
        })
    }
}
