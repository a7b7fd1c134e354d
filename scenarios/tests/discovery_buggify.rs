//! Buggify points in the discovery client: pooled connections closed early
//! (`discovery.close_pooled`) and watch connections dropped (`discovery.watch_drop`) fire in
//! some seeds, and a follower's view still ends up with every registered instance.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_distributed::discovery::{
    follow, serve, ClientConfig, Discovery, Instance, RegistryClient, RegistryServer, ServerConfig,
    ServiceView,
};
use testbed_model::{Duration, Net, Runtime};
use testbed_sim::{Sim, SimConfig};

const PORT: u16 = 2379;
const INSTANCES: usize = 20;

/// Registers `INSTANCES` instances 200 ms apart while another host follows the service;
/// returns the points that fired.
fn run(seed: u64) -> Vec<&'static str> {
    let mut sim = Sim::new(SimConfig {
        seed,
        ..SimConfig::default()
    });
    sim.host("registry", |h| async move {
        let l = h.listen(([0, 0, 0, 0], PORT).into()).expect("fresh host");
        serve(
            h.clone(),
            l,
            RegistryServer::new(h.now(), ServerConfig::default()),
        )
        .await
    });
    let client = |h: &testbed_sim::Host| {
        let addr = SocketAddr::new(h.lookup("registry").expect("registry"), PORT);
        RegistryClient::new(h.clone(), addr, ClientConfig::default())
    };
    let view = Rc::new(RefCell::new(ServiceView::default()));
    let v = view.clone();
    sim.client("follower", move |h| async move {
        let d = client(&h);
        let h2 = h.clone();
        let v2 = v.clone();
        let _f = h.spawn(async move {
            follow(&d, &h2, "svc", Duration::from_millis(100), &v2, |_| {}).await
        });
        h.sleep(Duration::from_secs(INSTANCES as u64 / 5 + 10))
            .await;
        let seen = v.borrow().instances().count();
        if seen != INSTANCES {
            return Err(format!("seed {seed}: the view lists {seen} of {INSTANCES}").into());
        }
        Ok(())
    });
    sim.client("agent", move |h| async move {
        let d = client(&h);
        for i in 0..INSTANCES {
            h.sleep(Duration::from_millis(200)).await;
            let addr = SocketAddr::new(h.lookup("agent").expect("self"), 8000 + i as u16);
            let inst = Instance::new("svc", &format!("svc-{i}"), addr);
            // A call may time out (the registry is fine; the retry is the agent's job).
            let mut tries = 0;
            while d.register(&inst, Duration::from_secs(3600)).await.is_err() {
                tries += 1;
                if tries == 5 {
                    return Err(format!("seed {seed}: could not register {i}").into());
                }
            }
        }
        Ok(())
    });
    sim.run().unwrap();
    sim.buggify_points()
        .into_iter()
        .filter(|p| p.fired > 0)
        .map(|p| p.name)
        .collect()
}

#[test]
fn followers_see_every_instance_despite_early_closes() {
    let fired: BTreeSet<&str> = (0..40).flat_map(run).collect();
    for p in ["discovery.close_pooled", "discovery.watch_drop"] {
        assert!(
            fired.contains(p),
            "{p} never fired in seeds 0..40: {fired:?}"
        );
    }
}
