//! The discovery conformance suite against a real etcd started on loopback (free ports, a
//! temporary data directory, stopped afterwards), through `EtcdDiscovery` on the kernel
//! backend's tokio runtime. Skips, saying why, when the etcd binary is not installed.
//!
//! Bounds differ from the simulator's by etcd's design: TTLs are whole seconds with a
//! minimum of 2 s (etcd would silently raise a shorter one; the adapter rejects it), and the
//! lessor checks expiry every 500 ms, then revokes through raft, so expiry is checked with a
//! tick of 500 ms and 1 s of slack on wall time.

use testbed_distributed::discovery::conformance::{run_all, verdict, Bounds};
use testbed_model::Duration;
use testbed_scenarios::discovery_etcd::EtcdDiscovery;
use testbed_scenarios::etcd_server::EtcdServer;

#[test]
fn conformance_on_etcd() {
    let Some(server) = testbed_testkit::require(EtcdServer::start()) else {
        return;
    };
    let endpoint = server.endpoint();
    let results = testbed_kernel::block_on(1, |w| async move {
        let d = EtcdDiscovery::connect(
            w.clone(),
            &[endpoint],
            "/testbed/conf",
            Duration::from_secs(2),
        )
        .await
        .expect("connect to etcd");
        let b = Bounds {
            ttl: Duration::from_secs(2),
            tick: Duration::from_millis(500),
            slack: Duration::from_secs(1),
            ttl_below_min: Duration::from_millis(1500),
            quiet: Duration::from_millis(500),
        };
        run_all(&d, &w, &b, "etcd").await
    });
    drop(server);
    match verdict(&results) {
        Ok(text) => println!("{text}"),
        Err(text) => panic!("\n{text}"),
    }
}
