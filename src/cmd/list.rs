//! `testbed list`: the scenarios with their parameters, as text or JSON.

use std::process::ExitCode;
use testbed_scenarios::catalogue;

/// Lists the scenarios (`--json`: one JSON array).
pub fn list(json: bool) -> ExitCode {
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
