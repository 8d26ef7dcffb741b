// SPDX-License-Identifier: GPL-2.0
/* bpffs mounting and checks shared by gwd (maps, links) and gwctl (decap attach). */
#include "lib/bpffs.h"
#include "lib/lb.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

bool bpffs_is_bpf(const char *path)
{
	struct statfs sfs;

	return statfs(path, &sfs) == 0 && (uint32_t)sfs.f_type == BPF_FS_MAGIC;
}

int bpffs_prepare(const char *dir, char *err, size_t errlen)
{
	int ret;

	if (strncmp(dir, "/sys/fs/bpf/", 12) == 0 && !bpffs_is_bpf("/sys/fs/bpf")) {
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
			ret = -errno;
			snprintf(err, errlen, "cannot mount bpffs on /sys/fs/bpf: %s", strerror(-ret));
			return ret;
		}
	}
	ret = lb_mkdir_p(dir);
	if (ret) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(-ret));
		return ret;
	}
	if (!bpffs_is_bpf(dir)) {
		snprintf(err, errlen, "%s is not on a bpf filesystem (mount -t bpf bpf DIR)", dir);
		return -ENOTDIR;
	}
	return 0;
}
