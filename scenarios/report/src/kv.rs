//! The linearizability counterexample of a failing `kv` run, as a plot: the checker's SVG
//! timeline. Taken from the first JSON file in the records directory that holds one
//! (`testbed run kv --json`, or any document nesting an object with `scenario: "kv"` and
//! `metrics.counterexample_svg`); otherwise from the planted bug
//! (`bug=stale-read`, swarm faults) run here on the first seeds until one fails.

use super::runs;
use serde_json::Value as Json;
use std::path::Path;
use testbed_model::Duration;

/// Seeds of the planted bug tried when no record holds a counterexample.
pub const PLANTED_SEEDS: u64 = 100;
/// Largest JSON file read from the records directory.
const FILE_BYTES_MAX: u64 = 256 << 20;
/// How deep the search walks into a JSON document.
const DEPTH_MAX: usize = 8;

/// A counterexample and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// The SVG document.
    pub svg: String,
    /// The counterexample as text.
    pub text: String,
    /// Where it came from (file and seed, or the command that reproduces it).
    pub source: String,
}

fn in_json(v: &Json, depth: usize) -> Option<(u64, String, String)> {
    if depth > DEPTH_MAX {
        return None;
    }
    match v {
        Json::Object(o) => {
            if o.get("scenario").and_then(Json::as_str) == Some("kv") {
                let m = o.get("metrics");
                if let Some(svg) = m
                    .and_then(|m| m.get("counterexample_svg"))
                    .and_then(Json::as_str)
                {
                    let text = m
                        .and_then(|m| m.get("counterexample"))
                        .and_then(Json::as_str)
                        .unwrap_or_default();
                    let seed = o.get("seed").and_then(Json::as_u64).unwrap_or(0);
                    return Some((seed, svg.to_string(), text.to_string()));
                }
            }
            o.values().find_map(|x| in_json(x, depth + 1))
        }
        Json::Array(a) => a.iter().find_map(|x| in_json(x, depth + 1)),
        _ => None,
    }
}

/// The first counterexample in `dir`'s `*.json` files (sorted by name); unreadable files
/// are skipped with a note.
pub fn from_records(dir: &Path, notes: &mut Vec<String>) -> Option<Found> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for f in files {
        if std::fs::metadata(&f).map_or(true, |m| m.len() > FILE_BYTES_MAX) {
            notes.push(format!(
                "{}: skipped (unreadable or too large)",
                f.display()
            ));
            continue;
        }
        let Some(doc) = std::fs::read_to_string(&f)
            .ok()
            .and_then(|s| serde_json::from_str::<Json>(&s).ok())
        else {
            continue; // not JSON: not a run record
        };
        if let Some((seed, svg, text)) = in_json(&doc, 0) {
            return Some(Found {
                svg,
                text,
                source: format!("{} (kv seed {seed})", f.display()),
            });
        }
    }
    None
}

/// Runs the planted stale read from `seed` on until a run fails with a counterexample.
pub fn planted(seed: u64, wall: &dyn Fn() -> Duration) -> Result<Found, String> {
    for s in seed..seed.saturating_add(PLANTED_SEEDS) {
        let r = runs::run("kv", s, &["bug=stale-read", "faults=swarm"], wall);
        if let Some(m) = r.missing() {
            return Err(m);
        }
        if let Some(Json::String(svg)) = r.metric("counterexample_svg") {
            let text = r
                .metric("counterexample")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string();
            return Ok(Found {
                svg: svg.clone(),
                text,
                source: format!("ran here: `{}`", r.command),
            });
        }
    }
    Err(format!(
        "the planted stale read passed seeds {seed}..{}: no counterexample to draw",
        seed.saturating_add(PLANTED_SEEDS)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_record_with_a_counterexample_is_found_and_others_are_not() {
        let dir = std::env::temp_dir().join(format!("kv-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sweep = serde_json::json!({"runs": [
            {"scenario": "kv", "seed": 3, "metrics": {"ops": 10}},
            {"scenario": "rpc", "seed": 4, "metrics": {"counterexample_svg": "<svg>rpc</svg>"}},
            {"scenario": "kv", "seed": 9, "metrics": {
                "counterexample_svg": "<svg>nine</svg>", "counterexample": "not linearizable"}}
        ]});
        std::fs::write(dir.join("b.json"), sweep.to_string()).unwrap();
        std::fs::write(dir.join("a.json"), "not json").unwrap();
        let mut notes = Vec::new();
        let f = from_records(&dir, &mut notes).expect("found");
        assert_eq!(f.svg, "<svg>nine</svg>");
        assert_eq!(f.text, "not linearizable");
        assert!(f.source.ends_with("b.json (kv seed 9)"), "{}", f.source);
        std::fs::remove_file(dir.join("b.json")).unwrap();
        assert_eq!(from_records(&dir, &mut notes), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_planted_stale_read_yields_a_counterexample_timeline() {
        let wall = || Duration::ZERO;
        let f = planted(0, &wall).expect("a failing seed within the first 100");
        assert!(
            f.svg.starts_with("<svg") || f.svg.contains("<svg"),
            "{}",
            &f.svg[..80]
        );
        assert!(f.text.contains("cannot place op"), "{}", f.text);
        assert!(f.source.contains("--set bug=stale-read"), "{}", f.source);
    }
}
