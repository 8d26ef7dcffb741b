// SPDX-License-Identifier: GPL-2.0
/*
 * Capabilities gwd keeps after start-up. gwd stays uid 0 (its state, socket and pins are
 * root's) but gives up what it never needs once running: CAP_SYS_ADMIN (only the bpffs mount
 * at start needs it), CAP_DAC_OVERRIDE, CAP_SYS_MODULE, CAP_SYS_PTRACE, CAP_SETUID ... The
 * kept set and its reasons:
 *   CAP_BPF               selection tables are new inner maps on every backend change; the
 *                         balancer is loaded (and BTF probed) by libbpf
 *   CAP_PERFMON           BPF programs that read kernel memory helpers; libbpf's probes
 *   CAP_NET_ADMIN         XDP attach, link update and detach (gwctl link), netlink changes
 *   CAP_NET_RAW           health probes through the encapsulation use raw sockets
 *   CAP_NET_BIND_SERVICE  gateway listeners on ports below 1024 can change at run time
 */
#include "gwd/caps.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

static const cap_value_t kept[] = { CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, CAP_NET_RAW,
				    CAP_NET_BIND_SERVICE };
#define NKEPT (sizeof(kept) / sizeof(kept[0]))

static int is_kept(cap_value_t v)
{
	for (size_t i = 0; i < NKEPT; i++)
		if (kept[i] == v)
			return 1;
	return 0;
}

const char *caps_kept_text(void)
{
	return "cap_bpf,cap_perfmon,cap_net_admin,cap_net_raw,cap_net_bind_service";
}

int caps_drop(char *msg, size_t len)
{
	cap_value_t last = (cap_value_t)cap_max_bits() - 1;
	cap_t c;
	int err = 0;

	if (geteuid() != 0)
		return 0;
	/* The bounding set first: dropping from it needs CAP_SETPCAP, which goes next. */
	for (cap_value_t v = 0; v <= last; v++)
		if (!is_kept(v) && CAP_IS_SUPPORTED(v) && cap_drop_bound(v)) {
			err = -errno;
			snprintf(msg, len, "cannot drop %s from the bounding set: %s",
				 cap_to_name(v), strerror(errno));
			return err;
		}
	c = cap_init();
	if (!c || cap_set_flag(c, CAP_PERMITTED, NKEPT, kept, CAP_SET) ||
	    cap_set_flag(c, CAP_EFFECTIVE, NKEPT, kept, CAP_SET) || cap_set_proc(c)) {
		err = -errno;
		snprintf(msg, len, "cannot drop capabilities: %s", strerror(errno));
	}
	cap_free(c);
	if (!err && cap_reset_ambient() && errno != EINVAL) {
		err = -errno;
		snprintf(msg, len, "cannot clear ambient capabilities: %s", strerror(errno));
	}
	if (!err && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		err = -errno;
		snprintf(msg, len, "cannot set no_new_privs: %s", strerror(errno));
	}
	return err;
}
