/* SPDX-License-Identifier: GPL-2.0 */
/* Making sure a directory for pinned BPF objects exists on a bpf filesystem (gwd, gwctl). */
#ifndef XDPGW_BPFFS_H
#define XDPGW_BPFFS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Mounts bpffs on /sys/fs/bpf when dir lies below it and nothing is mounted there yet, then
 * creates dir (mode 0700) and checks it is on a bpf filesystem. Returns 0, or a negative errno
 * with err (errlen bytes) saying what failed.
 */
int bpffs_prepare(const char *dir, char *err, size_t errlen);
/* Whether path is on a bpf filesystem. */
bool bpffs_is_bpf(const char *path);

#endif
