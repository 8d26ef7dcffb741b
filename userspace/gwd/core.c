// SPDX-License-Identifier: GPL-2.0
/* The change pipeline: build, compile every module, diff, apply with rollback, save, log. */
#include "gwd/gwd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwd/doc.h"
#include "gwd/state.h"
#include "lib/log.h"

int gwd_err_set(struct gwd_err *err, int status, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -EINVAL;
	err->status = status;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int gwd_core_init(struct gwd *gwd, const struct gwd_module *const *mods, struct gwd_err *err)
{
	size_t nc = 0;

	gwd->doc = json_object();
	gwd->n_mods = 0;
	for (size_t i = 0; mods[i]; i++) {
		struct gwd_module_slot *s;

		if (gwd->n_mods == GWD_MAX_MODULES) {
			gwd_err_set(err, 500, "too many modules (at most %d)", GWD_MAX_MODULES);
			goto fail;
		}
		s = &gwd->mods[gwd->n_mods];
		s->mod = mods[i];
		s->priv = NULL;
		s->compiled = NULL;
		if (s->mod->init && s->mod->init(gwd, &s->priv, err)) {
			if (!err->msg[0])
				gwd_err_set(err, 500, "module %s failed to start", s->mod->name);
			goto fail;
		}
		gwd->n_mods++;
		for (const struct gwd_collection *c = s->mod->collections; c && c->path; c++) {
			if (nc == GWD_MAX_COLLECTIONS) {
				gwd_err_set(err, 500, "too many collections");
				goto fail;
			}
			gwd->colls[nc++] = c;
		}
	}
	gwd->colls[nc] = NULL;
	return 0;
fail:
	gwd_core_fini(gwd);
	return -EINVAL;
}

void gwd_core_fini(struct gwd *gwd)
{
	while (gwd->n_mods) {
		struct gwd_module_slot *s = &gwd->mods[--gwd->n_mods];

		if (s->mod->fini)
			s->mod->fini(s->priv);
		s->mod->free(s->compiled);
		s->compiled = NULL;
		s->priv = NULL;
	}
	json_decref(gwd->doc);
	gwd->doc = NULL;
}

void *gwd_module_priv(struct gwd *gwd, const char *name)
{
	for (size_t i = 0; i < gwd->n_mods; i++)
		if (strcmp(gwd->mods[i].mod->name, name) == 0)
			return gwd->mods[i].priv;
	return NULL;
}

const void *gwd_module_compiled(struct gwd *gwd, const char *name)
{
	for (size_t i = 0; i < gwd->n_mods; i++)
		if (strcmp(gwd->mods[i].mod->name, name) == 0)
			return gwd->mods[i].compiled;
	return NULL;
}

int gwd_check_sections(struct gwd *gwd, const json_t *doc, struct gwd_err *err)
{
	const char *k;
	json_t *v;

	if (!json_is_object(doc))
		return gwd_err_set(err, 400, "the document must be an object of sections");
	json_object_foreach ((json_t *)doc, k, v) {
		char list[128] = "";
		size_t i;

		for (i = 0; i < gwd->n_mods; i++)
			if (gwd->mods[i].mod->section && strcmp(gwd->mods[i].mod->section, k) == 0)
				break;
		if (i < gwd->n_mods)
			continue;
		for (i = 0; i < gwd->n_mods; i++) {
			size_t n = strlen(list);

			if (gwd->mods[i].mod->section)
				snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "",
					 gwd->mods[i].mod->section);
		}
		return gwd_err_set(err, 400, "%s: unknown section (expected %s)", k,
				   list[0] ? list : "none");
	}
	return 0;
}

/* Compiles every module's section of doc into out[]; on error frees what it made. Sections
 * are canonicalised first (the candidate belongs to the change, so it may be edited). */
static int compile_all(struct gwd *gwd, json_t *doc, void **out, struct gwd_err *err)
{
	int ret = gwd_check_sections(gwd, doc, err);

	if (ret)
		return ret;
	for (size_t i = 0; i < gwd->n_mods; i++) {
		const struct gwd_module *m = gwd->mods[i].mod;
		json_t *sec = m->section ? json_object_get(doc, m->section) : NULL;

		if (sec && m->canonicalise)
			m->canonicalise(sec);
	}
	for (size_t i = 0; i < gwd->n_mods; i++) {
		const struct gwd_module *m = gwd->mods[i].mod;
		const json_t *sec = m->section ? json_object_get(doc, m->section) : NULL;

		err->status = 400;
		err->msg[0] = '\0';
		out[i] = m->compile(gwd->mods[i].priv, sec, doc, err);
		if (!out[i]) {
			if (!err->msg[0])
				gwd_err_set(err, 400, "%s: invalid", m->section ? m->section : m->name);
			while (i--)
				gwd->mods[i].mod->free(out[i]);
			return -EINVAL;
		}
	}
	return 0;
}

static void free_all(struct gwd *gwd, void **compiled)
{
	for (size_t i = 0; i < gwd->n_mods; i++)
		gwd->mods[i].mod->free(compiled[i]);
}

/* Puts the modules [0, upto] back on their running objects after a failed change. */
static void rollback(struct gwd *gwd, size_t upto, void **tried)
{
	for (size_t j = upto + 1; j-- > 0;) {
		struct gwd_module_slot *s = &gwd->mods[j];
		struct gwd_err e = { 0 };

		if (s->mod->apply(s->priv, s->compiled, tried[j], &e))
			log_error("rollback of module %s failed: %s; its running state may differ "
				  "from the saved document until the next change",
				  s->mod->name, e.msg);
	}
}

/* One log line: who, what, and the differences (shortened). */
static void log_change(struct gwd *gwd, const struct gwd_change_info *ci, const json_t *diff)
{
	char summary[700] = "";
	size_t n = 0, i, total = json_array_size(diff);
	const json_t *e;

	json_array_foreach ((json_t *)diff, i, e) {
		char *line = doc_diff_line(e);

		if (line && n + strlen(line) + 24 < sizeof(summary)) {
			n += (size_t)snprintf(summary + n, sizeof(summary) - n, "%s%s", i ? "; " : "",
					      line);
		} else {
			snprintf(summary + n, sizeof(summary) - n, "%s(%zu more)", i ? "; " : "",
				 total - i);
			free(line);
			break;
		}
		free(line);
	}
	log_info("change %" PRIu64 " by %s: %s: %s", gwd->generation, ci->who ? ci->who : "?",
		 ci->what ? ci->what : "?", summary);
}

int gwd_change(struct gwd *gwd, json_t *candidate, const struct gwd_change_info *ci, json_t **diff,
	       struct gwd_err *err)
{
	void *compiled[GWD_MAX_MODULES] = { 0 };
	char serr[GWD_ERR_LEN];
	json_t *d = NULL;
	size_t i;
	int ret;

	if (diff)
		*diff = NULL;
	if (ci->if_generation >= 0 && (uint64_t)ci->if_generation != gwd->generation) {
		gwd_err_set(err, 409,
			    "the configuration changed while this change was prepared (generation "
			    "%" PRId64 ", now %" PRIu64 "): review and retry",
			    ci->if_generation, gwd->generation);
		ret = -EAGAIN;
		goto refused;
	}
	ret = compile_all(gwd, candidate, compiled, err);
	if (ret)
		goto refused;
	d = doc_diff(gwd->doc, candidate, gwd->colls);
	if (ci->dry_run || json_array_size(d) == 0) {
		free_all(gwd, compiled);
		goto done;
	}
	for (i = 0; i < gwd->n_mods; i++) {
		struct gwd_module_slot *s = &gwd->mods[i];

		err->msg[0] = '\0';
		ret = s->mod->apply(s->priv, compiled[i], s->compiled, err);
		if (ret) {
			if (!err->msg[0])
				gwd_err_set(err, 500, "module %s failed to apply the change: %s",
					    s->mod->name, strerror(-ret));
			if (err->status < 500)
				err->status = 500;
			log_error("change by %s refused while applying (%s): %s; rolling back",
				  ci->who ? ci->who : "?", ci->what ? ci->what : "?", err->msg);
			rollback(gwd, i, compiled);
			goto failed;
		}
	}
	if (gwd->state_path[0]) {
		ret = state_save(gwd->state_path, candidate, gwd->generation + 1, serr, sizeof(serr));
		if (ret) {
			gwd_err_set(err, 500, "%s; the change was rolled back", serr);
			log_error("%s", err->msg);
			rollback(gwd, gwd->n_mods - 1, compiled);
			goto failed;
		}
	}
	for (i = 0; i < gwd->n_mods; i++) {
		gwd->mods[i].mod->free(gwd->mods[i].compiled);
		gwd->mods[i].compiled = compiled[i];
	}
	json_decref(gwd->doc);
	gwd->doc = candidate;
	candidate = NULL;
	gwd->generation++;
	gwd->changes_ok++;
	log_change(gwd, ci, d);
done:
	json_decref(candidate);
	if (diff)
		*diff = d;
	else
		json_decref(d);
	return 0;
failed:
	gwd->changes_failed++;
	free_all(gwd, compiled);
	json_decref(candidate);
	json_decref(d);
	return ret ? ret : -EIO;
refused:
	gwd->changes_refused++;
	log_info("change by %s refused: %s: %s", ci->who ? ci->who : "?", ci->what ? ci->what : "?",
		 err->msg);
	json_decref(candidate);
	return ret;
}

int gwd_core_start(struct gwd *gwd, json_t *doc, bool save, const char *source,
		   struct gwd_err *err)
{
	void *compiled[GWD_MAX_MODULES] = { 0 };
	char serr[GWD_ERR_LEN];
	size_t i;
	int ret;

	ret = compile_all(gwd, doc, compiled, err);
	if (ret)
		goto out;
	for (i = 0; i < gwd->n_mods; i++) {
		struct gwd_module_slot *s = &gwd->mods[i];

		ret = s->mod->apply(s->priv, compiled[i], NULL, err);
		if (ret) {
			if (!err->msg[0])
				gwd_err_set(err, 500, "module %s failed to start: %s", s->mod->name,
					    strerror(-ret));
			/* The modules applied so far keep their objects; fini releases them. */
			for (size_t j = 0; j < i; j++)
				gwd->mods[j].compiled = compiled[j];
			for (size_t j = i; j < gwd->n_mods; j++)
				gwd->mods[j].mod->free(compiled[j]);
			goto out;
		}
	}
	if (save && gwd->state_path[0]) {
		ret = state_save(gwd->state_path, doc, gwd->generation + 1, serr, sizeof(serr));
		if (ret) {
			gwd_err_set(err, 500, "%s", serr);
			for (i = 0; i < gwd->n_mods; i++)
				gwd->mods[i].compiled = compiled[i];
			goto out;
		}
		gwd->generation++;
	}
	for (i = 0; i < gwd->n_mods; i++)
		gwd->mods[i].compiled = compiled[i];
	json_decref(gwd->doc);
	gwd->doc = json_incref(doc);
	log_info("configuration from %s applied (generation %" PRIu64 ")", source,
		 gwd->generation);
out:
	json_decref(doc);
	return ret;
}
