// SPDX-License-Identifier: GPL-2.0
/* Leveled logging: "TIME PROG LEVEL: message" on a tty or file, "<N>message" under journald. */
#include "lib/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *log_prog = "xdpgw";
static enum log_level log_level = LOG_LVL_INFO;
static bool log_journal;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

/* syslog priorities understood by journald's stream parser. */
static const int level_prio[] = {
	[LOG_LVL_ERROR] = 3,
	[LOG_LVL_WARN] = 4,
	[LOG_LVL_INFO] = 6,
	[LOG_LVL_DEBUG] = 7,
};

void log_init(const char *prog, enum log_level level)
{
	log_prog = prog;
	log_level = level;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

int log_parse_level(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	if (strcmp(name, "warning") == 0)
		return LOG_LVL_WARN;
	return -EINVAL;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char stamp[48] = "";
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (level > log_level)
		return;
	if (!log_journal) {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

		snprintf(stamp + n, sizeof(stamp) - n, ".%03dZ ", (int)(ts.tv_nsec / 1000000) % 1000);
	}
	/* One write per line so threads never interleave inside a line. */
	pthread_mutex_lock(&log_lock);
	if (log_journal)
		fprintf(stderr, "<%d>", level_prio[level]);
	else
		fprintf(stderr, "%s%s %s: ", stamp, log_prog, level_names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}
