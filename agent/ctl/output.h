/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the verbs print: the JSON form of each kind of object and the tables they share, as the
 * options (--json, --no-legend) ask. A new kind of object gets its json_*() here.
 */

#include <stdbool.h>
#include <stdio.h>

#include "json.h"
#include "objects.h"
#include "time-util.h"

/* A writer on stdout in the --json mode asked for. */
JsonWriter json_writer(void);
/* RFC 3339 UTC, or NULL (JSON null, table "-") for 0: never happened. */
const char *format_time(char *buf, size_t l, usec_t t);
/* For the tables (configurations, backups, restores), as systemctl list-timers: local time and
 * how far from now, "Wed 2026-12-02 14:20:00 UTC 5min left", or NULL for 0. JSON keeps RFC 3339
 * UTC. */
#define FORMAT_TIME_HUMAN_MAX 96
const char *format_time_human(char *buf, size_t l, usec_t t, usec_t now_usec);

/* A time as "<key>": RFC 3339 UTC (what scripts have read since the start) and beside it
 * "<key>_usec": µs since the epoch, as systemd's JSON tables give times; both null for 0. */
void json_time(JsonWriter *w, const char *key, usec_t t);

void json_backup(JsonWriter *w, const BackupInfo *b);
void json_config(JsonWriter *w, const ConfigInfo *c);
void json_restore(JsonWriter *w, const RestoreInfo *r);
/* Prints {"<key>": <id>, "<flag>": true} for --json; the verbs that change things say nothing
 * otherwise, as systemctl's. */
void json_done(const char *key, const char *id, const char *flag);

/* How a table is printed: with the header (--no-legend: not), fitted to width (SIZE_MAX: no
 * limit), times relative to now. */
typedef struct TableStyle {
        bool legend;
        size_t width;
        usec_t now;
} TableStyle;
/* As the options and stdout ask, now. */
TableStyle table_style(void);

/* The configurations as a table, single-word headers as systemctl's: for list-configs all
 * columns (full, with LOAD "loaded" or "broken"), for status the short form. */
int configs_print_table(const ConfigInfo *configs, size_t n, bool full, const TableStyle *style, FILE *f);
/* list-backups: the completed backups (of config only, unless NULL) as they come, newest first;
 * *ret_n says how many (no table at all for none). */
int backups_print_table(const BackupInfo *backups, size_t n, const char *config, const TableStyle *style, FILE *f,
                        size_t *ret_n);
