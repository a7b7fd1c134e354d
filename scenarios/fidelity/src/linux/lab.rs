//! A two-host lab: namespaces "client" (10.77.P.1) and "server" (10.77.P.2), joined by one
//! veth pair, or (for latency, bandwidth and loss) by two veth pairs into the root namespace
//! (ends without addresses) where the impairment bridge forwards between them. Partitions and loss are nft rules in
//! the hosts' input hooks (drops on input: the sender's kernel sees no local error, as with
//! a cable cut); a crash destroys the server namespace and recreates it with the same
//! address. Everything lives in namespaces this lab made and is removed on drop (also on a
//! panic).

use super::cmd::{self, nft};
use super::error::LabError;
use super::host::{self, Serve, ServerProc};
use super::wire::Wire;
use crate::workload::Faults;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use testbed_kernel::Worker;
use testbed_model::Duration;
use testbed_stack::bridge::{BridgeConfig, BridgeStats};
use testbed_xdp::netns::{unique, Netns};

/// How the hosts are joined.
#[derive(Clone, Debug)]
pub enum Topology {
    /// One veth pair: no delay, no loss (beyond nft rules).
    Direct,
    /// Two veth pairs and the impairment bridge between them.
    Bridged(BridgeConfig),
}

/// The nft table every host gets: a partition chain, an impairment chain and a crash chain
/// on input, and a counter of SYNs the host sends.
const BASE_RULES: &str = "add table inet fid
add chain inet fid crash { type filter hook input priority -10; policy accept; }
add chain inet fid part { type filter hook input priority 0; policy accept; }
add chain inet fid impair { type filter hook input priority 10; policy accept; }
add chain inet fid out { type filter hook output priority 0; policy accept; }
add counter inet fid syns
add rule inet fid out tcp flags & (syn | ack) == syn counter name syns
";

struct ServerHost {
    ns: Arc<Netns>,
    proc: Option<ServerProc>,
    serve: Option<Serve>,
}

/// The lab of one row. Not `Clone`; share it by reference (it is `Sync`).
pub struct Lab {
    pair: u8,
    client: Netns,
    server: Mutex<ServerHost>,
    wire: Mutex<Option<Wire>>,
    // The bridge's root-namespace veth ends (deleted after the bridge stopped: `Drop`
    // stops it first).
    _root_links: Vec<RootLink>,
    fault_errors: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Brings `iface` in `ns` up, with `addr/24` if given.
fn host_end(ns: &Netns, iface: &str, addr: Option<Ipv4Addr>) -> Result<(), LabError> {
    if let Some(a) = addr {
        cmd::exec(ns, "ip", &["addr", "add", &format!("{a}/24"), "dev", iface])?;
    }
    cmd::exec(ns, "ip", &["link", "set", iface, "up"])?;
    Ok(())
}

/// Checksum and segmentation offloads off: frames that cross AF_XDP must carry full
/// checksums and fit the MTU.
fn offloads_off(ns: &Netns, iface: &str) -> Result<(), LabError> {
    cmd::exec(
        ns,
        "ethtool",
        &["-K", iface, "tx", "off", "tso", "off", "gso", "off", "gro", "off"],
    )
    .map(|_| ())
}

/// A veth pair with one end in `a` and the other in `b`; returns the two names.
fn veth_between(a: &Netns, b: &Netns) -> Result<(String, String), LabError> {
    let base = unique("fv");
    let (na, nb) = (format!("{base}a"), format!("{base}b"));
    cmd::ip(&[
        "link", "add", &na, "netns", a.name(), "type", "veth", "peer", "name", &nb, "netns",
        b.name(),
    ])?;
    Ok((na, nb))
}

/// A veth pair with one end in `ns` and the other in the root namespace (where AF_XDP ports
/// find interfaces through sysfs); the root end has no address, no IPv6 and its offloads
/// off, and is deleted with the returned guard.
fn veth_to_root(ns: &Netns) -> Result<(String, RootLink), LabError> {
    let base = unique("fr");
    let (inner, outer) = (format!("{base}a"), format!("{base}b"));
    cmd::ip(&[
        "link", "add", &outer, "type", "veth", "peer", "name", &inner, "netns", ns.name(),
    ])?;
    let root = RootLink(outer);
    let _ = std::fs::write(
        format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", root.0),
        "1",
    );
    let out = std::process::Command::new("ethtool")
        .args(["-K", &root.0, "tx", "off", "tso", "off", "gso", "off", "gro", "off"])
        .output()
        .map_err(|e| LabError::Setup(format!("ethtool: {e}")))?;
    if !out.status.success() {
        return Err(LabError::Setup(format!(
            "ethtool -K {}: {}",
            root.0,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    cmd::ip(&["link", "set", &root.0, "up"])?;
    Ok((inner, root))
}

/// A root-namespace veth end, deleted (with its peer) on drop.
struct RootLink(String);

impl Drop for RootLink {
    fn drop(&mut self) {
        let _ = cmd::ip(&["link", "del", &self.0]);
    }
}

/// Waits until `iface` (in `ns`, or the root namespace) is up with its queueing set up:
/// right after a link comes up the kernel drops what it sends for up to a second (the
/// "noop" qdisc until link-watch activates the device), which would pass for a lost SYN.
fn wait_ready(ns: Option<&Netns>, iface: &str) -> Result<(), LabError> {
    for _ in 0..250 {
        let out = match ns {
            Some(ns) => cmd::exec(ns, "ip", &["-o", "link", "show", "dev", iface])?,
            None => {
                let o = testbed_xdp::netns::ip(&["-o", "link", "show", "dev", iface])
                    .map_err(LabError::setup)?;
                String::from_utf8_lossy(&o.stdout).into_owned()
            }
        };
        if out.contains("state UP") && !out.contains("qdisc noop") {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Err(LabError::Setup(format!("{iface} did not come up within 5 s")))
}

/// A fresh host namespace with the lab's nft table.
fn host_ns(prefix: &str) -> Result<Netns, LabError> {
    let ns = Netns::new(prefix).map_err(LabError::setup)?;
    nft(&ns, BASE_RULES)?;
    // IPv6 router and neighbour chatter would only add frames to the links.
    let _ = cmd::sysctl_set(&ns, "net.ipv6.conf.all.disable_ipv6", "1");
    let _ = cmd::sysctl_set(&ns, "net.ipv6.conf.default.disable_ipv6", "1");
    Ok(ns)
}

impl Lab {
    /// Builds the lab for pair number `pair` (the subnet 10.77.`pair`.0/24 inside its
    /// namespaces).
    pub fn new(pair: u8, topology: Topology) -> Result<Lab, LabError> {
        let client = host_ns("fc")?;
        let server = Arc::new(host_ns("fs")?);
        let (c_ip, s_ip) = (Self::ip_of(pair, 1), Self::ip_of(pair, 2));
        let (wire, root_links) = match topology {
            Topology::Direct => {
                let (c, s) = veth_between(&client, &server)?;
                host_end(&client, &c, Some(c_ip))?;
                host_end(&server, &s, Some(s_ip))?;
                wait_ready(Some(&client), &c)?;
                wait_ready(Some(&server), &s)?;
                (None, Vec::new())
            }
            Topology::Bridged(cfg) => {
                let (c, wc) = veth_to_root(&client)?;
                let (s, ws) = veth_to_root(&server)?;
                offloads_off(&client, &c)?;
                offloads_off(&server, &s)?;
                host_end(&client, &c, Some(c_ip))?;
                host_end(&server, &s, Some(s_ip))?;
                let wire = Wire::start(wc.0.clone(), ws.0.clone(), cfg)?;
                wait_ready(None, &wc.0)?;
                wait_ready(None, &ws.0)?;
                wait_ready(Some(&client), &c)?;
                wait_ready(Some(&server), &s)?;
                (Some(wire), vec![wc, ws])
            }
        };
        Ok(Lab {
            pair,
            client,
            server: Mutex::new(ServerHost {
                ns: server,
                proc: None,
                serve: None,
            }),
            wire: Mutex::new(wire),
            _root_links: root_links,
            fault_errors: Mutex::new(Vec::new()),
        })
    }

    fn ip_of(pair: u8, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, pair, host)
    }

    /// The client's address.
    pub fn client_ip(&self) -> Ipv4Addr {
        Self::ip_of(self.pair, 1)
    }

    /// The server's address.
    pub fn server_ip(&self) -> Ipv4Addr {
        Self::ip_of(self.pair, 2)
    }

    /// `server_ip():port`.
    pub fn server_addr(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.server_ip().into(), port)
    }

    /// The client namespace.
    pub fn client_ns(&self) -> &Netns {
        &self.client
    }

    /// Starts the server process with `serve` (kept for restarts after a crash).
    pub fn start_server(&self, serve: Serve) -> Result<(), LabError> {
        let mut s = lock(&self.server);
        if let Some(mut p) = s.proc.take() {
            p.stop();
        }
        s.serve = Some(serve.clone());
        s.proc = Some(ServerProc::start(s.ns.clone(), serve)?);
        Ok(())
    }

    /// Ends the server process (its sockets close as on a process exit); the host stays up.
    pub fn stop_server(&self) {
        if let Some(mut p) = lock(&self.server).proc.take() {
            p.stop();
        }
    }

    /// Runs `f` as the client (a kernel-backend worker in the client namespace).
    pub fn run_client<T, Fut, F>(&self, connect_timeout: Duration, f: F) -> Result<T, LabError>
    where
        T: Send,
        Fut: Future<Output = T>,
        F: FnOnce(Worker) -> Fut + Send,
    {
        host::run_in(&self.client, connect_timeout, f)
    }

    /// Drops a fraction `percent`/100 of the packets the server receives from the client
    /// (nft `numgen random`), for protocol `proto` ("udp" or "tcp").
    pub fn server_loss(&self, proto: &str, percent: u8) -> Result<(), LabError> {
        let s = lock(&self.server);
        nft(
            &s.ns,
            &format!(
                "add rule inet fid impair ip saddr {} meta l4proto {proto} numgen random mod 100 < {percent} counter drop\n",
                self.client_ip()
            ),
        )
    }

    /// Packets the server's impairment chain dropped so far.
    pub fn server_loss_dropped(&self) -> Result<u64, LabError> {
        let s = lock(&self.server);
        let out = cmd::exec(&s.ns, "nft", &["list", "chain", "inet", "fid", "impair"])?;
        Ok(parse_packets(&out))
    }

    /// UDP datagrams the server's kernel dropped for a full receive buffer (`RcvbufErrors`
    /// of the server namespace's /proc/net/snmp).
    pub fn server_udp_rcvbuf_errors(&self) -> Result<u64, LabError> {
        let s = lock(&self.server);
        let snmp = cmd::exec(&s.ns, "cat", &["/proc/net/snmp"])?;
        Ok(snmp_field(&snmp, "Udp:", "RcvbufErrors").unwrap_or(0))
    }

    /// SYNs (without ACK) the client has sent so far.
    pub fn client_syns(&self) -> Result<u64, LabError> {
        let out = cmd::exec(&self.client, "nft", &["list", "counter", "inet", "fid", "syns"])?;
        Ok(parse_packets(&out))
    }

    /// A sysctl of the client namespace.
    pub fn client_sysctl(&self, key: &str) -> Result<String, LabError> {
        cmd::sysctl_get(&self.client, key)
    }

    /// `Err` with every fault verb that failed so far (a row's result is void then).
    pub fn check_faults(&self) -> Result<(), LabError> {
        let e = lock(&self.fault_errors);
        if e.is_empty() {
            Ok(())
        } else {
            Err(LabError::Fault(e.join("; ")))
        }
    }

    /// Stops the bridge (if any) and returns its counters.
    pub fn bridge_stats(&self) -> Option<Result<BridgeStats, LabError>> {
        lock(&self.wire).as_mut().map(|w| w.stop())
    }

    fn record(&self, r: Result<(), LabError>) {
        if let Err(e) = r {
            lock(&self.fault_errors).push(e.to_string());
        }
    }

    fn try_crash(&self) -> Result<(), LabError> {
        // The server's last words (FIN or RST of its closing sockets) must not reach the
        // client: a crashed host says nothing.
        nft(
            &self.client,
            &format!("add rule inet fid crash ip saddr {} drop\n", self.server_ip()),
        )?;
        let mut s = lock(&self.server);
        if let Some(mut p) = s.proc.take() {
            p.stop();
        }
        // Deleting the namespace destroys its sockets and the veth pair with it.
        let fresh = Arc::new(host_ns("fs")?);
        let old = std::mem::replace(&mut s.ns, fresh);
        drop(old);
        Ok(())
    }

    fn try_restart(&self) -> Result<(), LabError> {
        if lock(&self.wire).is_some() {
            return Err(LabError::Fault(
                "crash/restart is built for the direct topology only".into(),
            ));
        }
        let mut s = lock(&self.server);
        let (c, sv) = veth_between(&self.client, &s.ns)?;
        host_end(&self.client, &c, Some(self.client_ip()))?;
        host_end(&s.ns, &sv, Some(self.server_ip()))?;
        wait_ready(Some(&self.client), &c)?;
        wait_ready(Some(&s.ns), &sv)?;
        if let Some(serve) = s.serve.clone() {
            s.proc = Some(ServerProc::start(s.ns.clone(), serve)?);
        }
        drop(s);
        nft(&self.client, "flush chain inet fid crash\n")
    }
}

/// A field of /proc/net/snmp: the header line and the value line share `prefix`.
fn snmp_field(snmp: &str, prefix: &str, field: &str) -> Option<u64> {
    let mut lines = snmp.lines().filter(|l| l.starts_with(prefix));
    let (names, values) = (lines.next()?, lines.next()?);
    let i = names.split_whitespace().position(|n| n == field)?;
    values.split_whitespace().nth(i)?.parse().ok()
}

/// The first `packets N` of an nft listing (0 when there is none).
fn parse_packets(listing: &str) -> u64 {
    let mut words = listing.split_whitespace();
    while let Some(w) = words.next() {
        if w == "packets" {
            return words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        }
    }
    0
}

impl Faults for Lab {
    fn partition(&self) {
        let s = lock(&self.server);
        let r = nft(
            &self.client,
            &format!("add rule inet fid part ip saddr {} drop\n", self.server_ip()),
        )
        .and_then(|_| {
            nft(
                &s.ns,
                &format!("add rule inet fid part ip saddr {} drop\n", self.client_ip()),
            )
        });
        drop(s);
        self.record(r);
    }

    fn partition_oneway(&self) {
        let s = lock(&self.server);
        let r = nft(
            &s.ns,
            &format!("add rule inet fid part ip saddr {} drop\n", self.client_ip()),
        );
        drop(s);
        self.record(r);
    }

    fn heal(&self) {
        let s = lock(&self.server);
        let r = nft(&self.client, "flush chain inet fid part\n")
            .and_then(|_| nft(&s.ns, "flush chain inet fid part\n"));
        drop(s);
        self.record(r);
    }

    fn crash_server(&self) {
        let r = self.try_crash();
        self.record(r);
    }

    fn restart_server(&self) {
        let r = self.try_restart();
        self.record(r);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop_server();
        if let Some(mut w) = lock(&self.wire).take() {
            let _ = w.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parse_packets_reads_the_first_counter() {
        let l = "table inet fid {\n counter syns {\n packets 5 bytes 300\n }\n}";
        assert_eq!(super::parse_packets(l), 5);
        assert_eq!(super::parse_packets("nothing"), 0);
    }

    #[test]
    fn snmp_field_reads_the_value_under_its_name() {
        let s = "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors\nUdp: 10 0 3 5 3\n";
        assert_eq!(super::snmp_field(s, "Udp:", "RcvbufErrors"), Some(3));
        assert_eq!(super::snmp_field(s, "Tcp:", "RcvbufErrors"), None);
    }
}
