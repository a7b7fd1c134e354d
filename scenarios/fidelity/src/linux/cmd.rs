//! The few commands the lab drives: `ip` (iproute2) and `nft` inside a namespace, and
//! sysctls read or written there. Each fails with the command line and its stderr.

use super::error::LabError;
use std::io::Write;
use std::process::{Command, Stdio};
use testbed_xdp::netns::Netns;

/// Runs `ip ARGS` in the caller's namespace.
pub(crate) fn ip(args: &[&str]) -> Result<(), LabError> {
    testbed_xdp::netns::ip(args)
        .map(|_| ())
        .map_err(LabError::setup)
}

/// Runs `cmd ARGS` inside `ns`; returns its stdout.
pub(crate) fn exec(ns: &Netns, cmd: &str, args: &[&str]) -> Result<String, LabError> {
    ns.exec(cmd, args)
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .map_err(LabError::setup)
}

/// Feeds `script` to `nft -f -` inside `ns`.
pub(crate) fn nft(ns: &Netns, script: &str) -> Result<(), LabError> {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name(), "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| LabError::Setup(format!("nft in {}: {e}", ns.name())))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| LabError::Setup(format!("nft stdin: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| LabError::Setup(format!("nft in {}: {e}", ns.name())))?;
    if !out.status.success() {
        return Err(LabError::Setup(format!(
            "nft in {}: {} (script: {})",
            ns.name(),
            String::from_utf8_lossy(&out.stderr).trim(),
            script.replace('\n', "; ")
        )));
    }
    Ok(())
}

/// Reads a sysctl (`net.ipv4.ip_local_port_range` style) inside `ns`.
pub(crate) fn sysctl_get(ns: &Netns, key: &str) -> Result<String, LabError> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    exec(ns, "cat", &[&path]).map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Writes a sysctl inside `ns`.
pub(crate) fn sysctl_set(ns: &Netns, key: &str, value: &str) -> Result<(), LabError> {
    exec(ns, "sysctl", &["-q", "-w", &format!("{key}={value}")]).map(|_| ())
}

/// Whether `tool --version` (or `tool -V`) runs.
pub(crate) fn has_tool(tool: &str) -> bool {
    ["--version", "-V"].iter().any(|flag| {
        Command::new(tool)
            .arg(flag)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Raises the calling thread's scheduling priority (nice -10) so that the bridge, which
/// sleeps between frames, keeps its timing on a loaded machine. Only for threads that mostly
/// sleep: a busy thread at -10 starves the `ip`/`nft` commands the fault verbs run (the
/// hosts' workers stay at the default). Best effort: a failure leaves the priority as it was.
pub(crate) fn boost_current_thread() {
    // "/proc/thread-self" links to "<pid>/task/<tid>".
    let tid = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name().and_then(|t| t.to_str()).map(str::to_string));
    if let Some(tid) = tid.filter(|t| t.bytes().all(|b| b.is_ascii_digit())) {
        let _ = Command::new("renice")
            .args(["-n", "-10", "-p", &tid])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
