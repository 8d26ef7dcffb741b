/* SPDX-License-Identifier: GPL-2.0 */
/* The `check ...` grammar shared by `gwctl vip` and `gwctl backend` (cli/check.c). */
#ifndef XDPGW_CLI_CHECK_H
#define XDPGW_CLI_CHECK_H

#include <jansson.h>

/* Fields: port P, interval D, timeout D, rise N, fall N, encap on|off, method M, path PATH,
 * host HOST, status LIST, body TEXT (docs/health.md). */
#define CLI_CHECK_GRAMMAR "check [tcp|http|none] [FIELD VALUE]..."

enum cli_check_mode {
	CHECK_ADD,	/* vip add: a new check, nothing to clear */
	CHECK_SET,	/* vip set: a type replaces the check, fields alone change it */
	CHECK_BACKEND,	/* backend set: the backend's override; inherit removes it */
};

/*
 * Parses the words after `check` (argc, argv; all of them belong to the check) into *out, the
 * value of the "check" field for a JSON merge-patch: an object, JSON null (check removed), or
 * NULL (nothing to send: `vip add ... check none`). Returns 0, or 1 after printing the error
 * through cli_error (what names the command: "vip set").
 */
int cli_check_parse(const char *what, int argc, char **argv, enum cli_check_mode mode,
		    json_t **out);

#endif
