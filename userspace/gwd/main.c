// SPDX-License-Identifier: GPL-2.0
/* gwd, the xdpgw daemon: owns the BPF objects and the gateway, serves the admin API. */
#include <errno.h>
#include <fcntl.h>
#include <bpf/libbpf.h>
#include <getopt.h>
#include <sys/resource.h>
#include <h2o.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gwd/admin.h"
#include "gwd/caps.h"
#include "gwd/cfg.h"
#include "gwd/gwd.h"
#include "gwd/state.h"
#include "lib/bpffs.h"
#include "lib/lb.h"
#include "lib/log.h"
#include "lib/yaml2json.h"

/* libbpf's messages as gwd log lines: warnings as warnings, the rest at debug level. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char msg[4096];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	if (n)
		log_msg(level == LIBBPF_WARN ? LOG_LVL_WARN : LOG_LVL_DEBUG, "%s", msg);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: gwd [--config FILE] [--state-dir DIR] [--socket PATH] [--bpffs DIR]\n"
		"           [--foreground] [--log-level error|warn|info|debug]\n"
		"           [--admin-listen ADDR:PORT --admin-token-file FILE [--admin-allow-remote]]\n"
		"       gwd --version | --help\n"
		"Defaults: --config " GWD_DEFAULT_CONFIG " (optional), --state-dir "
		GWD_DEFAULT_STATE_DIR ",\n"
		"          --socket " GWD_DEFAULT_SOCKET ", --bpffs " GWD_DEFAULT_BPFFS "\n"
		"Without --foreground, gwd returns once it serves its admin socket.\n"
		"See docs/config.md and docs/admin-api.md.\n");
}

/* The config file's gwd section fills what the command line left unset. */
static int daemon_settings(struct gwd_opts *o, const json_t *sec, struct gwd_err *err)
{
	static const char *const known[] = { "socket", "state_dir", "bpffs", "log_level",
					     "admin_listen", "admin_token_file",
					     "admin_allow_remote", "admin_max_connections", NULL };
	static const char *const levels[] = { "error", "warn", "info", "debug", NULL };
	const char *s;
	int lvl;

	if (!sec)
		return 0;
	if (cfg_fields(sec, "gwd", known, err))
		return -EINVAL;
	if (!o->socket && (cfg_str(sec, "gwd", "socket", NULL, &o->socket, err)))
		return -EINVAL;
	if (!o->state_dir && (cfg_str(sec, "gwd", "state_dir", NULL, &o->state_dir, err)))
		return -EINVAL;
	if (!o->bpffs && (cfg_str(sec, "gwd", "bpffs", NULL, &o->bpffs, err)))
		return -EINVAL;
	if (!o->admin_listen &&
	    cfg_str(sec, "gwd", "admin_listen", NULL, &o->admin_listen, err))
		return -EINVAL;
	if (!o->admin_token_file &&
	    cfg_str(sec, "gwd", "admin_token_file", NULL, &o->admin_token_file, err))
		return -EINVAL;
	if (o->admin_allow_remote < 0) {
		bool b;

		if (cfg_bool(sec, "gwd", "admin_allow_remote", false, &b, err))
			return -EINVAL;
		o->admin_allow_remote = b;
	}
	if (cfg_u32(sec, "gwd", "admin_max_connections", 1, 65536, ADMIN_DEFAULT_MAX_CONNS,
		    &o->admin_max_connections, err))
		return -EINVAL;
	if (cfg_str(sec, "gwd", "log_level", NULL, &s, err))
		return -EINVAL;
	if (s && o->log_level < 0) {
		if (cfg_enum(sec, "gwd", "log_level", levels, 0, &lvl, err))
			return -EINVAL;
		o->log_level = lvl;
	}
	return 0;
}

/* Reads the config file: daemon settings, and the document used when no state file exists. */
static int load_config(struct gwd_opts *o, json_t **doc, struct gwd_err *err)
{
	char msg[GWD_ERR_LEN];
	json_t *cfg;

	*doc = NULL;
	if (!o->config_explicit && access(o->config, F_OK) && errno == ENOENT)
		return 0;
	cfg = yaml_file_to_json(o->config, msg, sizeof(msg));
	if (!cfg)
		return gwd_err_set(err, 400, "%s", msg);
	if (!json_is_object(cfg)) {
		json_decref(cfg);
		return gwd_err_set(err, 400, "%s: the configuration must be a mapping of sections",
				   o->config);
	}
	if (daemon_settings(o, json_object_get(cfg, "gwd"), err)) {
		char tmp[GWD_ERR_LEN];

		memcpy(tmp, err->msg, sizeof(tmp));
		gwd_err_set(err, 400, "%s: %.400s", o->config, tmp);
		json_decref(cfg);
		return -EINVAL;
	}
	json_object_del(cfg, "gwd");
	*doc = cfg;
	return 0;
}

/* Forks; the parent waits until the child reports ready (exit 0) or dies (exit 1). */
static int daemonize(int *ready_fd)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		_exit(read(p[0], &c, 1) == 1 ? 0 : 1);
	}
	close(p[0]);
	setsid();
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (devnull >= 0) {
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		close(devnull);
	}
	*ready_fd = p[1];
	return 0;
}

static void on_signal(h2o_socket_t *sock, const char *err)
{
	struct gwd *gwd = sock->data;
	struct signalfd_siginfo si;
	int fd = h2o_socket_get_fd(sock);

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			/* By default it would end gwd, and the gateway's traffic with it. */
			log_warn("SIGHUP ignored: gwd has nothing to reload (change the "
				 "configuration with gwctl apply -f FILE)");
			continue;
		}
		log_info("signal %s received: shutting down (the datapath stays attached)",
			 strsignal((int)si.ssi_signo));
		gwd->stop = 1;
	}
}

static h2o_socket_t *signals_watch(struct gwd *gwd)
{
	sigset_t set;
	h2o_socket_t *sock;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return NULL;
	sock = h2o_evloop_socket_create((h2o_evloop_t *)gwd->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
	sock->data = gwd;
	h2o_socket_read_start(sock, on_signal);
	return sock;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "socket", required_argument, NULL, 'S' },
		{ "bpffs", required_argument, NULL, 'b' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "admin-listen", required_argument, NULL, 'A' },
		{ "admin-token-file", required_argument, NULL, 'T' },
		{ "admin-allow-remote", no_argument, NULL, 'R' },
		{},
	};
	static struct gwd gwd;
	struct gwd_opts *o = &gwd.opts;
	struct gwd_err err = { 0 };
	h2o_socket_t *sigsock = NULL;
	json_t *cfg_doc = NULL, *state_doc = NULL;
	char msg[GWD_ERR_LEN];
	uint64_t generation = 0;
	int c, ret, ready_fd = -1;
	struct rlimit nofile;

	o->log_level = -1;
	o->admin_allow_remote = -1;
	log_init("gwd", LOG_LVL_INFO);
	{
		/* Before any thread starts (gateway workers inherit the mask): TERM, INT, HUP must
		 * reach signals_watch()'s signalfd, not kill the process from a worker thread. */
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGHUP);
		sigprocmask(SIG_BLOCK, &set, NULL);
	}
	/* Before the gateway's workers and health checks write to sockets: a peer that resets
	 * must cost an EPIPE, not the process (signals_watch() comes only after the start). */
	signal(SIGPIPE, SIG_IGN);
	libbpf_set_print(libbpf_print);
	while ((c = getopt_long(argc, argv, "c:s:S:b:fl:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			o->config_explicit = true;
			break;
		case 's':
			o->state_dir = optarg;
			break;
		case 'S':
			o->socket = optarg;
			break;
		case 'b':
			o->bpffs = optarg;
			break;
		case 'f':
			o->foreground = true;
			break;
		case 'A':
			o->admin_listen = optarg;
			break;
		case 'T':
			o->admin_token_file = optarg;
			break;
		case 'R':
			o->admin_allow_remote = 1;
			break;
		case 'l':
			o->log_level = log_parse_level(optarg);
			if (o->log_level < 0) {
				fprintf(stderr, "gwd: unknown log level '%s' (expected error, warn, "
						"info or debug)\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("gwd " XDPGW_VERSION "\n");
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "gwd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!o->config)
		o->config = GWD_DEFAULT_CONFIG;
	if (load_config(o, &cfg_doc, &err)) {
		log_error("%s", err.msg);
		return 1;
	}
	if (!o->state_dir)
		o->state_dir = GWD_DEFAULT_STATE_DIR;
	if (!o->socket)
		o->socket = GWD_DEFAULT_SOCKET;
	if (!o->bpffs)
		o->bpffs = GWD_DEFAULT_BPFFS;
	if (o->log_level >= 0)
		log_set_level((enum log_level)o->log_level);
	if (geteuid() != 0)
		log_warn("not running as root: BPF and netlink operations will fail");

	if (lb_mkdir_p(o->state_dir)) {
		log_error("cannot create state directory %s: %s", o->state_dir, strerror(errno));
		goto fail_early;
	}
	snprintf(gwd.state_path, sizeof(gwd.state_path), "%s/%s", o->state_dir, GWD_STATE_FILE);
	ret = state_load(gwd.state_path, &state_doc, &generation, msg, sizeof(msg));
	if (ret && ret != -ENOENT) {
		log_error("%s; refusing to start", msg);
		goto fail_early;
	}
	if (bpffs_prepare(o->bpffs, msg, sizeof(msg))) {
		log_error("%s", msg);
		goto fail_early;
	}
	if (!o->foreground && daemonize(&ready_fd)) {
		log_error("cannot daemonize: %s", strerror(errno));
		goto fail_early;
	}

	/* Client connections are bounded by gateway.limits.max_connections, not a 1024 soft
	 * limit on descriptors: the soft limit goes up to the hard one. */
	if (!getrlimit(RLIMIT_NOFILE, &nofile) && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	/* Before any thread exists: the reduced sets then hold for every thread made later. */
	if (caps_drop(msg, sizeof(msg))) {
		log_error("%s", msg);
		goto fail_early;
	}
	if (geteuid() == 0)
		log_info("capabilities after start-up: %s", caps_kept_text());
	gwd.started = time(NULL);
	gwd.loop = (struct st_h2o_evloop_t *)h2o_evloop_create();
	if (gwd_core_init(&gwd, gwd_modules, &err)) {
		log_error("%s", err.msg);
		goto fail_early;
	}
	gwd.generation = generation;
	if (state_doc) {
		if (cfg_doc)
			log_info("restoring state from %s; the sections of %s are not re-read (use "
				 "gwctl apply -f to apply a changed file)",
				 gwd.state_path, o->config);
		ret = gwd_core_start(&gwd, state_doc, false, gwd.state_path, &err);
		state_doc = NULL;
		if (ret) {
			log_error("state file %s can not be applied: %s; refusing to start (the file "
				  "was left untouched)",
				  gwd.state_path, err.msg);
			goto fail;
		}
	} else {
		gwd.empty_start = !cfg_doc;
		ret = gwd_core_start(&gwd, cfg_doc ? json_incref(cfg_doc) : json_object(), true,
				     cfg_doc ? o->config : "an empty configuration", &err);
		if (ret) {
			log_error("%s%s%s", cfg_doc ? o->config : "", cfg_doc ? ": " : "", err.msg);
			goto fail;
		}
	}
	if (admin_start(&gwd, o->socket, &err) ||
	    (o->admin_listen && admin_listen_tcp(&gwd, o->admin_listen, o->admin_token_file,
						 o->admin_allow_remote > 0, &err))) {
		log_error("%s", err.msg);
		goto fail;
	}
	sigsock = signals_watch(&gwd);
	if (!sigsock) {
		log_error("signalfd: %s", strerror(errno));
		goto fail;
	}
	log_info("gwd " XDPGW_VERSION " running (pid %d, state %s, bpffs %s, generation %" PRIu64
		 ")",
		 (int)getpid(), gwd.state_path, o->bpffs, gwd.generation);
	if (ready_fd >= 0) {
		(void)!write(ready_fd, "1", 1);
		close(ready_fd);
		ready_fd = -1;
	}
	while (!gwd.stop)
		h2o_evloop_run((h2o_evloop_t *)gwd.loop, INT32_MAX);

	h2o_socket_read_stop(sigsock);
	h2o_socket_close(sigsock);
	admin_stop(&gwd);
	gwd_core_fini(&gwd);
	json_decref(cfg_doc);
	log_info("stopped");
	return 0;
fail:
	admin_stop(&gwd);
	gwd_core_fini(&gwd);
fail_early:
	json_decref(cfg_doc);
	json_decref(state_doc);
	return 1;
}
