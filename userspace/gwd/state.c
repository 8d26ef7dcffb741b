// SPDX-License-Identifier: GPL-2.0
/* The state file: {"format", "version", "generation", "saved", "document"}, replaced atomically. */
#include "gwd/state.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATE_MAX_SIZE (64u << 20)

static int corrupt(const char *path, char *err, size_t errlen, const char *cause)
{
	snprintf(err, errlen,
		 "state file %s is corrupt: %s; it was left untouched: repair it, or move it away "
		 "to start from the config file",
		 path, cause);
	return -EBADMSG;
}

int state_load(const char *path, json_t **doc, uint64_t *generation, char *err, size_t errlen)
{
	json_error_t jerr;
	struct stat st;
	json_t *root, *d, *g;
	const char *fmt;
	char cause[256];
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		if (ret != -ENOENT)
			snprintf(err, errlen, "cannot read state file %s: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "cannot read state file %s: not a regular file", path);
		return -EINVAL;
	}
	if (st.st_size > STATE_MAX_SIZE) {
		close(fd);
		return corrupt(path, err, errlen, "larger than 64 MiB");
	}
	/* json_loadfd reads to EOF and reports read errors (EIO, EISDIR) as parse errors. */
	root = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
	close(fd);
	if (!root) {
		snprintf(cause, sizeof(cause), "line %d column %d: %s", jerr.line, jerr.column,
			 jerr.text);
		return corrupt(path, err, errlen, cause);
	}
	fmt = json_string_value(json_object_get(root, "format"));
	d = json_object_get(root, "document");
	g = json_object_get(root, "generation");
	if (!fmt || strcmp(fmt, STATE_FORMAT) != 0)
		ret = corrupt(path, err, errlen, "not an xdpgw state file (no \"format\": \"" STATE_FORMAT "\")");
	else if (json_integer_value(json_object_get(root, "version")) != STATE_VERSION)
		ret = corrupt(path, err, errlen, "unsupported version (this gwd reads version 1)");
	else if (!json_is_object(d))
		ret = corrupt(path, err, errlen, "\"document\" is missing or not an object");
	else if (!json_is_integer(g) || json_integer_value(g) < 0)
		ret = corrupt(path, err, errlen, "\"generation\" is missing or invalid");
	else
		ret = 0;
	if (ret == 0) {
		*doc = json_incref(d);
		*generation = (uint64_t)json_integer_value(g);
	}
	json_decref(root);
	return ret;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_dir(const char *path)
{
	char copy[PATH_MAX];
	int fd, ret = 0;

	snprintf(copy, sizeof(copy), "%s", path);
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		ret = -errno;
	close(fd);
	return ret;
}

int state_save(const char *path, const json_t *doc, uint64_t generation, char *err,
	       size_t errlen)
{
	char tmp[PATH_MAX], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	json_t *root;
	char *text;
	int fd, ret;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "state file path too long: %s", path);
		return -ENAMETOOLONG;
	}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	root = json_pack("{s:s, s:i, s:I, s:s, s:O}", "format", STATE_FORMAT, "version",
			 STATE_VERSION, "generation", (json_int_t)generation, "saved", stamp,
			 "document", doc);
	text = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(root);
	if (!text) {
		snprintf(err, errlen, "cannot save state file %s: out of memory", path);
		return -ENOMEM;
	}
	/* state_load refuses a larger file: saving it would leave a gwd that can not restart. */
	if (strlen(text) + 1 > STATE_MAX_SIZE) {
		snprintf(err, errlen, "cannot save state file %s: the configuration would take "
			 "more than 64 MiB", path);
		free(text);
		return -EFBIG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	ret = write_all(fd, text, strlen(text));
	if (!ret)
		ret = write_all(fd, "\n", 1);
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (!ret)
		fsync_dir(path); /* best effort: the rename is done and can not be undone */
	else
		unlink(tmp);
out:
	if (ret)
		snprintf(err, errlen, "cannot save state file %s: %s", path, strerror(-ret));
	free(text);
	return ret;
}

