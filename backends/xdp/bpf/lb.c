// SPDX-License-Identifier: MIT OR Apache-2.0
// The XDP L4 load balancer (Katran-like): the eBPF twin of distributed::xdp::lb::XdpLb (same
// verdicts, same rewritten bytes, same counters; scenarios/tests/xdp_lb_twins.rs holds them
// together).
//
// Per frame: Ethernet (up to two VLAN tags) -> IPv4 (header length checked) -> if the
// destination address and protocol are the VIP's: fragments are dropped (later fragments carry
// no ports, so no fragment can be steered consistently), the TCP (20 bytes) or UDP (8 bytes)
// header must fit (else malformed), and the destination port must be the VIP's. A VIP frame's
// flow (src, dst, sport, dport, proto) is looked up in the conntrack LRU; a miss (or a hit on a
// backend slot emptied since) picks backend = table[hash % table_size] from the Maglev table
// and records it. The frame is then rewritten: destination IPv4 := backend address (IPv4 and
// TCP/UDP checksums updated incrementally, RFC 1624; a zero UDP checksum stays zero),
// destination MAC := backend MAC, source MAC := the LB's MAC; and sent back out (XDP_TX) or
// redirected to the configured interface. Anything not for the VIP passes; anything that is
// not IPv4 passes; IPv4 shorter than its header says is dropped as malformed.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include "parse.h"
#include <bpf/bpf_endian.h>

#define TABLE_MAX 65537
#define BACKENDS_MAX 4096
#define FLOWS_MAX 65536

enum counter {
	C_PASS_NOT_IPV4 = 0,
	C_PASS_NOT_VIP = 1,
	C_TX = 2,
	C_REDIRECT = 3,
	C_NEW_FLOW = 4,
	C_EXISTING_FLOW = 5,
	C_DROP_NO_BACKEND = 6,
	C_DROP_MALFORMED = 7,
	C_DROP_FRAGMENT = 8,
	C_MAX = 9,
};

// Addresses and ports in network byte order.
struct lb_config {
	__u32 vip_addr;
	__u16 vip_port;
	__u8 vip_proto;        // IPPROTO_TCP or IPPROTO_UDP; anything else: no VIP
	__u8 pad0;
	__u8 lb_mac[6];
	__u16 pad1;
	__u32 redirect_ifindex; // 0: XDP_TX
	__u32 table_size;       // live entries of `table`; 0: no backends
};

// A backend slot; address 0 marks an empty slot.
struct backend {
	__u32 addr;
	__u8 mac[6];
	__u16 pad;
};

struct flow {
	__u32 src;
	__u32 dst;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_config);
} config SEC(".maps");

// The Maglev table: slot -> backend index.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TABLE_MAX);
	__type(key, __u32);
	__type(value, __u32);
} table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BACKENDS_MAX);
	__type(key, __u32);
	__type(value, struct backend);
} backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FLOWS_MAX);
	__type(key, struct flow);
	__type(value, __u32);
} conntrack SEC(".maps");

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

static __always_inline __u32 rotl32(__u32 x, __u32 r)
{
	return (x << r) | (x >> (32 - r));
}

// One MurmurHash3 (x86_32) block step.
static __always_inline __u32 murmur_block(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51;
	k = rotl32(k, 15);
	k *= 0x1b873593;
	h ^= k;
	h = rotl32(h, 13);
	return h * 5 + 0xe6546b64;
}

// The flow hash: MurmurHash3 x86_32 (seed 0) over the four big-endian words
// src, dst, sport << 16 | dport, proto.
static __always_inline __u32 flow_hash(__u32 src, __u32 dst, __u16 sport, __u16 dport, __u8 proto)
{
	__u32 h = 0;
	h = murmur_block(h, src);
	h = murmur_block(h, dst);
	h = murmur_block(h, ((__u32)sport << 16) | dport);
	h = murmur_block(h, proto);
	h ^= 16;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

// RFC 1624 eqn. 3 for a 32-bit field changing from `from` to `to`: HC' = ~(~HC + ~m + m'),
// summed in 16-bit one's complement. Byte order does not matter as long as all operands are
// read the same way (RFC 1071), so they are used as they lie in the packet.
static __always_inline __u16 csum_replace4(__u16 check, __u32 from, __u32 to)
{
	__u32 sum = (__u16)~check;
	sum += (__u16)~(from & 0xffff);
	sum += (__u16)~(from >> 16);
	sum += to & 0xffff;
	sum += to >> 16;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

SEC("xdp")
int xdp_lb(struct xdp_md *ctx)
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

	__u32 zero = 0;
	struct lb_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || ip->daddr != cfg->vip_addr || ip->protocol != cfg->vip_proto)
		return count(C_PASS_NOT_VIP, XDP_PASS);
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return count(C_PASS_NOT_VIP, XDP_PASS);
	// More fragments set, or a non-zero offset.
	if (ip->frag_off & bpf_htons(0x3fff))
		return count(C_DROP_FRAGMENT, XDP_DROP);

	__u8 *l4 = l3 + ihl;
	__u16 *check;
	if (ip->protocol == IPPROTO_TCP) {
		if ((void *)(l4 + 20) > end)
			return count(C_DROP_MALFORMED, XDP_DROP);
		check = (__u16 *)(l4 + 16);
	} else {
		if ((void *)(l4 + 8) > end)
			return count(C_DROP_MALFORMED, XDP_DROP);
		check = (__u16 *)(l4 + 6);
	}
	__u16 sport = *(__u16 *)l4;
	__u16 dport = *(__u16 *)(l4 + 2);
	if (dport != cfg->vip_port)
		return count(C_PASS_NOT_VIP, XDP_PASS);

	struct flow key = {};
	key.src = ip->saddr;
	key.dst = ip->daddr;
	key.sport = sport;
	key.dport = dport;
	key.proto = ip->protocol;

	struct backend *be = 0;
	__u32 idx;
	__u32 *known = bpf_map_lookup_elem(&conntrack, &key);
	if (known) {
		idx = *known;
		be = bpf_map_lookup_elem(&backends, &idx);
		if (be && be->addr == 0)
			be = 0; // its backend was removed: pick again
	}
	int existing = be != 0;
	if (!be) {
		__u32 size = cfg->table_size;
		if (size == 0)
			return count(C_DROP_NO_BACKEND, XDP_DROP);
		__u32 slot = flow_hash(bpf_ntohl(key.src), bpf_ntohl(key.dst), bpf_ntohs(sport),
				       bpf_ntohs(dport), key.proto) % size;
		__u32 *picked = bpf_map_lookup_elem(&table, &slot);
		if (!picked)
			return count(C_DROP_NO_BACKEND, XDP_DROP);
		idx = *picked;
		be = bpf_map_lookup_elem(&backends, &idx);
		if (!be || be->addr == 0)
			return count(C_DROP_NO_BACKEND, XDP_DROP);
		bpf_map_update_elem(&conntrack, &key, &idx, BPF_ANY);
	}
	count(existing ? C_EXISTING_FLOW : C_NEW_FLOW, 0);

	__u32 old = ip->daddr;
	__u32 new = be->addr;
	ip->daddr = new;
	ip->check = csum_replace4(ip->check, old, new);
	if (ip->protocol == IPPROTO_TCP) {
		*check = csum_replace4(*check, old, new);
	} else if (*check != 0) {
		__u16 c = csum_replace4(*check, old, new);
		*check = c ? c : 0xffff; // a computed zero is sent as all ones (RFC 768)
	}
	struct ethhdr *eth = data; // parse_ipv4 checked that it fits
	__builtin_memcpy(eth->h_dest, be->mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, cfg->lb_mac, ETH_ALEN);

	if (cfg->redirect_ifindex)
		return count(C_REDIRECT, bpf_redirect(cfg->redirect_ifindex, 0));
	return count(C_TX, XDP_TX);
}

char _license[] SEC("license") = "Dual MIT/GPL";
