// SPDX-License-Identifier: MIT OR Apache-2.0
// The AF_XDP redirect: every frame that arrives on receive queue q goes to the AF_XDP socket
// in slot q of `xsks`; with no socket in that slot the frame passes to the kernel stack
// (bpf_redirect_map's fallback action). Userspace (src/afxdp.rs) inserts the socket after
// binding it to (interface, q).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// Slots = receive queues; afxdp.rs refuses queues at or above this.
#define XSK_QUEUES_MAX 64

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, XSK_QUEUES_MAX);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

SEC("xdp")
int xdp_xsk(struct xdp_md *ctx)
{
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "Dual MIT/GPL";
