// SPDX-License-Identifier: MIT OR Apache-2.0
// The XDP filter: the eBPF twin of distributed::ddos::xdp::XdpFilter (same verdicts, same
// counters; the differential test in scenarios/tests/xdp_twins.rs holds them together).
//
// Per frame: Ethernet (up to two VLAN tags) -> IPv4 -> source blocklist (LPM trie of CIDRs)
// -> per-source rate limit -> for TCP SYNs (first fragments only) a per-source SYN limit.
// Anything that is not IPv4 passes untouched; an IPv4 frame too short for what it claims
// is dropped as malformed. Limits are GCRA-style token buckets in integer nanoseconds: each
// packet costs `cost_ns`, a source holds at most `cap_ns` of credit and earns credit as time
// passes; a new source starts full. Time is bpf_ktime_get_ns(), or `now_ns` from the config
// when that is non-zero (tests drive the clock).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include "parse.h"
#include <bpf/bpf_endian.h>


enum counter {
	C_PASS = 0,
	C_DROP_BLOCKLIST = 1,
	C_DROP_RATE = 2,
	C_DROP_SYN = 3,
	C_PASS_NOT_IPV4 = 4,
	C_DROP_MALFORMED = 5,
	C_MAX = 6,
};

struct config {
	__u64 cost_ns;     // 0: no per-source rate limit
	__u64 cap_ns;
	__u64 syn_cost_ns; // 0: no SYN limit
	__u64 syn_cap_ns;
	__u64 now_ns;      // non-zero: use instead of the kernel clock
};

struct bucket {
	__u64 credit;
	__u64 last;
	__u64 syn_credit;
	__u64 syn_last;
};

struct lpm_v4 {
	__u32 prefixlen;
	__u32 addr; // network byte order
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__type(key, struct lpm_v4);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} blocklist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct bucket);
} buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline int count(__u32 c, int verdict)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &c);
	if (v)
		*v += 1;
	return verdict;
}

// Spends `cost` from a bucket holding `*credit` as of `*last`; 1 if allowed.
static __always_inline int spend(__u64 *credit, __u64 *last, __u64 now, __u64 cost, __u64 cap)
{
	__u64 c = *credit;
	if (now > *last)
		c += now - *last;
	if (c > cap)
		c = cap;
	*last = now > *last ? now : *last;
	if (c < cost) {
		*credit = c;
		return 0;
	}
	*credit = c - cost;
	return 1;
}

SEC("xdp")
int xdp_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct iphdr *ip;
	__u32 ihl;
	switch (parse_ipv4(data, end, &ip, &ihl)) {
	case L3_MALFORMED:
		return count(C_DROP_MALFORMED, XDP_DROP);
	case L3_NOT_IPV4:
		return count(C_PASS_NOT_IPV4, XDP_PASS);
	default:
		break;
	}
	void *l3 = ip;

	struct lpm_v4 key = {.prefixlen = 32, .addr = ip->saddr};
	if (bpf_map_lookup_elem(&blocklist, &key))
		return count(C_DROP_BLOCKLIST, XDP_DROP);

	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return count(C_PASS, XDP_PASS);
	// A SYN is a TCP first fragment with SYN set and ACK clear.
	int syn = 0;
	if (ip->protocol == IPPROTO_TCP && (ip->frag_off & bpf_htons(0x1fff)) == 0) {
		__u8 *tcp = l3 + ihl;
		if ((void *)(tcp + 20) > end)
			return count(C_DROP_MALFORMED, XDP_DROP);
		syn = (tcp[13] & 0x12) == 0x02;
	}
	if (cfg->cost_ns == 0 && (cfg->syn_cost_ns == 0 || !syn))
		return count(C_PASS, XDP_PASS);

	__u64 now = cfg->now_ns ? cfg->now_ns : bpf_ktime_get_ns();
	__u32 src = ip->saddr;
	struct bucket *b = bpf_map_lookup_elem(&buckets, &src);
	if (!b) {
		struct bucket fresh = {
			.credit = cfg->cap_ns, .last = now, .syn_credit = cfg->syn_cap_ns, .syn_last = now};
		bpf_map_update_elem(&buckets, &src, &fresh, BPF_NOEXIST);
		b = bpf_map_lookup_elem(&buckets, &src);
		if (!b)
			return count(C_PASS, XDP_PASS);
	}
	if (cfg->cost_ns && !spend(&b->credit, &b->last, now, cfg->cost_ns, cfg->cap_ns))
		return count(C_DROP_RATE, XDP_DROP);
	if (syn && cfg->syn_cost_ns &&
	    !spend(&b->syn_credit, &b->syn_last, now, cfg->syn_cost_ns, cfg->syn_cap_ns))
		return count(C_DROP_SYN, XDP_DROP);
	return count(C_PASS, XDP_PASS);
}

char _license[] SEC("license") = "Dual MIT/GPL";
