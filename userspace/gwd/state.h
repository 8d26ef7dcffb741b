/* SPDX-License-Identifier: GPL-2.0 */
/* The state store: the current document saved atomically in one JSON file, restored at start. */
#ifndef XDPGW_GWD_STATE_H
#define XDPGW_GWD_STATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_FORMAT "xdpgw-state"
#define STATE_VERSION 1

/*
 * Reads the state file at path. Returns 0 with *doc (a new reference) and *generation;
 * -ENOENT when the file does not exist; any other negative errno when it can not be read or is
 * not a valid state file, with err naming the file and the cause. Never modifies the file.
 */
int state_load(const char *path, json_t **doc, uint64_t *generation, char *err, size_t errlen);

/*
 * Replaces the state file atomically: writes PATH.tmp (mode 0600), fsyncs it, renames it over
 * path and fsyncs the directory, so a crash leaves the old file or the new one, never a torn
 * one. Returns 0, or a negative errno with err naming the file (the old file is intact).
 */
int state_save(const char *path, const json_t *doc, uint64_t generation, char *err,
	       size_t errlen);

#endif
