// SPDX-License-Identifier: GPL-2.0
/*
 * Runs the gateway library alone from a config file, for tests and benchmarks of the L7 path
 * without the rest of gwd:
 *   gwgate -c FILE [--metrics-file PATH] [--log-level LEVEL]
 * FILE is YAML or JSON with a `gateway` section (or the section itself). SIGHUP re-reads FILE
 * and applies it live (prints "applied" or "Error: ..." to stderr); SIGUSR1 writes the
 * Prometheus metrics to --metrics-file; SIGTERM/SIGINT stop it.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/gateway.h"
#include "gateway/policy.h"
#include "lib/log.h"
#include "lib/yaml2json.h"


/*
 * test-async: a policy that exists only in this test tool, to exercise the asynchronous
 * policy path the way a Redis or JWKS policy uses it: on_request returns GW_POLICY_ASYNC, a
 * timer on the worker's loop fires after delay_ms and resumes the request (or answers 401 when
 * deny is true); a client that goes away first cancels the timer through gw_ctx_on_abort.
 */
struct test_async {
	uint64_t delay_ms;
	bool deny;
};

struct test_async_req {
	struct gw_timer timer;
	struct gw_ctx *c;
	const struct test_async *p;
};

static void *test_async_compile(const json_t *conf, const struct gw_policy_env *env, char *err,
				size_t errlen)
{
	struct test_async *p = calloc(1, sizeof(*p));
	json_t *d = json_object_get(conf, "delay_ms");

	if (!p)
		return NULL;
	if (!json_is_integer(d) || json_integer_value(d) < 1 || json_integer_value(d) > 10000) {
		snprintf(err, errlen, ".delay_ms: must be 1-10000");
		free(p);
		return NULL;
	}
	p->delay_ms = json_integer_value(d);
	p->deny = json_is_true(json_object_get(conf, "deny"));
	return p;
}

static void test_async_fire(struct gw_timer *t)
{
	struct test_async_req *r = t->data;
	struct gw_ctx *c = r->c;

	gw_ctx_req_header_set(c, "x-async", "done", 4);
	if (r->p->deny) {
		gw_ctx_error(c, 401, "unauthorized", "denied by test-async");
		gw_ctx_resume(c, GW_POLICY_RESPONDED);
	} else {
		gw_ctx_resume(c, GW_POLICY_CONTINUE);
	}
}

static void test_async_abort(void *data)
{
	struct test_async_req *r = data;

	gw_timer_stop(&r->timer);
}

static enum gw_policy_verdict test_async_on_request(void *inst, struct gw_ctx *c)
{
	struct test_async_req *r = gw_ctx_alloc(c, sizeof(*r));

	*r = (struct test_async_req){ .c = c, .p = inst };
	r->timer.cb = test_async_fire;
	r->timer.data = r;
	gw_ctx_on_abort(c, test_async_abort, r);
	gw_ctx_timer_start(c, &r->timer, r->p->delay_ms);
	return GW_POLICY_ASYNC;
}

static const struct gw_policy_ops test_async_ops = {
	.name = "test-async",
	.compile = test_async_compile,
	.free = free,
	.on_request = test_async_on_request,
};
GW_POLICY_REGISTER(test_async_ops)

static struct gw_config *load(const char *path, char *err, size_t errlen)
{
	json_t *doc = yaml_file_to_json(path, err, errlen), *sec;
	struct gw_config *cfg;

	if (!doc)
		return NULL;
	sec = json_object_get(doc, "gateway");
	cfg = gw_config_compile(sec ? sec : doc, err, errlen);
	json_decref(doc);
	return cfg;
}

static void write_metrics(struct gw_server *srv, const char *path)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	gw_server_metrics(srv, f);
	fclose(f);
	rename(tmp, path);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "metrics-file", required_argument, NULL, 'm' },
		{ "log-level", required_argument, NULL, 'L' },
		{},
	};
	const char *path = NULL, *metrics = NULL;
	struct gw_server *srv;
	struct gw_config *cfg;
	char err[512];
	sigset_t set;
	int c, sig;

	log_init("gwgate", LOG_LVL_INFO);
	while ((c = getopt_long(argc, argv, "c:m:L:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'm': metrics = optarg; break;
		case 'L':
			if (log_parse_level(optarg) < 0) {
				fprintf(stderr, "Error: unknown log level \"%s\"\n", optarg);
				return 2;
			}
			log_set_level(log_parse_level(optarg));
			break;
		default:
			fprintf(stderr, "usage: gwgate -c FILE [--metrics-file PATH]\n");
			return 2;
		}
	}
	if (!path) {
		fprintf(stderr, "Error: -c FILE is required\n");
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);	/* worker threads inherit the mask */
	signal(SIGPIPE, SIG_IGN);
	cfg = load(path, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "Error: %s\n", err);
		return 1;
	}
	srv = gw_server_start(cfg, err, sizeof(err));
	gw_config_put(cfg);
	if (!srv) {
		fprintf(stderr, "Error: %s\n", err);
		return 1;
	}
	fprintf(stderr, "started\n");
	for (;;) {
		if (sigwait(&set, &sig))
			continue;
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGUSR1 && metrics) {
			write_metrics(srv, metrics);
			continue;
		}
		if (sig != SIGHUP)
			continue;
		cfg = load(path, err, sizeof(err));
		if (!cfg || gw_server_apply(srv, cfg, err, sizeof(err)))
			fprintf(stderr, "Error: %s\n", err);
		else
			fprintf(stderr, "applied\n");
		gw_config_put(cfg);
	}
	gw_server_stop(srv);
	return 0;
}
