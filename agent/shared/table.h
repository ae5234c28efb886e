/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Column tables for the CLI, laid out as systemctl's: upper-case headers, columns padded to
 * their widest cell, numbers right-aligned. Non-logging. */

#include <stdbool.h>
#include <stdio.h>

#include "macro.h"

typedef struct Table Table;

/* Headers, NULL-terminated. */
Table *table_new(const char *header, ...) _sentinel_;
Table *table_free(Table *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Table *, table_free);

void table_set_align_right(Table *t, size_t column);
/* The cells of a column (the header not) are printed after the escape sequence color(cell)
 * returns, and a reset after it when that was not empty; widths count the text only. */
typedef const char *(*TableColorFunc)(const char *cell);
void table_set_color(Table *t, size_t column, TableColorFunc color);
/* One cell per column; NULL prints as "-". */
int table_add_row(Table *t, const char *cell, ...);
/* Without the header when legend is false, as systemd's --no-legend. */
int table_print(Table *t, FILE *f, bool legend);
