// SPDX-License-Identifier: GPL-2.0
/*
 * xvs-pktgen's fast generator (`xvs-pktgen tx --mode xdp`).
 *
 * User space runs this program with BPF_PROG_RUN and BPF_F_TEST_XDP_LIVE_FRAMES on a
 * template Ethernet/IPv4/UDP frame built by tools/src/pktgen/frame.rs. For every frame
 * the program picks the next flow (round robin over `nflows`, per-CPU state), writes the
 * UDP destination port, the flow index and the per-flow sequence number of the xvs
 * signature, recomputes the UDP checksum from a base sum prepared by user space, and
 * redirects the frame out of `ifindex` (ndo_xdp_xmit, no skb).
 *
 * A run stops when `repeat` iterations are done or user space interrupts it with a
 * signal. `limit` caps the frames sent (exact --count together with --rate), and
 * `gap_ps` paces the frames: iterations ahead of schedule drop the frame instead of
 * sending it, so --rate is smooth rather than bursts of full-speed runs.
 *
 * Frame layout (fixed, no VLAN, IPv4 without options), from `inner_off`: 0, or 50 when
 * the frame is the inner frame of a VXLAN packet (--vxlan: the outer headers are in the
 * template and never change; their UDP checksum is 0):
 *   34 UDP header: 36 dst port, 40 checksum
 *   42 signature: "XVS1", 46 flow index (be32), 50 sequence number (be64)
 * Every store is 16 bits wide at an even offset.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define OFF_DPORT 36
#define OFF_UDP_CSUM 40
#define OFF_FLOW 46
#define OFF_SEQ 50
#define SIG_END 58
#define MAX_INNER_OFF 64

/* Written by user space before the first run; mirrors `GenCfg` in xdp_tx.rs. */
struct xvs_gen_cfg {
	__u32 ifindex;
	__u32 nflows;    /* >= 1 */
	__u32 port_base; /* UDP destination port of flow 0 */
	__u32 csum_base; /* folded sum of the UDP checksum inputs with the variable fields 0 */
	__u64 limit;     /* send no more than this many frames (0: no limit) */
	__u64 gap_ps;    /* pacing: picoseconds between frames (0: as fast as possible) */
	__u64 burst_ps;  /* pacing: how far behind schedule the sender may catch up */
	__u64 t0_ns;     /* pacing: CLOCK_MONOTONIC (= bpf_ktime_get_ns) at start */
	__u32 inner_off; /* where the Ethernet/IPv4/UDP frame starts (even, <= MAX_INNER_OFF) */
	__u32 pad;
};

/* Per-CPU generator state; mirrors `GenState` in xdp_tx.rs. */
struct xvs_gen_state {
	__u64 sent;
	__u64 seq;     /* sequence number of the next frame of flow `flow` */
	__u32 flow;    /* next flow index */
	__u32 pad;
	__u64 next_ps; /* pacing: when the next frame is due, picoseconds after t0 */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xvs_gen_cfg);
} gen_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xvs_gen_state);
} gen_state SEC(".maps");

static __always_inline void put16(void *data, int off, __u16 host)
{
	*(__u16 *)(data + off) = bpf_htons(host);
}

SEC("xdp")
int xvs_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 key = 0;
	struct xvs_gen_cfg *cfg;
	struct xvs_gen_state *st;
	__u32 flow, dport;
	__u64 seq, sum;
	__u16 csum;
	__u32 off;

	cfg = bpf_map_lookup_elem(&gen_cfg, &key);
	st = bpf_map_lookup_elem(&gen_state, &key);
	if (!cfg || !st)
		return XDP_ABORTED;
	off = cfg->inner_off & ~1u;
	if (off > MAX_INNER_OFF)
		return XDP_ABORTED;
	data += off;
	if (data + SIG_END > end)
		return XDP_ABORTED;

	/* Iterations that must not send (limit reached, ahead of the pacing schedule)
	 * just recycle the frame. */
	if (cfg->limit && st->sent >= cfg->limit)
		return XDP_DROP;
	if (cfg->gap_ps) {
		__u64 now = (bpf_ktime_get_ns() - cfg->t0_ns) * 1000;

		if (now < st->next_ps)
			return XDP_DROP;
		if (st->next_ps + cfg->burst_ps < now)
			st->next_ps = now - cfg->burst_ps;
		st->next_ps += cfg->gap_ps;
	}

	flow = st->flow;
	seq = st->seq;
	if (++st->flow >= cfg->nflows) {
		st->flow = 0;
		st->seq++;
	}
	st->sent++;

	dport = (cfg->port_base + flow) & 0xffff;
	put16(data, OFF_DPORT, dport);
	put16(data, OFF_FLOW, flow >> 16);
	put16(data, OFF_FLOW + 2, flow);
	put16(data, OFF_SEQ, seq >> 48);
	put16(data, OFF_SEQ + 2, seq >> 32);
	put16(data, OFF_SEQ + 4, seq >> 16);
	put16(data, OFF_SEQ + 6, seq);

	sum = (__u64)cfg->csum_base + dport + (flow >> 16) + (flow & 0xffff) + (seq >> 48) +
	      ((seq >> 32) & 0xffff) + ((seq >> 16) & 0xffff) + (seq & 0xffff);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	csum = ~sum & 0xffff;
	if (csum == 0)
		csum = 0xffff;
	put16(data, OFF_UDP_CSUM, csum);

	return bpf_redirect(cfg->ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
