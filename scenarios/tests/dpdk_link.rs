//! The DPDK impairment bridge takes its link from the scenario's link parameters, as the
//! simulator reads them (runs without DPDK: only the parameter mapping).

use testbed_model::Duration;
use testbed_runners::real_dpdk::link_from;
use testbed_scenarios::params::ParamSpec;
use testbed_scenarios::Params;
use testbed_stack::bridge::Latency;

#[test]
fn the_bridge_link_takes_the_scenarios_link_parameters() {
    let echo = testbed_scenarios::find("echo").unwrap();
    let sets = ["latency=5ms", "jitter=0s", "loss=0.02", "bandwidth=1000000"];
    let p = Params::parse(echo.params(), &sets.map(String::from)).unwrap();
    let link = link_from(&p).unwrap();
    assert_eq!(link.latency, Latency::Fixed(Duration::from_millis(5)));
    assert_eq!(link.jitter, Duration::ZERO);
    assert_eq!(link.loss, 0.02);
    assert_eq!(link.bandwidth, Some(1_000_000));
    let p = Params::parse(echo.params(), &[]).unwrap();
    assert_eq!(link_from(&p).unwrap().bandwidth, None, "0 is unlimited");
    let none: &[ParamSpec] = &[];
    assert_eq!(link_from(&Params::parse(none, &[]).unwrap()), None);
}
