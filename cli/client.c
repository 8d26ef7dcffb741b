// SPDX-License-Identifier: GPL-2.0
/* The admin API client: HTTP + JSON over gwd's unix socket with libcurl. */
#include <curl/curl.h>
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gwctl.h"

struct buf {
	char *data;
	size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buf *b = userdata;
	size_t n = size * nmemb;
	char *p = realloc(b->data, b->len + n + 1);

	if (!p)
		return 0;
	memcpy(p + b->len, ptr, n);
	b->data = p;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* Points c at url on gwd's admin socket: errors into errbuf, the answer into b, bounded. */
static void curl_to_gwd(CURL *c, const char *url, char *errbuf, struct buf *b)
{
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, cli.socket);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
}

const char *cli_escape(const char *s)
{
	static char slots[4][512];
	static int next;
	char *out = slots[next++ % 4];
	size_t o = 0;

	for (; *s && o + 4 < sizeof(slots[0]); s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("-._~:", c))
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, 4, "%%%02X", c);
	}
	out[o] = '\0';
	return out;
}

/* Reports through cli_error, or only into why for quiet calls. Returns 1. */
static int fail(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t len, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (why)
		snprintf(why, len, "%s", msg);
	else
		cli_error("%s", msg);
	return 1;
}

static int unreachable(long os_errno, CURLcode rc, const char *msg, char *why, size_t len)
{
	if (os_errno == ENOENT)
		return fail(why, len, "gwd is not running (no admin socket at %s)", cli.socket);
	if (os_errno == ECONNREFUSED)
		return fail(why, len, "gwd is not running (nothing listens on %s)", cli.socket);
	if (os_errno == EACCES || os_errno == EPERM)
		return fail(why, len,
			    "permission denied on %s: gwctl needs root to change gwd's "
			    "configuration",
			    cli.socket);
	return fail(why, len, "cannot reach gwd at %s: %s", cli.socket,
		    msg[0] ? msg : curl_easy_strerror(rc));
}

int gwd_call(const char *method, const char *path, const json_t *body, json_t **resp)
{
	return gwd_try(method, path, body, resp, NULL, 0);
}

int gwd_try(const char *method, const char *path, const json_t *body, json_t **resp, char *why,
	    size_t whylen)
{
	char url[1024], who[256], errbuf[CURL_ERROR_SIZE] = "", *text = NULL;
	struct curl_slist *hdrs = NULL;
	struct buf b = { 0 };
	struct passwd *pw = getpwuid(geteuid());
	long status = 0, os_errno = 0;
	json_t *v = NULL;
	CURLcode rc;
	CURL *c;
	int ret = 1;

	if (resp)
		*resp = NULL;
	c = curl_easy_init();
	if (!c)
		return cli_error("cannot initialise libcurl");
	snprintf(url, sizeof(url), "http://gwd/v1/%s", path);
	snprintf(who, sizeof(who), "X-Xdpgw-Who: gwctl (user %s, uid %u, pid %d)",
		 pw ? pw->pw_name : "?", (unsigned)geteuid(), (int)getpid());
	hdrs = curl_slist_append(hdrs, who);
	{
		char what[600];

		snprintf(what, sizeof(what), "X-Xdpgw-What: %s", cli.cmdline);
		hdrs = curl_slist_append(hdrs, what);
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_to_gwd(c, url, errbuf, &b);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (cli.debug)
		fprintf(stderr, "gwctl: %s %s %s\n", method, url, text ? text : "");
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
		ret = unreachable(os_errno, rc, errbuf, why, whylen);
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (b.len)
		v = json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
	if (status >= 200 && status < 300) {
		if (b.len && !v) {
			ret = fail(why, whylen, "gwd answered with invalid JSON");
			goto out;
		}
		if (resp)
			*resp = v ? v : json_null();
		else
			json_decref(v);
		v = NULL;
		ret = 0;
	} else {
		const char *msg = json_string_value(json_object_get(v, "error"));

		ret = msg ? fail(why, whylen, "%s", msg)
			  : fail(why, whylen, "gwd answered HTTP %ld", status);
	}
out:
	json_decref(v);
	free(b.data);
	free(text);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return ret;
}

int gwd_get_text(const char *path, char **text)
{
	char url[1024], errbuf[CURL_ERROR_SIZE] = "";
	struct buf b = { 0 };
	long status = 0, os_errno = 0;
	CURLcode rc;
	CURL *c = curl_easy_init();
	int ret = 1;

	*text = NULL;
	if (!c)
		return cli_error("cannot initialise libcurl");
	snprintf(url, sizeof(url), "http://gwd/%s", path);
	curl_to_gwd(c, url, errbuf, &b);
	if (cli.debug)
		fprintf(stderr, "gwctl: GET %s\n", url);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
		ret = unreachable(os_errno, rc, errbuf, NULL, 0);
	} else if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status), status / 100 != 2) {
		ret = cli_error("gwd answered HTTP %ld for /%s", status, path);
	} else {
		*text = b.data ? b.data : strdup("");
		b.data = NULL;
		ret = *text ? 0 : cli_error("out of memory");
	}
	free(b.data);
	curl_easy_cleanup(c);
	return ret;
}

int cli_delete(const char *cmd, const char *arg, const char *collection, int argc, char **argv)
{
	char path[768];

	if (argc < 1)
		return cli_error("%s: missing %s", cmd, arg);
	if (cli_no_more(cmd, argc - 1, argv + 1))
		return 1;
	snprintf(path, sizeof(path), "%s/%s", collection, cli_escape(argv[0]));
	return gwd_call("DELETE", path, NULL, NULL) ?: cli_changed();
}
