// SPDX-License-Identifier: GPL-2.0
/*
 * xvs-pktgen's fast sink (`xvs-pktgen rx --mode xdp`): count every frame and its bytes,
 * count the frames that carry the xvs-pktgen signature ("XVS1" at the start of the UDP
 * payload of an untagged IPv4 frame without options), then XDP_DROP. User space sums
 * the per-CPU counters.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Mirrors `SinkCounters` in xdp_sink.rs. */
struct xvs_sink_counters {
	__u64 packets;
	__u64 bytes;
	__u64 signed_frames;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xvs_sink_counters);
} sink_counters SEC(".maps");

SEC("xdp")
int xvs_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 *p = data;
	__u32 key = 0;
	struct xvs_sink_counters *c = bpf_map_lookup_elem(&sink_counters, &key);

	if (!c)
		return XDP_DROP;
	c->packets++;
	c->bytes += end - data;
	if (data + 46 <= end && *(__u16 *)(p + 12) == bpf_htons(0x0800) && p[14] == 0x45 && p[23] == 17 &&
	    p[42] == 'X' && p[43] == 'V' && p[44] == 'S' && p[45] == '1')
		c->signed_frames++;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
