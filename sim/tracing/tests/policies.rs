//! Events of the distributed policies under the layer: a breaker's transitions and a
//! registry's registrations, stamped with the host whose task drove them.

use testbed_distributed::breaker::{Breaker, BreakerConfig, Outcome};
use testbed_distributed::discovery::{Instance, Registry, RegistryConfig};
use testbed_model::{Duration, Runtime};
use testbed_sim::{Sim, SimConfig};
use testbed_tracing::{filter, subscriber, Format, SimLayer};

#[test]
fn breaker_transitions_and_registrations_are_stamped() {
    let (layer, lines) = SimLayer::captured(Format::Human, 1000);
    let sub = subscriber(layer, filter("testbed_distributed=info").unwrap());
    tracing::subscriber::with_default(sub, || {
        let mut sim = Sim::new(SimConfig::default());
        sim.client("caller", |h| async move {
            let mut b = Breaker::new(BreakerConfig::consecutive_failures(
                2,
                Duration::from_secs(1),
            ));
            h.sleep(Duration::from_millis(5)).await;
            for _ in 0..2 {
                let p = b.try_acquire(h.now()).expect("closed");
                b.on_result(h.now(), p, Outcome::Failure, Duration::from_millis(1));
            }
            h.sleep(Duration::from_secs(1)).await;
            let p = b.try_acquire(h.now()).expect("half-open probe");
            b.on_result(h.now(), p, Outcome::Success, Duration::from_millis(1));
            Ok(())
        });
        sim.client("registry", |h| async move {
            h.sleep(Duration::from_millis(7)).await;
            let mut r = Registry::new(h.now(), RegistryConfig::default());
            let lease = r.handle_grant(h.now(), Duration::from_secs(10))?;
            let addr = "10.0.0.9:80".parse().unwrap();
            r.handle_put(h.now(), lease.id, Instance::new("orders", "orders-1", addr))?;
            r.handle_delete(h.now(), "orders", "orders-1")?;
            Ok(())
        });
        sim.run().unwrap();
    });
    let text = lines.text();
    let got: Vec<&str> = text
        .lines()
        .map(|l| l.split_once(" lease=").map_or(l, |p| p.0))
        .collect();
    assert_eq!(
        got,
        [
            "[  0.005000s caller]  INFO testbed_distributed::breaker: breaker transition from=Closed to=Open",
            "[  0.007000s registry]  INFO testbed_distributed::discovery: register service=orders id=orders-1 addr=10.0.0.9:80",
            "[  0.007000s registry]  INFO testbed_distributed::discovery: deregister service=orders id=orders-1",
            "[  1.005000s caller]  INFO testbed_distributed::breaker: breaker transition from=Open to=HalfOpen",
            "[  1.005000s caller]  INFO testbed_distributed::breaker: breaker transition from=HalfOpen to=Closed",
        ],
        "{text}"
    );
}
