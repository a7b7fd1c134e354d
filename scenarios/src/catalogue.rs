//! The registry: every scenario in listing order, lookup by name, and the helpers the CLI and
//! the tests use to run one (backend check + parameters, replay command line).
//! Scenario modules never import this module: the registry imports them.

use crate::{Backend, Params, RunCtx, RunError, Scenario};
use testbed_contract::{FaultSchedule, Outcome};

/// Every scenario, in listing order.
pub fn catalogue() -> Vec<&'static dyn Scenario> {
    vec![
        &crate::echo::Echo,
        &crate::partition_heal::PartitionHeal,
        &crate::http1_load::Http1,
        &crate::rpc::Rpc,
        &crate::ws_echo::WsEcho,
        &crate::chat_room::ChatRoom,
        &crate::syn_flood::SynFlood,
        &crate::udp_flood::UdpFlood,
        &crate::http_flood::HttpFlood,
        &crate::ddos_xdp::DdosXdp,
        &crate::http_versions::HttpVersions,
        &crate::avalanche::Avalanche,
        &crate::retry_storm::RetryStorm,
        &crate::rebalance::Rebalance,
        &crate::degrade::Degrade,
        &crate::failover::Failover,
        &crate::kv::Kv,
    ]
}

/// Scenarios for the testbed's own tests (a planted bug for the shrinker): not in
/// [`catalogue`], `testbed list` or [`find`]; the CLI finds them by name only when the
/// environment has `TESTBED_TEST_SCENARIOS=1`.
pub fn test_catalogue() -> Vec<&'static dyn Scenario> {
    vec![&crate::planted::PlantedBug]
}

/// The scenario named `name`.
pub fn find(name: &str) -> Result<&'static dyn Scenario, RunError> {
    catalogue()
        .into_iter()
        .find(|s| s.name() == name)
        .ok_or_else(|| RunError::UnknownScenario {
            name: name.into(),
            valid: catalogue().iter().map(|s| s.name().to_string()).collect(),
        })
}

/// Checks the backend is supported, then parses parameters.
pub fn prepare(s: &dyn Scenario, backend: Backend, sets: &[String]) -> Result<Params, RunError> {
    if !s.backends().contains(&backend) {
        return Err(RunError::Unsupported {
            scenario: s.name().into(),
            backend: backend.name().into(),
            supported: s.backends().iter().map(|b| b.name().to_string()).collect(),
        });
    }
    Ok(Params::parse(s.params(), sets)?)
}

/// The `testbed run` command line that reproduces a run.
pub fn replay_command(s: &dyn Scenario, backend: Backend, seed: u64, params: &Params) -> String {
    let mut cmd = format!(
        "cargo run --release -- run {} --backend {} --seed {}",
        s.name(),
        backend,
        seed
    );
    for set in params.non_default_sets(s.params()) {
        cmd += &format!(" --set {set}");
    }
    cmd
}

/// Runs `s` once with `schedule` ([`Scenario::run_with_schedule`]); a refusal names the
/// scenarios that do take a schedule.
pub fn run_with_schedule(
    s: &dyn Scenario,
    ctx: &RunCtx<'_>,
    schedule: &FaultSchedule,
) -> Result<Outcome, RunError> {
    s.run_with_schedule(ctx, schedule)
        .map_err(with_schedule_list)
}

/// Fills [`RunError::NoSchedule`]'s list of the scenarios that take a schedule.
pub fn with_schedule_list(e: RunError) -> RunError {
    match e {
        RunError::NoSchedule { name, .. } => RunError::NoSchedule {
            name,
            takes: schedule_scenarios(),
        },
        other => other,
    }
}

fn schedule_scenarios() -> Vec<String> {
    catalogue()
        .iter()
        .filter(|s| {
            s.swarm(&Params::parse(s.params(), &[]).expect("defaults parse"))
                .is_some()
        })
        .map(|s| s.name().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use testbed_model::Duration;

    #[test]
    fn a_refused_schedule_names_the_scenarios_that_take_one() {
        let echo = find("echo").unwrap();
        let wall = || Duration::ZERO;
        let params = prepare(echo, Backend::Sim, &[]).unwrap();
        let ctx = RunCtx::new(Backend::Sim, 0, params, &wall);
        let e = run_with_schedule(echo, &ctx, &FaultSchedule::default()).unwrap_err();
        let RunError::NoSchedule { name, takes } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(name, "echo");
        assert!(takes.iter().any(|t| t == "partition-heal"), "{takes:?}");
        assert!(!takes.iter().any(|t| t == "echo"), "{takes:?}");
        assert!(
            e.to_string()
                .ends_with(&format!("scenarios that do: {}", takes.join(", "))),
            "{e}"
        );
    }
}
