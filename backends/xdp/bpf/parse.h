// SPDX-License-Identifier: MIT OR Apache-2.0
// Frame parsing shared by the XDP programs, mirrored by distributed::xdp::frame: Ethernet,
// at most VLAN_MAX VLAN tags (802.1Q / 802.1ad), then an IPv4 header whose length is checked
// against the frame.
#pragma once
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define VLAN_MAX 2

enum l3_kind {
	L3_IPV4 = 0,
	L3_NOT_IPV4 = 1,
	L3_MALFORMED = 2,
};

// Finds the IPv4 header of the frame [data, end): on L3_IPV4, *ip and *ihl (bytes, 20..=60,
// inside the frame) are set.
static __always_inline enum l3_kind parse_ipv4(void *data, void *end, struct iphdr **ip, __u32 *ihl)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return L3_MALFORMED;
	__u16 proto = eth->h_proto;
	void *l3 = eth + 1;
#pragma unroll
	for (int i = 0; i < VLAN_MAX; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if (l3 + 4 > end)
			return L3_MALFORMED;
		proto = *(__u16 *)(l3 + 2);
		l3 += 4;
	}
	if (proto != bpf_htons(ETH_P_IP))
		return L3_NOT_IPV4;
	struct iphdr *h = l3;
	if ((void *)(h + 1) > end)
		return L3_MALFORMED;
	__u32 len = h->ihl * 4;
	if (h->version != 4 || len < sizeof(*h) || l3 + len > end)
		return L3_MALFORMED;
	*ip = h;
	*ihl = len;
	return L3_IPV4;
}
