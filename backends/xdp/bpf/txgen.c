// SPDX-License-Identifier: MIT OR Apache-2.0
// The traffic generator of the XDP benchmarks: run through BPF_PROG_TEST_RUN in live-frames
// mode (BPF_F_TEST_XDP_LIVE_FRAMES), every frame it returns XDP_TX leaves the interface
// named as the run's ingress, as fast as the kernel can build them (this kernel has no
// pktgen).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_txgen(struct xdp_md *ctx)
{
	return XDP_TX;
}

char _license[] SEC("license") = "Dual MIT/GPL";
