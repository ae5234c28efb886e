/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the verbs print: the JSON form of each kind of object and the tables they share, as the
 * options (--json, --no-legend) ask. A new kind of object gets its json_*() here.
 */

#include <stdbool.h>

#include "json.h"
#include "objects.h"
#include "time-util.h"

/* A writer on stdout in the --json mode asked for. */
JsonWriter json_writer(void);
/* RFC 3339 UTC, or NULL (JSON null, table "-") for 0: never happened. */
const char *format_time(char *buf, size_t l, usec_t t);

void json_backup(JsonWriter *w, const BackupInfo *b);
void json_config(JsonWriter *w, const ConfigInfo *c);
void json_restore(JsonWriter *w, const RestoreInfo *r);
/* Prints {"<key>": <id>, "<flag>": true} for --json; the verbs that change things say nothing
 * otherwise, as systemctl's. */
void json_done(const char *key, const char *id, const char *flag);

/* The configurations as a table: for list-configs all columns (full, with LOAD "loaded" or
 * "broken"), for status the short form. */
int print_configs(const Objects *o, bool full);
