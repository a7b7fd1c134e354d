// SPDX-License-Identifier: MIT OR Apache-2.0
// The XDP sampler: the eBPF twin of distributed::xdp::Sampler. Every packet passes; one in
// `every` (the 1st, the (every+1)th, ...; counted over all CPUs with an atomic counter) is
// copied, up to SNAP bytes, with its length, into a ring buffer for user space. A full ring
// loses the sample and counts it.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define SNAP 128

struct sample {
	__u32 len;     // the packet's length
	__u32 caplen;  // bytes in data
	__u64 seq;     // the packet's number (0-based) among all seen
	__u8 data[SNAP];
};

struct state {
	__u64 every;   // 0: sample nothing
	__u64 seen;
	__u64 sampled;
	__u64 lost;    // the ring was full
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct state);
} sampler_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} samples SEC(".maps");

SEC("xdp")
int xdp_sampler(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct state *st = bpf_map_lookup_elem(&sampler_state, &zero);
	if (!st)
		return XDP_PASS;
	__u64 seq = __sync_fetch_and_add(&st->seen, 1);
	__u64 every = st->every;
	if (every == 0 || seq % every != 0)
		return XDP_PASS;
	struct sample *s = bpf_ringbuf_reserve(&samples, sizeof(*s), 0);
	if (!s) {
		__sync_fetch_and_add(&st->lost, 1);
		return XDP_PASS;
	}
	__u32 len = end - data;
	__u32 cap = len < SNAP ? len : SNAP;
	s->len = len;
	s->caplen = cap;
	s->seq = seq;
	__builtin_memset(s->data, 0, SNAP);
	if (cap > 0) {
		// ((cap - 1) & (SNAP - 1)) + 1 is cap for 1..=SNAP, written so that the verifier
		// sees the bound (SNAP is a power of two).
		__u32 n = ((cap - 1) & (SNAP - 1)) + 1;
		bpf_xdp_load_bytes(ctx, 0, s->data, n); // cannot fail: n <= len
	}
	__sync_fetch_and_add(&st->sampled, 1);
	bpf_ringbuf_submit(s, 0);
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual MIT/GPL";
