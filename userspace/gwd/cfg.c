// SPDX-License-Identifier: GPL-2.0
/* Typed field getters for compile(): every refusal names the path, the field and the cause. */
#include "gwd/cfg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

int cfg_fields(const json_t *v, const char *path, const char *const *known, struct gwd_err *err)
{
	const char *k;
	json_t *val;

	if (!json_is_object(v))
		return gwd_err_set(err, 400, "%s: expected an object, got %s", path, type_name(v));
	json_object_foreach ((json_t *)v, k, val) {
		size_t i;
		char list[256] = "";

		for (i = 0; known[i]; i++)
			if (strcmp(k, known[i]) == 0)
				break;
		if (known[i])
			continue;
		for (i = 0; known[i]; i++) {
			size_t n = strlen(list);

			snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", known[i]);
		}
		return gwd_err_set(err, 400, "%s.%s: unknown field (expected %s)", path, k, list);
	}
	return 0;
}

int cfg_str(const json_t *obj, const char *path, const char *field, const char *def,
	    const char **out, struct gwd_err *err)
{
	const json_t *v = json_object_get(obj, field);

	if (!v) {
		*out = def;
		return 0;
	}
	if (!json_is_string(v))
		return gwd_err_set(err, 400, "%s.%s: expected a string, got %s", path, field,
				   type_name(v));
	*out = json_string_value(v);
	return 0;
}

int cfg_str_req(const json_t *obj, const char *path, const char *field, const char **out,
		struct gwd_err *err)
{
	if (!json_object_get(obj, field))
		return gwd_err_set(err, 400, "%s.%s: required field is missing", path, field);
	return cfg_str(obj, path, field, NULL, out, err);
}

int cfg_u64(const json_t *obj, const char *path, const char *field, uint64_t min, uint64_t max,
	    uint64_t def, uint64_t *out, struct gwd_err *err)
{
	const json_t *v = json_object_get(obj, field);
	json_int_t n;

	if (!v) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v))
		return gwd_err_set(err, 400, "%s.%s: expected an integer, got %s", path, field,
				   type_name(v));
	n = json_integer_value(v);
	if (n < 0 || (uint64_t)n < min || (uint64_t)n > max)
		return gwd_err_set(err, 400, "%s.%s: %lld is out of range %" PRIu64 "-%" PRIu64,
				   path, field, (long long)n, min, max);
	*out = (uint64_t)n;
	return 0;
}

int cfg_u32(const json_t *obj, const char *path, const char *field, uint32_t min, uint32_t max,
	    uint32_t def, uint32_t *out, struct gwd_err *err)
{
	uint64_t v;
	int ret = cfg_u64(obj, path, field, min, max, def, &v, err);

	if (!ret)
		*out = (uint32_t)v;
	return ret;
}

int cfg_bool(const json_t *obj, const char *path, const char *field, bool def, bool *out,
	     struct gwd_err *err)
{
	const json_t *v = json_object_get(obj, field);

	if (!v) {
		*out = def;
		return 0;
	}
	if (!json_is_boolean(v))
		return gwd_err_set(err, 400, "%s.%s: expected true or false, got %s", path, field,
				   type_name(v));
	*out = json_is_true(v);
	return 0;
}

int cfg_enum(const json_t *obj, const char *path, const char *field, const char *const *names,
	     int def, int *out, struct gwd_err *err)
{
	const char *s;
	char list[256] = "";
	int ret = cfg_str(obj, path, field, NULL, &s, err);

	if (ret)
		return ret;
	if (!s) {
		*out = def;
		return 0;
	}
	for (int i = 0; names[i]; i++) {
		size_t n = strlen(list);

		if (strcmp(s, names[i]) == 0) {
			*out = i;
			return 0;
		}
		snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", names[i]);
	}
	return gwd_err_set(err, 400, "%s.%s: unknown value '%s' (expected %s)", path, field, s,
			   list);
}

int cfg_parse_duration_ms(const char *s, uint64_t *ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = { { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "", 1000 } };
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			if (v > UINT64_MAX / units[i].ms)
				return -EINVAL;
			*ms = v * units[i].ms;
			return 0;
		}
	}
	return -EINVAL;
}

const char *cfg_fmt_duration(uint64_t ms, char *buf, size_t len)
{
	if (ms && ms % 3600000 == 0)
		snprintf(buf, len, "%" PRIu64 "h", ms / 3600000);
	else if (ms && ms % 60000 == 0)
		snprintf(buf, len, "%" PRIu64 "m", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%" PRIu64 "s", ms / 1000);
	else
		snprintf(buf, len, "%" PRIu64 "ms", ms);
	return buf;
}

int cfg_duration_ms(const json_t *obj, const char *path, const char *field, uint64_t min_ms,
		    uint64_t max_ms, uint64_t def_ms, uint64_t *out, struct gwd_err *err)
{
	const json_t *v = json_object_get(obj, field);
	char a[32], b[32], c[32];
	uint64_t ms;

	if (!v) {
		*out = def_ms;
		return 0;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    (uint64_t)json_integer_value(v) <= UINT64_MAX / 1000) {
		ms = (uint64_t)json_integer_value(v) * 1000;
	} else if (!json_is_string(v) || cfg_parse_duration_ms(json_string_value(v), &ms)) {
		char *dump = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		int ret = gwd_err_set(err, 400,
				      "%s.%s: invalid duration %s (expected seconds or a string "
				      "such as 500ms, 5s, 2m)",
				      path, field, dump ? dump : "?");

		free(dump);
		return ret;
	}
	if (ms < min_ms || ms > max_ms)
		return gwd_err_set(err, 400, "%s.%s: %s is out of range %s-%s", path, field,
				   cfg_fmt_duration(ms, a, sizeof(a)),
				   cfg_fmt_duration(min_ms, b, sizeof(b)),
				   cfg_fmt_duration(max_ms, c, sizeof(c)));
	*out = ms;
	return 0;
}

int cfg_array(const json_t *obj, const char *path, const char *field, const json_t **out,
	      struct gwd_err *err)
{
	const json_t *v = json_object_get(obj, field);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return gwd_err_set(err, 400, "%s.%s: expected a list, got %s", path, field,
				   type_name(v));
	*out = v;
	return 0;
}
