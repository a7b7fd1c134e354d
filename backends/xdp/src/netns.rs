//! Network namespaces and veth pairs for tests and benchmarks, removed on drop (also when a
//! test panics), so traffic stays inside what the test created. Driven through `ip`
//! (iproute2); needs root.

use crate::XdpError;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A short name unique to this process and call (interface names hold at most 15 bytes).
pub fn unique(prefix: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}x{n}", std::process::id() % 100_000)
}

/// Runs `ip ARGS`, failing with its stderr.
pub fn ip(args: &[&str]) -> Result<Output, XdpError> {
    run("ip", args)
}

fn run(cmd: &str, args: &[&str]) -> Result<Output, XdpError> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| XdpError::Setup(format!("{cmd} {}: {e}", args.join(" "))))?;
    if !out.status.success() {
        return Err(XdpError::Setup(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out)
}

/// A network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a namespace named `unique(prefix)` with its loopback up.
    pub fn new(prefix: &str) -> Result<Netns, XdpError> {
        let ns = Netns {
            name: unique(prefix),
        };
        ip(&["netns", "add", &ns.name])?;
        ns.exec("ip", &["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `cmd ARGS` inside the namespace.
    pub fn exec(&self, cmd: &str, args: &[&str]) -> Result<Output, XdpError> {
        let mut all = vec!["netns", "exec", &self.name, cmd];
        all.extend_from_slice(args);
        ip(&all)
    }
}

impl Netns {
    /// Runs `f` on a new thread that has entered this namespace (the caller's thread stays
    /// where it is); XDP attachments and BPF test runs made there see the namespace's
    /// interfaces.
    pub fn run_in<T: Send, F: FnOnce() -> T + Send>(&self, f: F) -> Result<T, XdpError> {
        let path = format!("/run/netns/{}", self.name);
        let file =
            std::fs::File::open(&path).map_err(|e| XdpError::Setup(format!("open {path}: {e}")))?;
        std::thread::scope(|s| {
            s.spawn(move || {
                enter(&file).map_err(|e| XdpError::Setup(format!("setns {path}: {e}")))?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }
}

#[allow(unsafe_code)]
fn enter(ns: &std::fs::File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: setns on an open namespace fd affects only the calling thread's network
    // namespace; it reads no memory of ours.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// A veth pair: `outer` stays in this namespace, `inner` moves into a [`Netns`]; both get an
/// IPv4 address of a /24 and come up. Deleting the outer end on drop removes both.
#[derive(Debug)]
pub struct Veth {
    /// The end in the caller's namespace.
    pub outer: String,
    /// The end in the namespace.
    pub inner: String,
}

impl Veth {
    /// Creates the pair; `outer_ip` and `inner_ip` are in the same /24.
    pub fn new(ns: &Netns, outer_ip: &str, inner_ip: &str) -> Result<Veth, XdpError> {
        let base = unique("tb");
        let v = Veth {
            outer: format!("{base}a"),
            inner: format!("{base}b"),
        };
        ip(&[
            "link", "add", &v.outer, "type", "veth", "peer", "name", &v.inner,
        ])?;
        ip(&["link", "set", &v.inner, "netns", ns.name()])?;
        ip(&["addr", "add", &format!("{outer_ip}/24"), "dev", &v.outer])?;
        ip(&["link", "set", &v.outer, "up"])?;
        ns.exec(
            "ip",
            &["addr", "add", &format!("{inner_ip}/24"), "dev", &v.inner],
        )?;
        ns.exec("ip", &["link", "set", &v.inner, "up"])?;
        Ok(v)
    }
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut m = [0u8; 6];
    let mut parts = s.trim().split(':');
    for b in m.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(m)
}

impl Veth {
    /// The outer end's MAC address.
    pub fn outer_mac(&self) -> Result<[u8; 6], XdpError> {
        let p = format!("/sys/class/net/{}/address", self.outer);
        let s = std::fs::read_to_string(&p).map_err(|e| XdpError::Setup(format!("{p}: {e}")))?;
        parse_mac(&s).ok_or_else(|| XdpError::Setup(format!("{p}: not a MAC address: {s:?}")))
    }

    /// The inner end's MAC address (read inside `ns`).
    pub fn inner_mac(&self, ns: &Netns) -> Result<[u8; 6], XdpError> {
        let p = format!("/sys/class/net/{}/address", self.inner);
        let out = ns.exec("cat", &[&p])?;
        let s = String::from_utf8_lossy(&out.stdout);
        parse_mac(&s).ok_or_else(|| XdpError::Setup(format!("{p}: not a MAC address: {s:?}")))
    }

    /// The outer end's interface index.
    pub fn outer_ifindex(&self) -> Result<u32, XdpError> {
        let p = format!("/sys/class/net/{}/ifindex", self.outer);
        std::fs::read_to_string(&p)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| XdpError::Setup(format!("{p}: no interface index")))
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.outer]);
    }
}
