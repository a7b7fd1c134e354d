//! The report's three renderings: HTML page (inline SVG, inline CSS, no scripts), markdown
//! summary and JSON.

use super::claim::{Claim, Verdict};
use super::{fidelity, http, Report};
use serde_json::json;
use std::fmt::Write;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Escapes text for a markdown table cell.
fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn class(v: &Verdict) -> &'static str {
    match v {
        Verdict::Holds => "holds",
        Verdict::DoesNotHoldHere => "nohold",
        Verdict::NotMeasurableHere => "nomeasure",
        Verdict::NotRunHere => "notrun",
        _ => "other",
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:24px auto;max-width:1240px;color:#222;line-height:1.4}\
table{border-collapse:collapse;width:100%;font-size:13px}\
th,td{border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left}\
th{background:#f0f0f0}\
td.v{font-weight:bold;white-space:nowrap}\
.holds{background:#d9f2d9}.nohold{background:#f9d6d5}.nomeasure{background:#fff1c7}.notrun{background:#e6e6e6}.other{background:#fff}\
.src{color:#555;font-size:12px}\
figure{margin:24px 0;border:1px solid #ddd;padding:8px}\
figcaption{font-size:13px;color:#333;margin-top:6px}\
.missing{padding:24px;background:#f4f4f4;border:1px dashed #999}\
code{background:#f4f4f4;padding:0 3px}";

/// The HTML page.
pub fn html(r: &Report) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<title>Testbed: the claims of 网络编程进阶主题 against this machine</title>\n");
    let _ = writeln!(h, "<style>{STYLE}</style>\n</head>\n<body>");
    h.push_str("<h1>网络编程进阶主题: the guide's claims, measured</h1>\n");
    let _ = writeln!(
        h,
        "<p>Machine that ran this report's experiments: <b>{}</b>. Records read from claim files were written by benches on the machine that ran them, at the time shown with each.{}</p>",
        esc(&r.machine),
        if r.quick {
            " <b>Quick mode</b>: smaller experiments (a 20-object page, 10,000 keys); numbers are not the full runs'."
        } else {
            ""
        }
    );
    let _ = writeln!(
        h,
        "<p>Every number below was measured by running something or read from a results file; \
         the <i>where</i> column says which. Simulator scenarios, the limiter cores and the \
         hashing schemes run in-process when the report is built. Benches that need root, BPF, \
         DPDK or minutes of CPU write claim records into <code>{}</code>, which the report reads; \
         a claim without a record is marked <i>not run here</i> with the command that measures it. \
         Verdicts: <span class=\"holds\">holds</span>, <span class=\"nohold\">does-not-hold-here</span>, \
         <span class=\"nomeasure\">not-measurable-here</span> (with the reason), \
         <span class=\"notrun\">not-run-here</span>. Rule for speedups measured here: {}.</p>",
        esc(&r.from),
        esc(http::SPEEDUP_RULE)
    );
    let counts: Vec<String> = r
        .counts()
        .iter()
        .map(|(v, n)| {
            format!(
                "<span class=\"{}\">{n} {}</span>",
                class(v),
                esc(v.as_str())
            )
        })
        .collect();
    let _ = writeln!(
        h,
        "<p id=\"counts\">{} claims: {}.</p>",
        r.claims.len(),
        counts.join(", ")
    );
    h.push_str("<h2 id=\"claims-heading\">Claims</h2>\n<table id=\"claims\">\n<thead><tr><th>§</th><th>Claim</th><th>The guide says</th><th>Measured here</th><th>Unit / conditions</th><th>Where</th><th>Verdict</th><th>Why</th></tr></thead>\n<tbody>\n");
    for c in &r.claims {
        let _ = writeln!(
            h,
            "<tr id=\"claim-{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}<div class=\"src\">{}</div></td><td class=\"v {}\">{}</td><td>{}</td></tr>",
            esc(&c.id),
            esc(&c.section),
            esc(&c.claim),
            esc(&c.seed_value),
            esc(&c.measured),
            esc(&c.unit),
            esc(&c.backend),
            esc(&c.source),
            class(&c.verdict),
            esc(c.verdict.as_str()),
            esc(&c.detail)
        );
    }
    h.push_str("</tbody>\n</table>\n");
    if let Some(f) = &r.fidelity {
        fidelity_html(&mut h, f);
    }
    h.push_str("<h2>Plots</h2>\n");
    for p in &r.plots {
        let _ = writeln!(
            h,
            "<figure id=\"plot-{}\">\n<h3>{}</h3>",
            p.id,
            esc(&p.title)
        );
        match &p.svg {
            Ok(svg) => {
                h.push_str(svg);
                h.push('\n');
            }
            Err(why) => {
                let _ = writeln!(h, "<p class=\"missing\">{}</p>", esc(why));
            }
        }
        let _ = writeln!(h, "<figcaption>{}</figcaption>\n</figure>", esc(&p.caption));
    }
    if !r.notes.is_empty() {
        h.push_str("<h2>Notes</h2>\n<ul>\n");
        for n in &r.notes {
            let _ = writeln!(h, "<li>{}</li>", esc(n));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("<p class=\"src\">Written by <code>testbed report</code>.</p>\n</body>\n</html>\n");
    h
}

/// The markdown summary: the claim table and the plots' status.
pub fn markdown(r: &Report) -> String {
    let mut m = String::new();
    m.push_str("# 网络编程进阶主题: the guide's claims, measured\n\n");
    let _ = writeln!(
        m,
        "Machine: {}{}\n",
        r.machine,
        if r.quick {
            " (quick mode: smaller experiments)"
        } else {
            ""
        }
    );
    let counts: Vec<String> = r.counts().iter().map(|(v, n)| format!("{n} {v}")).collect();
    let _ = writeln!(m, "{} claims: {}.\n", r.claims.len(), counts.join(", "));
    m.push_str(
        "| § | Claim | The guide says | Measured here | Unit / conditions | Where | Verdict | Why |\n",
    );
    m.push_str("|---|---|---|---|---|---|---|---|\n");
    for c in &r.claims {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {}: {} | {} | {} |",
            md(&c.section),
            md(&c.claim),
            md(&c.seed_value),
            md(&c.measured),
            md(&c.unit),
            md(&c.backend),
            md(&c.source),
            c.verdict,
            md(&c.detail)
        );
    }
    if let Some(f) = &r.fidelity {
        fidelity_markdown(&mut m, f);
    }
    m.push_str("\n## Plots (in index.html)\n\n");
    for p in &r.plots {
        match &p.svg {
            Ok(_) => {
                let _ = writeln!(m, "- {}: drawn. {}", p.title, p.caption);
            }
            Err(why) => {
                let _ = writeln!(m, "- {}: **not drawn**: {why}", p.title);
            }
        }
    }
    if !r.notes.is_empty() {
        m.push_str("\n## Notes\n\n");
        for n in &r.notes {
            let _ = writeln!(m, "- {n}");
        }
    }
    m
}

fn fidelity_class(v: testbed_fidelity::Verdict) -> &'static str {
    match v {
        testbed_fidelity::Verdict::Matches => "holds",
        testbed_fidelity::Verdict::Harsher => "nomeasure",
        testbed_fidelity::Verdict::Kinder => "nohold",
        _ => "notrun",
    }
}

const FIDELITY_INTRO: &str =
    "The same small workloads (the project's own code on the kernel backend) on real \
     Linux TCP/UDP between network namespaces and on the simulator in stream and packet fidelity. \
     Verdicts per fidelity: matches (within the tolerance), harsher (the simulator is stricter: \
     allowed), kinder (the simulator forgives what Linux punishes: a fidelity failure), not-run.";

fn fidelity_html(h: &mut String, f: &fidelity::Section) {
    h.push_str("<h2 id=\"fidelity\">Fidelity: the simulator against Linux</h2>\n");
    let _ = writeln!(
        h,
        "<p>{} Source: {}.</p>",
        esc(FIDELITY_INTRO),
        esc(&f.source)
    );
    if let Some(why) = &f.linux_reason {
        let _ = writeln!(h, "<p class=\"missing\">Linux not run: {}</p>", esc(why));
    }
    h.push_str("<table id=\"fidelity-rows\">\n<thead><tr><th>Row</th><th>Unit</th><th>Linux</th><th>Stream</th><th>Packet</th><th>Stream vs Linux</th><th>Packet vs Linux</th><th>Tolerance</th><th>Detail</th></tr></thead>\n<tbody>\n");
    for r in &f.rows {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"v {}\">{}</td><td class=\"v {}\">{}</td><td>{}</td><td class=\"src\">{}</td></tr>",
            esc(&r.name),
            esc(&r.unit),
            esc(&fidelity::cell(r.linux, &r.outcome_linux)),
            esc(&fidelity::cell(r.stream, &r.outcome_stream)),
            esc(&fidelity::cell(r.packet, &r.outcome_packet)),
            fidelity_class(r.verdict_stream),
            fidelity::verdict(r.verdict_stream),
            fidelity_class(r.verdict_packet),
            fidelity::verdict(r.verdict_packet),
            esc(&r.tolerance),
            esc(&r.detail)
        );
    }
    h.push_str("</tbody>\n</table>\n");
}

fn fidelity_markdown(m: &mut String, f: &fidelity::Section) {
    let _ = writeln!(
        m,
        "\n## Fidelity: the simulator against Linux\n\n{FIDELITY_INTRO} Source: {}.\n",
        f.source
    );
    if let Some(why) = &f.linux_reason {
        let _ = writeln!(m, "Linux not run: {why}\n");
    }
    m.push_str("| Row | Unit | Linux | Stream | Packet | Stream vs Linux | Packet vs Linux | Tolerance |\n");
    m.push_str("|---|---|---|---|---|---|---|---|\n");
    for r in &f.rows {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            md(&r.name),
            md(&r.unit),
            md(&fidelity::cell(r.linux, &r.outcome_linux)),
            md(&fidelity::cell(r.stream, &r.outcome_stream)),
            md(&fidelity::cell(r.packet, &r.outcome_packet)),
            fidelity::verdict(r.verdict_stream),
            fidelity::verdict(r.verdict_packet),
            md(&r.tolerance)
        );
    }
}

fn claim_json(c: &Claim) -> serde_json::Value {
    json!({
        "id": c.id, "section": c.section, "claim": c.claim, "seed_value": c.seed_value,
        "measured": c.measured, "unit": c.unit, "backend": c.backend,
        "verdict": c.verdict.as_str(), "detail": c.detail, "source": c.source,
    })
}

/// Claims and plot list as JSON (the browser test reads how many plots were drawn).
pub fn json(r: &Report) -> serde_json::Value {
    json!({
        "machine": r.machine,
        "quick": r.quick,
        "from": r.from,
        "claims": r.claims.iter().map(claim_json).collect::<Vec<_>>(),
        "plots": r.plots.iter().map(|p| json!({
            "id": p.id,
            "title": p.title,
            "drawn": p.svg.is_ok(),
            "reason": p.svg.as_ref().err(),
            "caption": p.caption,
        })).collect::<Vec<_>>(),
        "notes": r.notes,
        "fidelity": r.fidelity.as_ref().map(|f| json!({
            "source": f.source,
            "linux_available": f.linux_available,
            "linux_reason": f.linux_reason,
            "rows": f.rows,
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Plot;

    fn report() -> Report {
        let c = Claim::from_json(
            &json!({"id": "x<y", "section": "1", "claim": "a | b", "verdict": "holds"}),
            "src",
        )
        .expect("claim");
        Report {
            claims: vec![c],
            plots: vec![
                Plot {
                    id: "a",
                    title: "A".into(),
                    caption: "c".into(),
                    svg: Ok("<svg></svg>".into()),
                },
                Plot {
                    id: "b",
                    title: "B".into(),
                    caption: "c".into(),
                    svg: Err("not run here: <none>".into()),
                },
            ],
            machine: "m".into(),
            quick: false,
            notes: vec![],
            from: "target/claims".into(),
            fidelity: None,
        }
    }

    #[test]
    fn the_page_escapes_text_and_inlines_only_drawn_plots() {
        let h = html(&report());
        assert_eq!(h.matches("<svg").count(), 1);
        assert!(h.contains("not run here: &lt;none&gt;"));
        assert!(h.contains("id=\"claim-x&lt;y\""));
        assert!(!h.contains("<script"));
        assert!(!h.contains("http://") && !h.contains("https://"));
        let m = markdown(&report());
        assert!(m.contains("a \\| b"));
        assert!(m.contains("**not drawn**: not run here"));
        assert_eq!(json(&report())["plots"][1]["drawn"], false);
    }
}
