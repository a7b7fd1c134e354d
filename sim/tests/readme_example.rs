//! The example from README.md ("Writing a simulation test for your own code"), kept compiling.

use testbed_model::{Listener, Net, Runtime};
use testbed_sim::{check_seeds, Sim, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn my_service_survives_a_partition() {
    check_seeds(|seed| {
        // TESTBED_SEEDS=1000 for more, TESTBED_SEED=n to replay
        let mut sim = Sim::new(SimConfig {
            seed,
            ..Default::default()
        });
        sim.host("server", |h| async move {
            // runs again after a restart
            let l = h.listen("0.0.0.0:80".parse().unwrap()).unwrap();
            while let Ok((mut s, _)) = l.accept().await {
                h.spawn(async move {
                    let mut b = [0u8; 4];
                    while s.read_exact(&mut b).await.is_ok() {
                        let _ = s.write_all(&b).await;
                    }
                });
            }
        });
        sim.client("client", |h| async move {
            let ip = h.lookup("server").unwrap();
            let mut s = h.connect((ip, 80).into()).await?;
            h.control().partition("server", "client");
            h.spawn({
                let h = h.clone();
                async move {
                    h.sleep(std::time::Duration::from_secs(1)).await;
                    h.control().repair("server", "client");
                }
            });
            s.write_all(b"ping").await?; // waits out the partition (TCP retransmits)
            let mut b = [0u8; 4];
            s.read_exact(&mut b).await?;
            assert_eq!(&b, b"ping");
            assert!(
                h.now().as_nanos() >= 1_000_000_000,
                "the echo crossed the partition early"
            );
            Ok(())
        });
        sim.run().map(|_| ()) // failures print the seed and a replay command
    });
}
