/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reading a document section in a module's compile(): typed field getters whose errors name the
 * path and the cause ("l4.services[web].algo: unknown value 'x' (expected maglev, sh, rr, lc)").
 * Each returns 0, or -EINVAL with err set (status 400). path is the object's own path.
 */
#ifndef XDPGW_GWD_CFG_H
#define XDPGW_GWD_CFG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "gwd/module.h"

/* v must be an object; every field must be in the NULL-terminated list known. */
int cfg_fields(const json_t *v, const char *path, const char *const *known, struct gwd_err *err);
/* An optional string (*out = def when absent) or a required one (def == NULL is not enough:
 * use cfg_str_req). *out is borrowed from obj. */
int cfg_str(const json_t *obj, const char *path, const char *field, const char *def,
	    const char **out, struct gwd_err *err);
int cfg_str_req(const json_t *obj, const char *path, const char *field, const char **out,
		struct gwd_err *err);
int cfg_u64(const json_t *obj, const char *path, const char *field, uint64_t min, uint64_t max,
	    uint64_t def, uint64_t *out, struct gwd_err *err);
int cfg_u32(const json_t *obj, const char *path, const char *field, uint32_t min, uint32_t max,
	    uint32_t def, uint32_t *out, struct gwd_err *err);
int cfg_bool(const json_t *obj, const char *path, const char *field, bool def, bool *out,
	     struct gwd_err *err);
/* names is NULL-terminated; *out is the index of the value, def when absent. */
int cfg_enum(const json_t *obj, const char *path, const char *field, const char *const *names,
	     int def, int *out, struct gwd_err *err);
/* A duration: an integer of seconds or a string "250ms", "5s", "2m", "1h". */
int cfg_duration_ms(const json_t *obj, const char *path, const char *field, uint64_t min_ms,
		    uint64_t max_ms, uint64_t def_ms, uint64_t *out, struct gwd_err *err);
/* An optional list: *out is NULL when absent. */
int cfg_array(const json_t *obj, const char *path, const char *field, const json_t **out,
	      struct gwd_err *err);

/* Parses "250ms", "5s", "2m", "1h" (or digits: seconds); returns 0 or -EINVAL. */
int cfg_parse_duration_ms(const char *s, uint64_t *ms);
/* Formats a duration the way cfg_parse_duration_ms reads it ("1500ms", "5s", "2m"). */
const char *cfg_fmt_duration(uint64_t ms, char *buf, size_t len);

#endif
