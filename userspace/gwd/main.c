// SPDX-License-Identifier: GPL-2.0
/* gwd, the xdpgw daemon: owns the BPF objects and the gateway, serves the admin API. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: gwd [--version] [--help]\n"
		   "The daemon is being built; see README.md for what exists today.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{},
	};
	int c;

	log_init("gwd", LOG_LVL_INFO);
	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
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
	usage(stderr);
	return 2;
}
