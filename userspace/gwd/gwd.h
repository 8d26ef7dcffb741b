/* SPDX-License-Identifier: GPL-2.0 */
/* The daemon's context and its change pipeline: one document, compiled and applied as a whole. */
#ifndef XDPGW_GWD_H
#define XDPGW_GWD_H

#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "gwd/module.h"

struct st_h2o_evloop_t;
struct admin_server;

#define GWD_MAX_MODULES 8
#define GWD_MAX_COLLECTIONS 32

#define GWD_DEFAULT_CONFIG "/etc/xdpgw/gwd.yaml"
#define GWD_DEFAULT_STATE_DIR "/var/lib/xdpgw"
#define GWD_DEFAULT_SOCKET "/run/xdpgw/gwd.sock"
#define GWD_DEFAULT_BPFFS "/sys/fs/bpf/xdpgw"
#define GWD_STATE_FILE "state.json"

struct gwd_opts {
	const char *config;
	bool config_explicit;	/* --config given: a missing file is an error */
	const char *state_dir;
	const char *socket;
	const char *bpffs;
	bool foreground;
	int log_level;
	const char *admin_listen;	/* optional TCP admin listener, ADDR:PORT or PORT */
	const char *admin_token_file;	/* its token (required with admin_listen) */
	int admin_allow_remote;		/* -1 unset; 1: a non-loopback admin_listen is allowed */
	uint32_t admin_max_connections;	/* per admin listener; 0: ADMIN_DEFAULT_MAX_CONNS */
};

struct gwd_module_slot {
	const struct gwd_module *mod;
	void *priv;
	void *compiled;		/* what the module runs now (NULL before the first apply) */
};

struct gwd {
	struct gwd_opts opts;
	char state_path[PATH_MAX];	/* empty: changes are not saved (some unit tests) */
	struct st_h2o_evloop_t *loop;	/* the main event loop; NULL in unit tests */
	json_t *doc;			/* the current document, always an object */
	struct gwd_module_slot mods[GWD_MAX_MODULES];
	size_t n_mods;
	const struct gwd_collection *colls[GWD_MAX_COLLECTIONS + 1]; /* NULL-terminated */
	uint64_t generation;		/* accepted changes since the state file was created */
	uint64_t changes_ok, changes_refused, changes_failed; /* since start, for metrics */
	time_t started;
	bool empty_start;		/* started with no state file and no config file */
	struct admin_server *admin;
	volatile sig_atomic_t stop;
};

/* Who asked for a change and what they asked, for the log line. */
struct gwd_change_info {
	const char *who;	/* "gwctl (uid 0)", "config /etc/xdpgw/gwd.yaml", ... */
	const char *what;	/* "backend add web 198.18.1.3" */
	bool dry_run;		/* compile and diff only */
	int64_t if_generation;	/* >= 0: refuse (409) unless gwd->generation equals it */
};

/*
 * Registers the modules of the NULL-terminated table mods and runs their init. The document
 * starts empty. Returns 0, or a negative errno with err set (modules initialised so far are
 * finalised again).
 */
int gwd_core_init(struct gwd *gwd, const struct gwd_module *const *mods, struct gwd_err *err);
/* Finalises the modules in reverse order and frees the document and compiled objects. */
void gwd_core_fini(struct gwd *gwd);

/*
 * The change pipeline: compiles every module's section of candidate, diffs it against the
 * current document, applies it (rolling back on failure), saves it to the state file and makes
 * it current. Takes ownership of candidate. When diff is not NULL it receives a new array of
 * {"op": "+"|"-"|"~", "path": ..., "old": ..., "new": ...} (also on dry runs). A change that
 * changes nothing succeeds without applying or saving. Returns 0 or a negative errno with err
 * set; on error nothing changed.
 */
int gwd_change(struct gwd *gwd, json_t *candidate, const struct gwd_change_info *ci, json_t **diff,
	       struct gwd_err *err);

/*
 * The first apply at start: doc (owned) came from the state file (save == false) or the config
 * file (save == true). The generation is taken from the state file by the caller.
 */
int gwd_core_start(struct gwd *gwd, json_t *doc, bool save, const char *source,
		   struct gwd_err *err);

/* Checks the top level of a document: an object whose keys are module sections. */
int gwd_check_sections(struct gwd *gwd, const json_t *doc, struct gwd_err *err);

#endif
