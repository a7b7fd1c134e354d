//! Claim records (the schema in docs/report.md): `{id, section, claim, seed_value, measured, unit,
//! backend, verdict, detail}`, read from benches' JSON-lines files or made by the report's own
//! experiments, plus where each came from.

use serde_json::Value as Json;
use std::fmt;
use std::path::Path;

/// A claim's verdict.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Verdict {
    /// Measured, and the seed's number holds.
    Holds,
    /// Measured, and it does not hold on this machine.
    DoesNotHoldHere,
    /// Cannot be measured here (the detail says why).
    NotMeasurableHere,
    /// The experiment exists but has not been run here (a bench that needs root or time).
    NotRunHere,
    /// A verdict string this report does not know, kept as written.
    Other(String),
}

impl Verdict {
    /// Parses the record's `verdict` field.
    pub fn parse(s: &str) -> Verdict {
        match s {
            "holds" => Verdict::Holds,
            "does-not-hold-here" => Verdict::DoesNotHoldHere,
            "not-measurable-here" => Verdict::NotMeasurableHere,
            "not-run-here" => Verdict::NotRunHere,
            other => Verdict::Other(other.to_string()),
        }
    }

    /// The record's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Verdict::Holds => "holds",
            Verdict::DoesNotHoldHere => "does-not-hold-here",
            Verdict::NotMeasurableHere => "not-measurable-here",
            Verdict::NotRunHere => "not-run-here",
            Verdict::Other(s) => s,
        }
    }

    /// `holds` when `ok`, else `does-not-hold-here`.
    pub fn from_bool(ok: bool) -> Verdict {
        if ok {
            Verdict::Holds
        } else {
            Verdict::DoesNotHoldHere
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One claim of the guide 网络编程进阶主题 against what was measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    /// Stable id, e.g. `xdp.drop-rate`.
    pub id: String,
    /// Section of the guide 网络编程进阶主题, e.g. `2.3`.
    pub section: String,
    /// The claim in words.
    pub claim: String,
    /// The seed's number.
    pub seed_value: String,
    /// The number measured here (`—` when nothing was measured).
    pub measured: String,
    /// Unit and what exactly was measured.
    pub unit: String,
    /// Backend it was measured on (`sim`, `kernel`, `xdp`, ...).
    pub backend: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Why: numbers behind the verdict, or the reason it could not be measured.
    pub detail: String,
    /// Where the record came from: a file (with its time) or the experiment run here.
    pub source: String,
}

/// Why one line of a claims file was not used.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimLineError {
    /// Not JSON.
    #[error("line {line}: not JSON: {reason}")]
    NotJson {
        /// 1-based line number.
        line: usize,
        /// The parser's message.
        reason: String,
    },
    /// JSON, but without a string `id`.
    #[error("line {line}: no string field \"id\"")]
    NoId {
        /// 1-based line number.
        line: usize,
    },
}

fn text(v: Option<&Json>) -> String {
    match v {
        None | Some(Json::Null) => "—".to_string(),
        Some(Json::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

impl Claim {
    /// A claim record from one JSON object; `source` says where it came from.
    pub fn from_json(v: &Json, source: &str) -> Option<Claim> {
        let id = v.get("id")?.as_str()?.to_string();
        let verdict = v
            .get("verdict")
            .and_then(Json::as_str)
            .map_or(Verdict::Other("none".into()), Verdict::parse);
        Some(Claim {
            id,
            section: text(v.get("section")),
            claim: text(v.get("claim")),
            seed_value: text(v.get("seed_value")),
            measured: text(v.get("measured")),
            unit: text(v.get("unit")),
            backend: text(v.get("backend")),
            verdict,
            detail: text(v.get("detail")),
            source: source.to_string(),
        })
    }

    /// Parses a claims file (JSON lines; blank lines skipped). Later records with the same id
    /// replace earlier ones (benches append).
    pub fn parse_jsonl(body: &str, source: &str) -> (Vec<Claim>, Vec<ClaimLineError>) {
        let mut claims: Vec<Claim> = Vec::new();
        let mut errors = Vec::new();
        for (i, line) in body.lines().enumerate() {
            let line_no = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Json>(line) {
                Err(e) => errors.push(ClaimLineError::NotJson {
                    line: line_no,
                    reason: e.to_string(),
                }),
                Ok(v) => match Claim::from_json(&v, source) {
                    None => errors.push(ClaimLineError::NoId { line: line_no }),
                    Some(c) => upsert(&mut claims, c),
                },
            }
        }
        (claims, errors)
    }

    /// Sort key: the section's numbers (`2.10` after `2.9`).
    pub fn section_key(&self) -> Vec<u32> {
        self.section
            .split('.')
            .map(|p| p.trim().parse().unwrap_or(u32::MAX))
            .collect()
    }
}

/// Inserts `c`, replacing a claim with the same id in place.
pub fn upsert(claims: &mut Vec<Claim>, c: Claim) {
    match claims.iter_mut().find(|x| x.id == c.id) {
        Some(slot) => *slot = c,
        None => claims.push(c),
    }
}

/// A file time as `YYYY-MM-DD HH:MM UTC` (from seconds since the Unix epoch).
pub fn utc_minute(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// Reads every `*.jsonl` in `dir` (sorted by name). A missing directory is no claims.
/// Returns the claims and, per unusable line or file, a note for the page.
pub fn read_dir(dir: &Path) -> (Vec<Claim>, Vec<String>) {
    let mut claims = Vec::new();
    let mut notes = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (claims, notes);
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    for path in files {
        let body = match std::fs::read_to_string(&path) {
            Ok(b) => b,
            Err(e) => {
                notes.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let when = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or_else(|| "time unknown".to_string(), |d| utc_minute(d.as_secs()));
        let source = format!("{} (written {when})", path.display());
        let (cs, errs) = Claim::parse_jsonl(&body, &source);
        for e in errs {
            notes.push(format!("{}: {e}", path.display()));
        }
        for c in cs {
            upsert(&mut claims, c);
        }
    }
    (claims, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strings_numbers_nulls_and_keeps_the_last_duplicate() {
        let body = r#"{"id":"a","section":"2.1","claim":"c","seed_value":"30-80","measured":12.5,"unit":"Mpps","backend":"dpdk","verdict":"holds","detail":"d"}

{"id":"b","measured":null,"verdict":"not-measurable-here"}
not json
{"no_id":1}
{"id":"a","measured":"13","verdict":"does-not-hold-here"}"#;
        let (cs, errs) = Claim::parse_jsonl(body, "f");
        assert_eq!(cs.len(), 2);
        assert_eq!(cs[0].id, "a");
        assert_eq!(cs[0].measured, "13");
        assert_eq!(cs[0].verdict, Verdict::DoesNotHoldHere);
        assert_eq!(cs[1].measured, "—");
        assert_eq!(cs[1].verdict, Verdict::NotMeasurableHere);
        assert!(matches!(errs[0], ClaimLineError::NotJson { line: 4, .. }));
        assert_eq!(errs[1], ClaimLineError::NoId { line: 5 });
        let (one, _) = Claim::parse_jsonl(r#"{"id":"x","measured":12.5}"#, "f");
        assert_eq!(one[0].measured, "12.5");
        assert_eq!(one[0].verdict, Verdict::Other("none".into()));
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minute(951_782_400 + 3661), "2000-02-29 01:01 UTC");
        assert_eq!(utc_minute(1_764_079_980), "2025-11-25 14:13 UTC");
    }

    #[test]
    fn sections_sort_numerically() {
        let mut c = Claim::from_json(&serde_json::json!({"id": "x", "section": "2.10"}), "")
            .expect("claim");
        let k10 = c.section_key();
        c.section = "2.9".into();
        assert!(c.section_key() < k10);
    }
}
