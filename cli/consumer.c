// SPDX-License-Identifier: GPL-2.0
/*
 * gwctl consumer: the gateway's consumers and their credentials: add, del, set, show, key add
 * and del, password set and del. Secrets never travel or rest in clear: API keys are made here
 * (or read from stdin) and only their SHA-256 goes to gwd; passwords are read from stdin (or a
 * terminal prompt) and hashed here with yescrypt. Nothing shows a key, a digest or a hash.
 */
#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "gwctl.h"

#define SECRET_MAX 1024
#define CHANGE_TRIES 3

/* ---- helpers ---- */

static int consumer_path(char *buf, size_t len, const char *id)
{
	snprintf(buf, len, "gateway/consumers/%s", cli_escape(id));
	return 0;
}

static json_t *split_list(const char *s)
{
	json_t *arr = json_array();
	char buf[2048], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		json_array_append_new(arr, json_string(tok));
	return arr;
}

/* Reads one secret line from stdin; prompts (twice, without echo) on a terminal. */
static int read_secret(const char *what, char *out, size_t len)
{
	bool tty = isatty(STDIN_FILENO);
	struct termios old, quiet;
	char again[SECRET_MAX];
	bool too_long = false;
	size_t n;

	if (tty) {
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		fprintf(stderr, "%s: ", what);
	}
	if (!fgets(out, (int)len, stdin))
		out[0] = 0;
	n = strlen(out);
	if (n == len - 1 && out[n - 1] != '\n') {
		/* fgets stopped at the buffer: the rest would have been lost, not stored. */
		int c = getc(stdin);

		too_long = c != EOF && c != '\n' && !(c == '\r' && getc(stdin) == '\n');
	}
	if (tty) {
		fprintf(stderr, "\nagain: ");
		if (!fgets(again, sizeof(again), stdin))
			again[0] = 0;
		fprintf(stderr, "\n");
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	}
	if (too_long) {
		OPENSSL_cleanse(out, len);
		return cli_error("%s on stdin: longer than %zu characters", what, len - 1);
	}
	n = strcspn(out, "\r\n");
	out[n] = 0;
	if (tty) {
		again[strcspn(again, "\r\n")] = 0;
		if (strcmp(out, again)) {
			OPENSSL_cleanse(again, sizeof(again));
			return cli_error("the two entries differ");
		}
		OPENSSL_cleanse(again, sizeof(again));
	}
	if (!n)
		return cli_error("empty %s on stdin", what);
	return 0;
}

static int current_generation(long long *gen)
{
	json_t *st;

	if (gwd_call("GET", "status", NULL, &st))
		return 1;
	*gen = json_integer_value(json_object_get(st, "generation"));
	json_decref(st);
	return 0;
}

/*
 * Read-modify-write of one consumer with optimistic concurrency: edit(consumer, arg) changes a
 * copy, which is sent as a PATCH valid only if nothing changed in between (retried a few times).
 */
static int change_consumer(const char *id, int (*edit)(json_t *patch, const json_t *cur, void *arg),
			   void *arg)
{
	char path[512], upath[600], why[512];
	int tries, ret = 1;

	consumer_path(path, sizeof(path), id);
	for (tries = 0; tries < CHANGE_TRIES; tries++) {
		json_t *cur, *patch;
		long long gen;

		if (current_generation(&gen) || gwd_call("GET", path, NULL, &cur))
			return 1;
		patch = json_object();
		ret = edit(patch, cur, arg);
		json_decref(cur);
		if (ret) {
			json_decref(patch);
			return ret;
		}
		snprintf(upath, sizeof(upath), "%s?if_generation=%lld", path, gen);
		ret = gwd_try("PATCH", upath, patch, NULL, why, sizeof(why));
		json_decref(patch);
		if (!ret)
			return 0;
		if (!strstr(why, "generation"))
			return cli_error("%s", why);
	}
	return cli_error("consumer %s changed while editing it; try again", id);
}

/* ---- add, del, set ---- */

static int parse_groups(const char *what, int argc, char **argv, json_t *body)
{
	for (int i = 0; i < argc; i += 2) {
		if (!cli_is_prefix(argv[i], "groups"))
			return cli_error("%s: unknown argument '%s' (expected groups G,G)", what,
					 argv[i]);
		if (i + 1 >= argc)
			return cli_error("%s: groups needs a value (G,G,...)", what);
		json_object_set_new(body, "groups", split_list(argv[i + 1]));
	}
	return 0;
}

static int consumer_add(int argc, char **argv)
{
	json_t *body;
	int ret;

	if (argc < 1)
		return cli_error("consumer add: missing ID (gwctl consumer add ID [groups G,G])");
	body = json_pack("{s:s}", "id", argv[0]);
	ret = parse_groups("consumer add", argc - 1, argv + 1, body);
	if (!ret)
		ret = gwd_call("POST", "gateway/consumers", body, NULL);
	json_decref(body);
	return ret ? ret : cli_changed();
}

static int consumer_del(int argc, char **argv)
{
	return cli_delete("consumer del", "ID", "gateway/consumers", argc, argv);
}

static int consumer_set(int argc, char **argv)
{
	char path[512];
	json_t *body;
	int ret;

	if (argc < 3)
		return cli_error("consumer set: usage: gwctl consumer set ID groups G,G");
	body = json_object();
	ret = parse_groups("consumer set", argc - 1, argv + 1, body);
	consumer_path(path, sizeof(path), argv[0]);
	if (!ret)
		ret = gwd_call("PATCH", path, body, NULL);
	json_decref(body);
	return ret ? ret : cli_changed();
}

/* ---- show: names and user names only, never a digest or a hash ---- */

static void show_one(const json_t *c)
{
	json_t *groups = json_object_get(c, "groups"), *keys = json_object_get(c, "keys"), *v;
	json_t *basic = json_object_get(c, "basic_auth");
	const char *id = json_string_value(json_object_get(c, "id")) ?: "";
	char gbuf[512] = "", kbuf[512] = "";
	size_t i, o;

	if (print_is_json()) {
		json_t *out = json_pack("{s:s}", "id", id), *ka = json_array();

		json_object_set(out, "groups", groups ? groups : json_array());
		json_array_foreach(keys, i, v)
			json_array_append_new(ka, json_pack("{s:s?}", "name",
							    json_string_value(json_object_get(v, "name"))));
		json_object_set_new(out, "keys", ka);
		if (basic)
			json_object_set_new(out, "basic_auth",
					    json_pack("{s:s}", "username",
						      json_string_value(json_object_get(basic, "username"))
							      ?: id));
		print_json(NULL, out);
		return;
	}
	o = 0;
	json_array_foreach(groups, i, v)
		o += (size_t)snprintf(gbuf + o, o < sizeof(gbuf) ? sizeof(gbuf) - o : 0, "%s%s",
				      i ? "," : "", json_string_value(v) ?: "");
	o = 0;
	json_array_foreach(keys, i, v)
		o += (size_t)snprintf(kbuf + o, o < sizeof(kbuf) ? sizeof(kbuf) - o : 0, "%s%s",
				      i ? "," : "",
				      json_string_value(json_object_get(v, "name")) ?: "(unnamed)");
	print_text("%-20s %-24s %-28s %s\n", id, gbuf[0] ? gbuf : "-", kbuf[0] ? kbuf : "-",
		   basic ? json_string_value(json_object_get(basic, "username")) ?: id : "-");
}

static int consumer_show(int argc, char **argv)
{
	json_t *arr, *c;
	size_t i;

	if (argc > 1)
		return cli_no_more("consumer show", argc - 1, argv + 1);
	if (gwd_call("GET", "gateway/consumers", NULL, &arr))
		return 1;
	if (argc == 1) {
		bool found = false;

		json_array_foreach(arr, i, c)
			found |= !strcmp(json_string_value(json_object_get(c, "id")) ?: "", argv[0]);
		if (!found) {
			json_decref(arr);
			return cli_error("consumer '%s' not found", argv[0]);
		}
	}
	print_start();
	open_json_array(NULL);
	if (!print_is_json())
		print_text("%-20s %-24s %-28s %s\n", "ID", "GROUPS", "KEYS", "BASIC-AUTH USER");
	json_array_foreach(arr, i, c)
		if (argc == 0 || !strcmp(json_string_value(json_object_get(c, "id")) ?: "", argv[0]))
			show_one(c);
	close_json_array();
	print_end();
	json_decref(arr);
	return 0;
}

/* ---- API keys ---- */

struct key_edit {
	const char *name;	/* NULL: derived from the digest */
	char sha[65];
	bool del;
};

static int edit_keys(json_t *patch, const json_t *cur, void *arg)
{
	struct key_edit *ke = arg;
	json_t *keys = json_array(), *k;
	bool found = false;
	size_t i;

	json_array_foreach(json_object_get(cur, "keys"), i, k) {
		const char *name = json_string_value(json_object_get(k, "name"));
		const char *sha = json_string_value(json_object_get(k, "sha256"));
		char fp[9] = "";

		if (!name && sha)
			snprintf(fp, sizeof(fp), "%.8s", sha);	/* gwd's default name */
		if (ke->name && !strcmp(ke->name, name ? name : fp)) {
			found = true;
			if (ke->del)
				continue;
		}
		json_array_append(keys, k);
	}
	if (ke->del && !found) {
		json_decref(keys);
		return cli_error("consumer key del: consumer %s has no key named '%s'",
				 json_string_value(json_object_get(cur, "id")) ?: "", ke->name);
	}
	if (!ke->del) {
		if (found) {
			json_decref(keys);
			return cli_error("consumer key add: key name '%s' is already used", ke->name);
		}
		k = json_pack("{s:s}", "sha256", ke->sha);
		if (ke->name)
			json_object_set_new(k, "name", json_string(ke->name));
		json_array_append_new(keys, k);
	}
	json_object_set_new(patch, "keys", keys);
	return 0;
}

static void sha256_hex(const char *s, size_t n, char out[65])
{
	uint8_t d[32];
	unsigned int dl = 0;

	EVP_Digest(s, n, d, &dl, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* A new key: 32 random bytes, base64url without padding (43 characters). */
static int make_key(char *out, size_t len)
{
	uint8_t raw[32];
	char b64[64];
	int n;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return cli_error("cannot get random bytes for a key");
	n = EVP_EncodeBlock((unsigned char *)b64, raw, sizeof(raw));
	while (n > 0 && b64[n - 1] == '=')
		n--;
	for (int i = 0; i < n; i++)
		b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
	snprintf(out, len, "%.*s", n, b64);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

static int key_add(int argc, char **argv)
{
	struct key_edit ke = { 0 };
	char key[SECRET_MAX];
	bool from_stdin = false;
	int ret, i;

	if (argc < 1)
		return cli_error("consumer key add: missing ID (gwctl consumer key add ID [name NAME] "
				 "[stdin])");
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "stdin")) {
			from_stdin = true;
		} else if (cli_is_prefix(argv[i], "name") && i + 1 < argc) {
			ke.name = argv[++i];
		} else {
			return cli_error("consumer key add: unknown argument '%s' (expected name NAME "
					 "or stdin)", argv[i]);
		}
	}
	ret = from_stdin ? read_secret("key", key, sizeof(key)) : make_key(key, sizeof(key));
	if (ret)
		return ret;
	sha256_hex(key, strlen(key), ke.sha);
	ret = change_consumer(argv[0], edit_keys, &ke);
	if (!ret && !from_stdin) {
		/* The only time the key is shown: gwd keeps its SHA-256 alone. */
		if (print_is_json())
			print_json("key", json_string(key));
		else
			printf("%s\n", key);
	}
	OPENSSL_cleanse(key, sizeof(key));
	if (ret)
		return ret;
	return from_stdin ? cli_changed() : 0;
}

static int key_del(int argc, char **argv)
{
	struct key_edit ke = { .del = true };

	if (argc < 2)
		return cli_error("consumer key del: usage: gwctl consumer key del ID NAME");
	if (cli_no_more("consumer key del", argc - 2, argv + 2))
		return 1;
	ke.name = argv[1];
	return change_consumer(argv[0], edit_keys, &ke) ?: cli_changed();
}

static int consumer_key(int argc, char **argv)
{
	if (argc >= 1 && cli_is_prefix(argv[0], "add"))
		return key_add(argc - 1, argv + 1);
	if (argc >= 1 && cli_is_prefix(argv[0], "del"))
		return key_del(argc - 1, argv + 1);
	return cli_error("consumer key: expected add or del (gwctl consumer key add ID [name NAME] "
			 "[stdin] | gwctl consumer key del ID NAME)");
}

/* ---- passwords ---- */

struct pw_edit {
	const char *user;
	char *hash;	/* NULL: delete */
};

static int edit_password(json_t *patch, const json_t *cur, void *arg)
{
	struct pw_edit *pe = arg;

	if (!pe->hash) {
		if (!json_object_get(cur, "basic_auth"))
			return cli_error("consumer password del: consumer %s has no password",
					 json_string_value(json_object_get(cur, "id")) ?: "");
		json_object_set_new(patch, "basic_auth", json_null());
		return 0;
	}
	json_object_set_new(patch, "basic_auth",
			    json_pack("{s:s, s:s}", "username",
				      pe->user ? pe->user : json_string_value(json_object_get(cur, "id")),
				      "password_hash", pe->hash));
	return 0;
}

static int password_set(int argc, char **argv)
{
	struct pw_edit pe = { 0 };
	struct crypt_data *cd;
	char pw[SECRET_MAX], *salt;
	const char *h;
	int ret, i;

	if (argc < 1)
		return cli_error("consumer password set: missing ID (gwctl consumer password set ID "
				 "[user NAME] < FILE)");
	for (i = 1; i < argc; i++) {
		if (cli_is_prefix(argv[i], "user") && i + 1 < argc)
			pe.user = argv[++i];
		else
			return cli_error("consumer password set: unknown argument '%s' (expected "
					 "user NAME; the password is read from stdin)", argv[i]);
	}
	if (read_secret("password", pw, sizeof(pw)))
		return 1;
	cd = calloc(1, sizeof(*cd));
	salt = crypt_gensalt_ra("$y$", 0, NULL, 0);
	h = cd && salt ? crypt_r(pw, salt, cd) : NULL;
	OPENSSL_cleanse(pw, sizeof(pw));
	free(salt);
	if (!h || h[0] == '*') {
		free(cd);
		return cli_error("cannot hash the password with yescrypt: %s", strerror(errno));
	}
	pe.hash = strdup(h);
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	ret = change_consumer(argv[0], edit_password, &pe);
	free(pe.hash);
	return ret ?: cli_changed();
}

static int password_del(int argc, char **argv)
{
	struct pw_edit pe = { 0 };

	if (argc < 1)
		return cli_error("consumer password del: missing ID");
	if (cli_no_more("consumer password del", argc - 1, argv + 1))
		return 1;
	return change_consumer(argv[0], edit_password, &pe) ?: cli_changed();
}

static int consumer_password(int argc, char **argv)
{
	if (argc >= 1 && cli_is_prefix(argv[0], "set"))
		return password_set(argc - 1, argv + 1);
	if (argc >= 1 && cli_is_prefix(argv[0], "del"))
		return password_del(argc - 1, argv + 1);
	return cli_error("consumer password: expected set or del (gwctl consumer password set ID "
			 "[user NAME] | gwctl consumer password del ID)");
}

static const struct cli_cmd consumer_cmds[] = {
	{ "add", "ID [groups G,G]", "add a consumer", consumer_add },
	{ "del", "ID", "remove a consumer and its credentials", consumer_del },
	{ "set", "ID groups G,G", "replace a consumer's groups", consumer_set },
	{ "show", "[ID]", "list consumers, groups, key names and user names (never secrets)",
	  consumer_show },
	{ "key", "{ add ID [name NAME] [stdin] | del ID NAME }",
	  "add an API key (made here and printed once, or read from stdin) or remove one",
	  consumer_key },
	{ "password", "{ set ID [user NAME] | del ID }",
	  "set the basic-auth password (read from stdin, stored as yescrypt) or remove it",
	  consumer_password },
	{ NULL },
};

const struct cli_object obj_consumer = { "consumer", "the gateway's consumers and credentials",
					 consumer_cmds };
