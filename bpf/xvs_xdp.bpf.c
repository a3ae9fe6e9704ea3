// SPDX-License-Identifier: GPL-2.0
/*
 * xvs XDP steering program: one instance per xvs port (per netdev).
 *
 * Frames the port receives on rx queue Q are redirected into the AF_XDP socket that
 * xvsd registered at index Q of `xsks`; when no socket is registered for Q the frame
 * goes to the kernel stack (XDP_PASS), so a port never black-holes traffic while
 * xvsd is (re)starting its workers.
 *
 * Two steering modes, set in `cfg` by xvsd before attach:
 *  - ALL (VM ports): every frame goes to xvs.
 *  - SHARED (a NIC the host also uses): only what xvs owns goes to xvs — tunnel
 *    traffic to the host's tunnel address (VXLAN to `vxlan_port`, GRE), frames for a
 *    configured set of MACs, frames on a configured set of VLANs — and everything
 *    else (management, SSH, the agent's RPC) stays with the kernel.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define XVS_MAX_QUEUES 64

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, XVS_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

enum { XVS_STEER_ALL = 0, XVS_STEER_SHARED = 1 };

struct xvs_port_cfg {
	__u32 mode;
	__be32 local_ip;   /* tunnel endpoint address of the host (0: none) */
	__be16 vxlan_port; /* UDP destination port of VXLAN (network order) */
	__u16 steer_gre;   /* 1: GRE to local_ip goes to xvs */
	__u32 reserved;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xvs_port_cfg);
} cfg SEC(".maps");

/* SHARED mode: destination MACs (6 bytes, zero-padded to 8) owned by xvs. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u8);
} steer_macs SEC(".maps");

/* SHARED mode: VLAN ids owned by xvs (value 1). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} steer_vlans SEC(".maps");

/*
 * Per-CPU counters, indices below; read by `xvsctl dump-ports`. Only frames passed
 * to the kernel are counted here: this program runs on the CPU that receives, often
 * next to a traffic source, and every helper call on the redirect path costs
 * throughput. Redirected frames are counted by the workers.
 */
enum { XVS_STAT_RESERVED = 0, XVS_STAT_PASS = 1, XVS_STAT_MAX = 2 };

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XVS_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline int pass(void)
{
	__u32 idx = XVS_STAT_PASS;
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		*v += 1;
	return XDP_PASS;
}

/* SHARED mode: does xvs own this frame? */
static __always_inline int owned(struct xdp_md *ctx, const struct xvs_port_cfg *c)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u64 mac = 0;
	__u16 proto;
	void *l3;

	if ((void *)(eth + 1) > end)
		return 0;
	__builtin_memcpy(&mac, eth->h_dest, ETH_ALEN);
	if (bpf_map_lookup_elem(&steer_macs, &mac))
		return 1;
	proto = eth->h_proto;
	l3 = eth + 1;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		__u16 *tag = l3;
		__u32 vid;
		__u8 *own;

		if ((void *)(tag + 2) > end)
			return 0;
		vid = bpf_ntohs(tag[0]) & 0x0fff;
		own = bpf_map_lookup_elem(&steer_vlans, &vid);
		if (own && *own)
			return 1;
		proto = tag[1];
		l3 = tag + 2;
	}
	if (proto == bpf_htons(ETH_P_IP) && c->local_ip) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > end || ip->daddr != c->local_ip)
			return 0;
		if (ip->protocol == IPPROTO_GRE)
			return c->steer_gre;
		if (ip->protocol == IPPROTO_UDP && c->vxlan_port) {
			struct udphdr *udp = (void *)ip + ip->ihl * 4;

			if ((void *)(udp + 1) > end)
				return 0;
			return udp->dest == c->vxlan_port;
		}
	}
	return 0;
}

SEC("xdp")
int xvs_steer(struct xdp_md *ctx)
{
	__u32 zero = 0;
	const struct xvs_port_cfg *c = bpf_map_lookup_elem(&cfg, &zero);
	int act;

	if (c && c->mode == XVS_STEER_SHARED && !owned(ctx, c))
		return pass();
	/* The low bits of the flags are the action when the queue has no socket. */
	act = bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
	if (act == XDP_PASS)
		return pass();
	return act;
}

char LICENSE[] SEC("license") = "GPL";
