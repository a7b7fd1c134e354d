//! A two-host lab: namespaces "client" (10.77.P.1) and "server" (10.77.P.2), joined by one
//! veth pair, or (for latency, bandwidth and loss) by two veth pairs into the root namespace
//! (ends without addresses) where the impairment bridge forwards between them. Partitions and loss are nft rules in
//! the hosts' input hooks (drops on input: the sender's kernel sees no local error, as with
//! a cable cut); a crash destroys the server namespace and recreates it with the same
//! address. Everything lives in namespaces this lab made and is removed on drop (also on a
//! panic).

use super::cmd::{self, nft};
use super::control::Control;
use super::error::LabError;
use super::host::{self, Serve, ServerProc};
use super::nft_shell::NftShell;
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
    Bridged(Box<BridgeConfig>),
}

/// The nft table every host gets: a partition chain, an impairment chain and a crash chain
/// on input, and counters of the SYNs the host sends and of its TCP segments to port 7000.
const BASE_RULES: &str = "add table inet fid
add chain inet fid crash { type filter hook input priority -10; policy accept; }
add chain inet fid part { type filter hook input priority 0; policy accept; }
add chain inet fid impair { type filter hook input priority 10; policy accept; }
add chain inet fid out { type filter hook output priority 0; policy accept; }
add counter inet fid syns
add counter inet fid to_server
add rule inet fid out tcp flags & (syn | ack) == syn counter name syns
add rule inet fid out tcp dport 7000 counter name to_server
";

struct ServerHost {
    /// `nft -i` in the server namespace (replaced with it on a restart).
    nft: NftShell,
    ns: Arc<Netns>,
    proc: Option<ServerProc>,
    serve: Option<Serve>,
    /// Sysctls set on the server namespace, set again on a fresh one after a crash.
    sysctls: Vec<(String, String)>,
    /// The server's root-namespace veth end when the hosts are bridged.
    root: Option<RootLink>,
}

/// The lab of one row: its hosts, and the control thread that crashes and restarts the
/// server from the root namespace. Share it by reference (it is `Sync`); everything it
/// made is removed when it is dropped.
pub struct Lab {
    // Dropped first: its thread holds the other reference to `hosts`.
    control: Control<Hosts>,
    hosts: Arc<Hosts>,
}

/// The namespaces, links, processes and bridge of a lab.
pub struct Hosts {
    pair: u8,
    // Declared before the namespace: the shell ends before the namespace goes.
    client_nft: Arc<Mutex<NftShell>>,
    client: Netns,
    server: Mutex<ServerHost>,
    wire: Mutex<Option<Wire>>,
    /// The bridge's link model (restarted with the server's new link after a crash).
    bridge: Option<BridgeConfig>,
    /// The client's root-namespace veth end when bridged (deleted after the bridge
    /// stopped: `Drop` stops it first).
    client_root: Option<RootLink>,
    /// The client's own end of its link when bridged (for neighbour entries).
    client_if: String,
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
        &[
            "-K", iface, "tx", "off", "tso", "off", "gso", "off", "gro", "off",
        ],
    )
    .map(|_| ())
}

/// A veth pair with one end in `a` and the other in `b`; returns the two names.
fn veth_between(a: &Netns, b: &Netns) -> Result<(String, String), LabError> {
    let base = unique("fv");
    let (na, nb) = (format!("{base}a"), format!("{base}b"));
    cmd::ip(&[
        "link",
        "add",
        &na,
        "netns",
        a.name(),
        "type",
        "veth",
        "peer",
        "name",
        &nb,
        "netns",
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
        "link",
        "add",
        &outer,
        "type",
        "veth",
        "peer",
        "name",
        &inner,
        "netns",
        ns.name(),
    ])?;
    let root = RootLink(outer);
    let _ = std::fs::write(
        format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", root.0),
        "1",
    );
    let out = std::process::Command::new("ethtool")
        .args([
            "-K", &root.0, "tx", "off", "tso", "off", "gso", "off", "gro", "off",
        ])
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

/// The MAC address of `iface` in `ns`.
fn mac_of(ns: &Netns, iface: &str) -> Result<String, LabError> {
    let m = cmd::exec(ns, "cat", &[&format!("/sys/class/net/{iface}/address")])?;
    Ok(m.trim().to_string())
}

/// A permanent neighbour entry in `ns`: `ip` is at `mac` on `iface`. The bridged rows use
/// them so that no ARP exchange (a round trip over the delayed link) precedes the first
/// packet of a row.
fn static_neighbour(ns: &Netns, iface: &str, ip: Ipv4Addr, mac: &str) -> Result<(), LabError> {
    cmd::exec(
        ns,
        "ip",
        &[
            "neigh",
            "replace",
            &ip.to_string(),
            "lladdr",
            mac,
            "dev",
            iface,
            "nud",
            "permanent",
        ],
    )
    .map(|_| ())
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
    Err(LabError::Setup(format!(
        "{iface} did not come up within 5 s"
    )))
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
    /// namespaces). Call it from the root namespace.
    pub fn new(pair: u8, topology: Topology) -> Result<Lab, LabError> {
        let hosts = Arc::new(Hosts::new(pair, topology)?);
        let control = Control::start(hosts.clone())?;
        Ok(Lab { hosts, control })
    }
}

impl std::ops::Deref for Lab {
    type Target = Hosts;
    fn deref(&self) -> &Hosts {
        &self.hosts
    }
}

impl Hosts {
    fn new(pair: u8, topology: Topology) -> Result<Hosts, LabError> {
        let client = host_ns("fc")?;
        let server = Arc::new(host_ns("fs")?);
        let (c_ip, s_ip) = (Self::ip_of(pair, 1), Self::ip_of(pair, 2));
        let bridge = match &topology {
            Topology::Bridged(cfg) => Some(BridgeConfig::clone(cfg)),
            Topology::Direct => None,
        };
        let mut client_if = String::new();
        let (wire, client_root, server_root) = match topology {
            Topology::Direct => {
                let (c, s) = veth_between(&client, &server)?;
                host_end(&client, &c, Some(c_ip))?;
                host_end(&server, &s, Some(s_ip))?;
                wait_ready(Some(&client), &c)?;
                wait_ready(Some(&server), &s)?;
                (None, None, None)
            }
            Topology::Bridged(cfg) => {
                let (c, wc) = veth_to_root(&client)?;
                let (s, ws) = veth_to_root(&server)?;
                offloads_off(&client, &c)?;
                offloads_off(&server, &s)?;
                host_end(&client, &c, Some(c_ip))?;
                host_end(&server, &s, Some(s_ip))?;
                client_if = c.clone();
                static_neighbour(&client, &c, s_ip, &mac_of(&server, &s)?)?;
                static_neighbour(&server, &s, c_ip, &mac_of(&client, &c)?)?;
                let wire = Wire::start(wc.0.clone(), ws.0.clone(), *cfg)?;
                wait_ready(None, &wc.0)?;
                wait_ready(None, &ws.0)?;
                wait_ready(Some(&client), &c)?;
                wait_ready(Some(&server), &s)?;
                (Some(wire), Some(wc), Some(ws))
            }
        };
        let client_nft = Arc::new(Mutex::new(NftShell::start(client.name())?));
        let server_nft = NftShell::start(server.name())?;
        Ok(Hosts {
            pair,
            client_nft,
            client,
            server: Mutex::new(ServerHost {
                nft: server_nft,
                ns: server,
                proc: None,
                serve: None,
                sysctls: Vec::new(),
                root: server_root,
            }),
            wire: Mutex::new(wire),
            bridge,
            client_root,
            client_if,
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

    /// The server namespace's name (it changes on a crash and restart).
    pub fn server_ns_name(&self) -> String {
        lock(&self.server).ns.name().to_string()
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

    /// The server namespace's TCP counters `fields` (from /proc/net/netstat "TcpExt:"),
    /// as "name value" pairs.
    pub fn server_tcp_ext(&self, fields: &[&str]) -> Result<String, LabError> {
        let s = lock(&self.server);
        let netstat = cmd::exec(&s.ns, "cat", &["/proc/net/netstat"])?;
        Ok(fields
            .iter()
            .map(|f| {
                let v = snmp_field(&netstat, "TcpExt:", f).map_or("?".into(), |v| v.to_string());
                format!("{f} {v}")
            })
            .collect::<Vec<_>>()
            .join(", "))
    }

    /// A probe of one of the client's packet counters ("syns": SYNs without ACK it sent;
    /// "to_server": its TCP segments to port 7000), usable from any thread while the lab
    /// lives.
    pub fn client_counter_probe(
        &self,
        counter: &'static str,
    ) -> impl Fn() -> Result<u64, LabError> + Send + 'static {
        let shell = self.client_nft.clone();
        move || {
            let out = lock(&shell).run("", &format!("list counter inet fid {counter}"))?;
            Ok(parse_packets(&out))
        }
    }

    /// Adds `rule` to `chain` (or flushes `chain` when `rule` is `None`) through `shell`,
    /// and checks the chain's listing shows it.
    fn set_chain(shell: &mut NftShell, chain: &str, rule: Option<&str>) -> Result<(), LabError> {
        let cmd = match rule {
            Some(r) => format!("add rule inet fid {chain} {r}"),
            None => format!("flush chain inet fid {chain}"),
        };
        let listing = shell.run(&cmd, &format!("list chain inet fid {chain}"))?;
        let has_drop = listing.contains(" drop");
        if has_drop != rule.is_some() {
            return Err(LabError::Fault(format!(
                "`{cmd}` did not take effect: {}",
                listing.replace('\n', " ")
            )));
        }
        Ok(())
    }

    /// Sets a sysctl of the server namespace (kept across a crash and restart).
    pub fn server_sysctl(&self, key: &str, value: &str) -> Result<(), LabError> {
        let mut s = lock(&self.server);
        cmd::sysctl_set(&s.ns, key, value)?;
        s.sysctls.push((key.to_string(), value.to_string()));
        Ok(())
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

    pub(crate) fn record(&self, r: Result<(), LabError>) {
        if let Err(e) = r {
            lock(&self.fault_errors).push(e.to_string());
        }
    }

    fn try_crash(&self) -> Result<(), LabError> {
        // The server's last words (FIN or RST of its closing sockets) must not reach the
        // client: a crashed host says nothing.
        Self::set_chain(
            &mut lock(&self.client_nft),
            "crash",
            Some(&format!("ip saddr {} drop", self.server_ip())),
        )?;
        let mut s = lock(&self.server);
        if let Some(mut p) = s.proc.take() {
            p.stop();
        }
        // The bridge's port on the server's link goes with the namespace: stop it first.
        if let Some(mut w) = lock(&self.wire).take() {
            w.stop()?;
        }
        // Deleting the namespace destroys its sockets and its veth pair.
        let fresh = Arc::new(host_ns("fs")?);
        for (k, v) in &s.sysctls {
            cmd::sysctl_set(&fresh, k, v)?;
        }
        s.root = None;
        s.nft = NftShell::start(fresh.name())?;
        let old = std::mem::replace(&mut s.ns, fresh);
        drop(old);
        Ok(())
    }

    fn try_restart(&self) -> Result<(), LabError> {
        let mut s = lock(&self.server);
        match (&self.bridge, &self.client_root) {
            (Some(cfg), Some(client_root)) => {
                let (sv, ws) = veth_to_root(&s.ns)?;
                offloads_off(&s.ns, &sv)?;
                host_end(&s.ns, &sv, Some(self.server_ip()))?;
                let client_mac = mac_of(&self.client, &self.client_if)?;
                static_neighbour(&s.ns, &sv, self.client_ip(), &client_mac)?;
                static_neighbour(
                    &self.client,
                    &self.client_if,
                    self.server_ip(),
                    &mac_of(&s.ns, &sv)?,
                )?;
                let wire = Wire::start(client_root.0.clone(), ws.0.clone(), cfg.clone())?;
                wait_ready(None, &ws.0)?;
                wait_ready(Some(&s.ns), &sv)?;
                *lock(&self.wire) = Some(wire);
                s.root = Some(ws);
            }
            _ => {
                let (c, sv) = veth_between(&self.client, &s.ns)?;
                host_end(&self.client, &c, Some(self.client_ip()))?;
                host_end(&s.ns, &sv, Some(self.server_ip()))?;
                wait_ready(Some(&self.client), &c)?;
                wait_ready(Some(&s.ns), &sv)?;
            }
        }
        if let Some(serve) = s.serve.clone() {
            s.proc = Some(ServerProc::start(s.ns.clone(), serve)?);
        }
        drop(s);
        Self::set_chain(&mut lock(&self.client_nft), "crash", None)
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
        let mut s = lock(&self.server);
        let r = Hosts::set_chain(
            &mut lock(&self.client_nft),
            "part",
            Some(&format!("ip saddr {} drop", self.server_ip())),
        )
        .and_then(|_| {
            Hosts::set_chain(
                &mut s.nft,
                "part",
                Some(&format!("ip saddr {} drop", self.client_ip())),
            )
        });
        drop(s);
        self.record(r);
    }

    fn partition_oneway(&self) {
        let mut s = lock(&self.server);
        let r = Hosts::set_chain(
            &mut s.nft,
            "part",
            Some(&format!("ip saddr {} drop", self.client_ip())),
        );
        drop(s);
        self.record(r);
    }

    fn heal(&self) {
        let mut s = lock(&self.server);
        let r = Hosts::set_chain(&mut lock(&self.client_nft), "part", None)
            .and_then(|_| Hosts::set_chain(&mut s.nft, "part", None));
        drop(s);
        self.record(r);
    }

    fn crash_server(&self) {
        let r = self.control.run(|h| h.try_crash());
        self.record(r);
    }

    fn restart_server(&self) {
        let r = self.control.run(|h| h.try_restart());
        self.record(r);
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        self.stop_server();
        if let Some(mut w) = lock(&self.wire).take() {
            let _ = w.stop();
        }
        // Root-namespace ends go explicitly (the namespaces' deletion would take them too).
        lock(&self.server).root = None;
        self.client_root = None;
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
