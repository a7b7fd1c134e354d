//! The claims of the guide 网络编程进阶主题 that only the root-and-time benches measure (§1 zero-copy,
//! §2 io_uring, XDP, DPDK). The report reads their records from the claims files; a claim with
//! no record is listed as not run here, with the command that measures it.

use super::claim::{Claim, Verdict};

/// A claim a bench writes, and how to get it.
pub struct BenchClaim {
    /// The id the bench writes.
    pub id: &'static str,
    /// Seed section.
    pub section: &'static str,
    /// The claim in words.
    pub claim: &'static str,
    /// The guide's number (网络编程进阶主题).
    pub seed_value: &'static str,
    /// Backend the bench measures on.
    pub backend: &'static str,
    /// The script that measures it.
    pub script: &'static str,
    /// What the script needs.
    pub needs: &'static str,
}

const IO: &str = "scripts/bench-io-paths";
const IO_NEEDS: &str = "a release build, strace, a few minutes";
const ECHO: &str = "scripts/bench-uring-echo";
const ECHO_NEEDS: &str = "2 CPUs, the echo peers' release build, about 5 minutes (the full protocol: SECS=10 RUNS=6, about 20)";
const XDP: &str = "scripts/bench-xdp";
const XDP_NEEDS: &str = "root, clang and BPF (veth namespaces), a few minutes";
const DPDK: &str = "scripts/bench-dpdk";
const DPDK_NEEDS: &str = "root, DPDK 22.11 (libdpdk-dev), hugepages";

/// Every bench claim, in seed order.
pub const BENCH_CLAIMS: &[BenchClaim] = &[
    BenchClaim {
        id: "zero-copy.copies",
        section: "1",
        claim: "read/write makes 4 copies (2 by the CPU), sendfile 2 (0 by the CPU)",
        seed_value: "4 vs 2",
        backend: "kernel",
        script: IO,
        needs: IO_NEEDS,
    },
    BenchClaim {
        id: "zero-copy.sendfile-speed",
        section: "1",
        claim: "sendfile is 2-3x faster than read/write",
        seed_value: "2-3x",
        backend: "kernel",
        script: IO,
        needs: IO_NEEDS,
    },
    BenchClaim {
        id: "zero-copy.sendfile-cpu",
        section: "1",
        claim: "sendfile saves about 50% CPU",
        seed_value: "0.5x",
        backend: "kernel",
        script: IO,
        needs: IO_NEEDS,
    },
    BenchClaim {
        id: "zero-copy.context-switches",
        section: "1",
        claim: "read/write costs 4 context switches, sendfile 2",
        seed_value: "4 vs 2",
        backend: "kernel",
        script: IO,
        needs: IO_NEEDS,
    },
    BenchClaim {
        id: "zero-copy.splice-proxy",
        section: "1.2",
        claim: "splice proxying avoids user-space copies",
        seed_value: "0 user copies",
        backend: "kernel",
        script: IO,
        needs: IO_NEEDS,
    },
    BenchClaim {
        id: "zero-copy.mmap",
        section: "1.4",
        claim: "mmap + write saves one copy",
        seed_value: "3 copies",
        backend: "kernel",
        script: IO,
        needs: IO_NEEDS,
    },
    BenchClaim {
        id: "kernel-stack-mpps",
        section: "2.1",
        claim: "The ordinary Linux network stack does 1-2 Mpps",
        seed_value: "1-2 Mpps",
        backend: "dpdk",
        script: DPDK,
        needs: DPDK_NEEDS,
    },
    BenchClaim {
        id: "dpdk-mpps-10g",
        section: "2.1",
        claim: "DPDK does 30-80 Mpps on a 10G NIC",
        seed_value: "30-80 Mpps",
        backend: "dpdk",
        script: DPDK,
        needs: DPDK_NEEDS,
    },
    BenchClaim {
        id: "dpdk-vs-kernel-veth",
        section: "2.1",
        claim: "DPDK is 30-50x faster than the kernel stack",
        seed_value: "30-50x",
        backend: "dpdk",
        script: DPDK,
        needs: DPDK_NEEDS,
    },
    BenchClaim {
        id: "dpdk-hugepages-gain",
        section: "2.1",
        claim: "Hugepages make DPDK 15-20% faster",
        seed_value: "15-20%",
        backend: "dpdk",
        script: DPDK,
        needs: DPDK_NEEDS,
    },
    BenchClaim {
        id: "io-uring.syscalls",
        section: "2.2",
        claim: "io_uring makes ~100x fewer syscalls",
        seed_value: "0.01x",
        backend: "uring",
        script: IO,
        needs: IO_NEEDS,
    },
    BenchClaim {
        id: "io-uring.small-packets",
        section: "2.2",
        claim: "io_uring is 30-50% faster on small packets",
        seed_value: "1.3-1.5x",
        backend: "uring",
        script: ECHO,
        needs: ECHO_NEEDS,
    },
    BenchClaim {
        id: "xdp.drop-rate",
        section: "2.3",
        claim: "XDP drops 20-30 Mpps",
        seed_value: "20-30 Mpps",
        backend: "xdp",
        script: XDP,
        needs: XDP_NEEDS,
    },
    BenchClaim {
        id: "xdp.iptables-rate",
        section: "2.3",
        claim: "iptables drops 1-2 Mpps",
        seed_value: "1-2 Mpps",
        backend: "xdp",
        script: XDP,
        needs: XDP_NEEDS,
    },
    BenchClaim {
        id: "xdp.vs-iptables",
        section: "2.3",
        claim: "XDP is 20-30x faster than iptables at dropping",
        seed_value: "20-30x",
        backend: "xdp",
        script: XDP,
        needs: XDP_NEEDS,
    },
];

/// The row for a bench claim with no record: not run here, and how to run it.
pub fn not_run(b: &BenchClaim, from: &str) -> Claim {
    Claim {
        id: b.id.into(),
        section: b.section.into(),
        claim: b.claim.into(),
        seed_value: b.seed_value.into(),
        measured: "—".into(),
        unit: String::new(),
        backend: b.backend.into(),
        verdict: Verdict::NotRunHere,
        detail: format!(
            "not run here (run {}: needs {}); it writes its record into {from}",
            b.script, b.needs
        ),
        source: format!("no record in {from}"),
    }
}
