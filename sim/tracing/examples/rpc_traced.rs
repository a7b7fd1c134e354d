//! An RPC server, a client and a partition in the simulator, with every span and event printed
//! to stderr stamped with simulated time and host:
//!
//! ```sh
//! cargo run -p testbed-tracing --example rpc_traced
//! TESTBED_LOG=testbed_protocols=debug,info cargo run -p testbed-tracing --example rpc_traced
//! ```

use std::net::SocketAddr;
use std::rc::Rc;
use testbed_model::{Duration, Instant, Net, Runtime};
use testbed_protocols::rpc::example::{self, Add, Pair};
use testbed_protocols::rpc::{serve, CodecId, RpcClient};
use testbed_sim::{Sim, SimConfig};
use testbed_tracing::{filter, filter_from_env, SimLayer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let targets = filter_from_env()?.unwrap_or(filter("info,testbed_protocols=debug")?);
    let _guard = testbed_tracing::set_default(SimLayer::human(std::io::stderr()), targets);

    let mut sim = Sim::new(SimConfig {
        seed: 7,
        ..SimConfig::default()
    });
    sim.host("server", |h| async move {
        let l = h.listen("0.0.0.0:7000".parse().unwrap()).unwrap();
        serve(h, l, Rc::new(example::server())).await
    });
    sim.client("client-1", |h| async move {
        let addr = SocketAddr::new(h.lookup("server").unwrap(), 7000);
        let c = RpcClient::connect(&h, addr, CodecId::Binary).await?;
        for n in 0..3i64 {
            tracing::info!(n, "calling add");
            // The second call waits out the partition (TCP retransmits), then answers.
            let sum = c
                .call::<Add, _>(&h, &Pair { a: n, b: 40 }, Duration::from_secs(5))
                .await?;
            tracing::info!(sum, "answered");
            h.sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    });
    let ms = |n: u64| Instant::from_nanos(n * 1_000_000);
    sim.at(ms(50), |c| c.partition("server", "client-1"));
    sim.at(ms(400), |c| c.repair("server", "client-1"));
    let report = sim.run()?;
    eprintln!(
        "done at t={} with trace hash {:016x}",
        report.end_time, report.trace_hash
    );
    Ok(())
}
