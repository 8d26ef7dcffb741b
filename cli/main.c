// SPDX-License-Identifier: GPL-2.0
/* gwctl: the xdpgw command line; global options and the table of objects. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "-V") == 0)) {
		printf("gwctl " XDPGW_VERSION "\n");
		return 0;
	}
	fprintf(stderr, "Usage: gwctl version\nThe CLI is being built; see README.md.\n");
	return argc > 1 ? 2 : 0;
}
