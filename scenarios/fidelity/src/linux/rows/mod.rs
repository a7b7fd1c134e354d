//! Each row on Linux: the row's lab (a direct veth pair, or the impairment bridge when the
//! row's link has delay, loss or a rate), the row's server half (`workload::serve`) in the
//! server namespace and its client half (`workload::run`) in the client namespace, both on
//! the kernel backend. What only Linux can show is added to the detail: the SYNs the client
//! sent (an nft counter), receive-buffer overflows, the bridge's counters. Lab failures
//! become an `Obs` without a value whose detail says what failed.

mod syns;

use super::error::LabError;
use super::host::Serve;
use super::lab::{Lab, Topology};
use crate::row::{Obs, RowId};
use crate::workload::{self, Client, Setup};
use std::sync::Arc;
use testbed_model::{Duration, Runtime};
use testbed_stack::bridge::{BridgeConfig, Latency, LinkConfig};

/// The kernel's own connect timeout; the workloads put their own deadlines on every wait.
const KERNEL_CONNECT: Duration = Duration::from_secs(120);
/// Seed of the bridge's decisions (the simulator side's rows use the same).
const SEED: u64 = 16;
/// Below this round-trip time the direct veth pair stands in for the link (its RTT is tens
/// of microseconds; the bridge's polling would add more than the row asks for).
const BRIDGE_FROM: Duration = Duration::from_millis(1);

/// The row's link through the bridge, if it needs one.
fn bridge_link(s: &Setup) -> Option<BridgeConfig> {
    if s.rtt < BRIDGE_FROM && s.loss == 0.0 && s.bandwidth.is_none() {
        return None;
    }
    let link = LinkConfig {
        latency: Latency::Fixed(Duration::from_nanos((s.rtt.as_nanos() / 2) as u64)),
        loss: s.loss,
        bandwidth: s.bandwidth,
        queue_bytes: s.queue_bytes,
        mtu: s.mtu,
        ..LinkConfig::default()
    };
    Some(BridgeConfig::symmetric(link, SEED))
}

/// A row whose lab is built and whose server runs, ready to measure.
pub(crate) struct Prepared {
    row: RowId,
    lab: Lab,
    notes: Vec<String>,
}

/// Builds `row`'s lab on subnet 10.77.`pair`.0/24 and starts its server; `bridge` says
/// whether the impairment bridge can run here (and why not). `Err` is the row's `Obs`
/// when it cannot be measured.
pub(crate) fn prepare(row: RowId, pair: u8, bridge: &Result<(), String>) -> Result<Prepared, Obs> {
    let setup = workload::setup(row);
    let mut notes = Vec::new();
    let topology = match (bridge_link(&setup), bridge) {
        (Some(cfg), Ok(())) => Topology::Bridged(Box::new(cfg)),
        (Some(_), Err(why)) if setup.loss > 0.0 || setup.bandwidth.is_some() => {
            return Err(not_run(why.clone()));
        }
        (Some(_), Err(why)) => {
            notes.push(format!(
                "direct veth (RTT ≈ 0.05 ms) instead of {} ms: {why}",
                setup.rtt.as_millis()
            ));
            Topology::Direct
        }
        (None, _) => {
            if !setup.rtt.is_zero() {
                notes.push(format!(
                    "direct veth (RTT ≈ 0.05 ms) for the {} µs link",
                    setup.rtt.as_micros()
                ));
            }
            Topology::Direct
        }
    };
    let lab_failed = |e: LabError| not_run(format!("linux lab failed: {e}"));
    let lab = Lab::new(pair, topology).map_err(lab_failed)?;
    if let Some(b) = setup.backlog {
        // listen() caps its backlog at the namespace's somaxconn: the kernel backend's
        // listeners ask for 1024, the row's server gets `b`.
        lab.server_sysctl("net.core.somaxconn", &b.to_string())
            .map_err(lab_failed)?;
    }
    let serve: Serve = Arc::new(move |w| Ok(Box::pin(workload::serve(row, w.clone(), w))));
    lab.start_server(serve).map_err(lab_failed)?;
    Ok(Prepared { row, lab, notes })
}

impl Prepared {
    /// Runs the row's client half; returns the observation and the lab (to be dropped when
    /// every row is done, so no lab's teardown disturbs another row's measurement).
    pub(crate) fn measure(self) -> (Obs, Lab) {
        let Prepared {
            row,
            lab,
            mut notes,
        } = self;
        let obs = measure_in(row, &lab, &mut notes)
            .map(|mut obs| {
                for n in &notes {
                    obs.detail.push_str("; linux: ");
                    obs.detail.push_str(n);
                }
                obs
            })
            .unwrap_or_else(|e| not_run(format!("linux lab failed: {e}")));
        (obs, lab)
    }
}

fn measure_in(row: RowId, lab: &Lab, notes: &mut Vec<String>) -> Result<Obs, LabError> {
    let sampler = match row {
        RowId::SynRetries => Some(syns::Sampler::start(lab, "syns", "SYNs")),
        RowId::PartitionHeal10s | RowId::PartitionHeal30s | RowId::UserTimeout => Some(
            syns::Sampler::start(lab, "to_server", "segments to the server port"),
        ),
        _ => None,
    };
    let server = lab.server_ip().into();
    let (obs, took) = lab.run_client(KERNEL_CONNECT, move |w| async move {
        let t0 = w.now();
        let cx = Client {
            rt: w.clone(),
            net: w.clone(),
            server,
            faults: lab,
        };
        let o = workload::run(row, &cx).await;
        (o, w.now().saturating_duration_since(t0))
    })?;
    notes.push(format!("the client half took {:.1} s", took.as_secs_f64()));
    lab.check_faults()?;
    if let Some(s) = sampler {
        notes.push(s.finish());
    }
    if row == RowId::SynRetries {
        notes.push(format!(
            "tcp_syn_retries {}, tcp_syn_linear_timeouts {}",
            lab.client_sysctl("net.ipv4.tcp_syn_retries")?,
            lab.client_sysctl("net.ipv4.tcp_syn_linear_timeouts")
                .unwrap_or_else(|_| "(none)".into())
        ));
    }
    if row == RowId::TimeWait {
        notes.push(format!(
            "ip_local_port_range {}, tcp_tw_reuse {}",
            lab.client_sysctl("net.ipv4.ip_local_port_range")?,
            lab.client_sysctl("net.ipv4.tcp_tw_reuse")?
        ));
    }
    if row == RowId::Backlog {
        notes.push(format!(
            "server (somaxconn 8): {}",
            lab.server_tcp_ext(&[
                "ListenOverflows",
                "ListenDrops",
                "SyncookiesSent",
                "SyncookiesRecv"
            ])?
        ));
    }
    if row == RowId::UdpLoss {
        notes.push(format!(
            "server receive-buffer overflows {}",
            lab.server_udp_rcvbuf_errors()?
        ));
    }
    if let Some(stats) = lab.bridge_stats() {
        let st = stats?;
        notes.push(format!(
            "bridge client→server: {} frames, {} lost, {} queue drops, {} over MTU; server→client: {} frames, {} lost",
            st.a_to_b.offered, st.a_to_b.lost, st.a_to_b.queue_drops, st.a_to_b.mtu_drops,
            st.b_to_a.offered, st.b_to_a.lost
        ));
    }
    Ok(obs)
}

/// No value; `detail` says why.
pub(crate) fn not_run(detail: String) -> Obs {
    Obs {
        value: None,
        outcome: String::new(),
        detail,
    }
}
