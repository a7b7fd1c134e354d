//! `testbed xdp attach` on a machine without bpffs mounted (a fresh one): it mounts bpffs at
//! /sys/fs/bpf itself, as bpftool does. Runs in a private mount and network namespace
//! (`unshare -m -n`), so the machine's own bpffs (if any) is never unmounted; the filter goes on
//! that namespace's loopback. Needs root, unshare and the XDP programs (clang at build time).

use std::process::Command;

#[test]
fn xdp_attach_mounts_bpffs_when_it_is_missing() {
    if !testbed_testkit::root("mount namespaces and XDP")
        || !testbed_testkit::tool("unshare", "apt-get install util-linux")
        || testbed_testkit::require(testbed_xdp::available()).is_none()
    {
        return;
    }
    let tb = env!("CARGO_BIN_EXE_testbed");
    let script = format!(
        r#"set -e
umount /sys/fs/bpf 2>/dev/null || true
before=$(stat -f -c %T /sys/fs/bpf)
ip link set lo up
{tb} xdp attach lo
after=$(stat -f -c %T /sys/fs/bpf)
{tb} xdp stats lo
{tb} xdp detach lo
test ! -e /sys/fs/bpf/testbed/lo
echo "before=$before after=$after"
"#
    );
    let out = Command::new("unshare")
        .args(["-m", "-n", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("runs unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("attached to lo") && stdout.contains("\"counters\""),
        "{stdout}"
    );
    assert!(
        !stdout.contains("before=bpf_fs"),
        "bpffs was still mounted before attach: {stdout}"
    );
    assert!(stdout.contains("after=bpf_fs"), "{stdout}");
}
