// SPDX-License-Identifier: GPL-2.0
/*
 * xvs XDP steering program: one instance per xvs port (per netdev).
 *
 * Every frame the port receives on rx queue Q is redirected into the AF_XDP socket
 * that xvsd registered at index Q of `xsks`. When no socket is registered for Q the
 * frame goes to the kernel stack (XDP_PASS), so a port never black-holes traffic
 * while xvsd is (re)starting its workers.
 *
 * `cfg` is written by xvsd before attach; `mode` is reserved for steering only part
 * of the traffic (shared NICs) and is 0 (= all frames) today.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define XVS_MAX_QUEUES 64

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, XVS_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct xvs_port_cfg {
	__u32 mode; /* 0: steer every frame to AF_XDP */
	__u32 reserved;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xvs_port_cfg);
} cfg SEC(".maps");

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

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		*v += 1;
}

SEC("xdp")
int xvs_steer(struct xdp_md *ctx)
{
	/* The low bits of the flags are the action when the queue has no socket. */
	int act = bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);

	if (act == XDP_PASS)
		count(XVS_STAT_PASS);
	return act;
}

char LICENSE[] SEC("license") = "GPL";
