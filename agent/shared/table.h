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
/* The column may be shortened to fit the width: its cells cut to a "…", percent of what is kept
 * before it (50: in the middle, for paths; 100: at the end, for texts), as systemd's tables. */
void table_set_ellipsize(Table *t, size_t column, unsigned percent);
/* The widest a row may be, in columns (SIZE_MAX, the default: no limit). When the rows are wider,
 * the ellipsizable columns are shortened, the widest first, down to their header or 8 columns. */
void table_set_width(Table *t, size_t width);
/* One cell per column; NULL prints as "-". */
int table_add_row(Table *t, const char *cell, ...);
/* Without the header when legend is false, as systemd's --no-legend. */
int table_print(Table *t, FILE *f, bool legend);

/* The columns s takes on a terminal: one per UTF-8 character (a byte that is not one counts as one). */
size_t utf8_columns(const char *s);
/* s cut to width columns with a "…", percent of what is kept before it; a copy of s if it fits. */
char *ellipsize(const char *s, size_t width, unsigned percent);
