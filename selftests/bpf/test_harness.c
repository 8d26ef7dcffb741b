// SPDX-License-Identifier: GPL-2.0
/* Proves the BPF test path: build, load and BPF_PROG_TEST_RUN a program on a crafted frame. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <unistd.h>

#include "reflect.skel.h"
#include "lib/test.h"

TEST(reflect_swaps_macs)
{
	unsigned char frame[64] = {
		0x02, 0, 0, 0, 0, 0x02,		/* destination */
		0x02, 0, 0, 0, 0, 0x01,		/* source */
		0x08, 0x00,			/* IPv4 (payload is not parsed) */
	};
	unsigned char want[sizeof(frame)], out[sizeof(frame)];
	struct reflect *skel;
	__u64 counts[512] = {};
	__u32 zero = 0;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = sizeof(frame),
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

	if (geteuid() != 0) {
		test_skip("needs root for BPF");
		return;
	}
	skel = reflect__open_and_load();
	if (!ASSERT_NOT_NULL(skel))
		return;
	memcpy(want, frame, sizeof(frame));
	memcpy(want, frame + 6, 6);
	memcpy(want + 6, frame, 6);

	if (ASSERT_OK(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xdp_reflect), &opts))) {
		ASSERT_EQ(opts.retval, XDP_TX);
		ASSERT_MEMEQ(out, opts.data_size_out, want, sizeof(want));
		ASSERT_OK(bpf_map_lookup_elem(bpf_map__fd(skel->maps.reflect_count), &zero, counts));
		__u64 total = 0;

		for (int cpu = 0; cpu < libbpf_num_possible_cpus(); cpu++)
			total += counts[cpu];
		ASSERT_EQ(total, 1);
	}
	reflect__destroy(skel);
}
