//! A network namespace with a veth pair into it, for tests and benchmarks of the AF_PACKET
//! and AF_XDP ports: both are removed on drop (also when a test panics), so traffic stays
//! inside what was created here. Driven through `ip` (iproute2); needs root.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Setting up or using a namespace failed (the command and its stderr).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NetnsError(pub String);

/// A short name unique to this process and call (interface names hold at most 15 bytes).
pub fn unique(prefix: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let prefix: String = prefix.chars().take(5).collect();
    format!("{prefix}{}x{n}", std::process::id() % 100_000)
}

/// Runs `cmd ARGS`, failing with its stderr.
pub fn run(cmd: &str, args: &[&str]) -> Result<Output, NetnsError> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| NetnsError(format!("{cmd} {}: {e}", args.join(" "))))?;
    if !out.status.success() {
        return Err(NetnsError(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out)
}

/// Whether namespaces and veth pairs can be made here: root and `ip`. The error says why not.
pub fn usable() -> Result<(), NetnsError> {
    let uid = run("id", &["-u"])?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err(NetnsError("network namespaces need root".into()));
    }
    run("ip", &["-V"]).map(|_| ())
}

/// A network namespace holding the inner end of a veth pair whose outer end stays here.
/// Drop deletes the veth (both ends) and the namespace.
#[derive(Debug)]
pub struct VethNs {
    ns: String,
    /// The end in the caller's namespace (the one a DPDK port binds to).
    pub outer: String,
    /// The end inside the namespace.
    pub inner: String,
}

impl VethNs {
    /// Creates the namespace and the pair, both ends up, IPv6 off on both (no router or
    /// neighbour solicitations in the way), the inner end at `inner_ip`/24 and the outer at
    /// `outer_ip`/24.
    pub fn new(outer_ip: &str, inner_ip: &str) -> Result<VethNs, NetnsError> {
        let base = unique("tbd");
        let v = VethNs {
            ns: format!("{base}n"),
            outer: format!("{base}a"),
            inner: format!("{base}b"),
        };
        run("ip", &["netns", "add", &v.ns])?;
        // From here on, Drop cleans up whatever exists.
        run(
            "ip",
            &[
                "link", "add", &v.outer, "type", "veth", "peer", "name", &v.inner,
            ],
        )?;
        run("ip", &["link", "set", &v.inner, "netns", &v.ns])?;
        let _ = run(
            "sysctl",
            &["-qw", &format!("net.ipv6.conf.{}.disable_ipv6=1", v.outer)],
        );
        run(
            "ip",
            &["addr", "add", &format!("{outer_ip}/24"), "dev", &v.outer],
        )?;
        run("ip", &["link", "set", &v.outer, "up"])?;
        v.exec("sysctl", &["-qw", "net.ipv6.conf.all.disable_ipv6=1"])?;
        v.exec("ip", &["link", "set", "lo", "up"])?;
        v.exec(
            "ip",
            &["addr", "add", &format!("{inner_ip}/24"), "dev", &v.inner],
        )?;
        v.exec("ip", &["link", "set", &v.inner, "up"])?;
        Ok(v)
    }

    /// The namespace's name.
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// A command that runs `cmd` inside the namespace (not started yet).
    pub fn command(&self, cmd: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns, cmd]);
        c
    }

    /// Runs `cmd ARGS` inside the namespace, failing with its stderr.
    pub fn exec(&self, cmd: &str, args: &[&str]) -> Result<Output, NetnsError> {
        let mut all = vec!["netns", "exec", &self.ns, cmd];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// The inner end's MAC address.
    pub fn inner_mac(&self) -> Result<crate::MacAddr, NetnsError> {
        let p = format!("/sys/class/net/{}/address", self.inner);
        let out = self.exec("cat", &[&p])?;
        let s = String::from_utf8_lossy(&out.stdout);
        s.trim()
            .parse()
            .map_err(|e| NetnsError(format!("{p}: {e}")))
    }

    /// A counter of the inner end, e.g. `rx_packets` (from its sysfs statistics).
    pub fn inner_stat(&self, name: &str) -> Result<u64, NetnsError> {
        let p = format!("/sys/class/net/{}/statistics/{name}", self.inner);
        let out = self.exec("cat", &[&p])?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|e| NetnsError(format!("{p}: {e}")))
    }
}

impl Drop for VethNs {
    fn drop(&mut self) {
        let _ = run("ip", &["link", "del", &self.outer]);
        let _ = run("ip", &["netns", "del", &self.ns]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_fit_an_interface_name() {
        let a = unique("abcdefgh");
        let b = unique("abcdefgh");
        assert_ne!(a, b);
        // Three more bytes are appended for the namespace and the two ends.
        assert!(a.len() < 15, "{a}");
    }
}
