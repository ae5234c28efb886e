/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Column tables for the CLI. */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "string-util.h"
#include "table.h"
#include "utf8.h"

#define TABLE_COLUMNS_MAX 16

struct Table {
        size_t n_columns;
        size_t n_rows; /* the header included */
        char **cells;  /* row-major */
        bool right[TABLE_COLUMNS_MAX];
        TableColorFunc color[TABLE_COLUMNS_MAX];
        /* 0: never shortened; else the share of the kept text before the "…", in percent. */
        unsigned ellipsize[TABLE_COLUMNS_MAX];
        size_t width; /* SIZE_MAX: no limit */
};

/* A shortened column keeps at least this much of each cell (and its header). */
#define ELLIPSIZE_MIN 8

Table *table_new(const char *header, ...) {
        Table *t;
        va_list ap;
        char *cells[TABLE_COLUMNS_MAX];
        size_t n = 0;

        va_start(ap, header);
        for (const char *h = header; h && n < TABLE_COLUMNS_MAX; h = va_arg(ap, const char *))
                cells[n++] = (char *) h;
        va_end(ap);

        t = calloc(1, sizeof(*t));
        if (!t)
                return NULL;
        t->n_columns = n;
        t->width = SIZE_MAX;
        t->cells = calloc(n, sizeof(char *));
        if (!t->cells)
                return table_free(t);
        for (size_t i = 0; i < n; i++)
                if (!(t->cells[i] = strdup(cells[i])))
                        return table_free(t);
        t->n_rows = 1;
        return t;
}

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; t->cells && i < t->n_rows * t->n_columns; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t);
        return NULL;
}

void table_set_align_right(Table *t, size_t column) {
        if (column < t->n_columns)
                t->right[column] = true;
}

void table_set_color(Table *t, size_t column, TableColorFunc color) {
        if (column < t->n_columns)
                t->color[column] = color;
}

void table_set_ellipsize(Table *t, size_t column, unsigned percent) {
        if (column < t->n_columns)
                t->ellipsize[column] = MIN(MAX(percent, 1u), 100u);
}

void table_set_width(Table *t, size_t width) {
        t->width = width;
}

/* Columns on a terminal: one per character. (No East Asian wide characters in what we print:
 * ids, paths, times and our own texts.) A byte that is not UTF-8 counts as one. */
size_t utf8_columns(const char *s) {
        size_t n = 0;
        uint32_t c;

        for (int l; *s; s += l, n++)
                if ((l = utf8_decode(s, &c)) < 0)
                        l = 1;
        return n;
}

/* The byte offset of the character at column i of s (or its end). */
static size_t utf8_offset(const char *s, size_t i) {
        const char *p = s;
        uint32_t c;

        for (int l; *p && i > 0; p += l, i--)
                if ((l = utf8_decode(p, &c)) < 0)
                        l = 1;
        return (size_t) (p - s);
}

char *ellipsize(const char *s, size_t width, unsigned percent) {
        size_t n = utf8_columns(s), head, tail, h, t;
        char *r;

        if (n <= width)
                return strdup(s);
        if (width == 0)
                return strdup("");
        /* As systemd's ellipsize_mem(): percent of what is kept before the "…", the rest after. */
        head = ((width - 1) * MIN(percent, 100u) + 50) / 100;
        tail = width - 1 - head;
        h = utf8_offset(s, head);
        t = utf8_offset(s, n - tail);
        r = malloc(h + strlen("…") + strlen(s + t) + 1);
        if (!r)
                return NULL;
        memcpy(r, s, h);
        strcpy(stpcpy(r + h, "…"), s + t);
        return r;
}

int table_add_row(Table *t, const char *cell, ...) {
        char **c;
        va_list ap;
        size_t base = t->n_rows * t->n_columns;

        c = realloc(t->cells, sizeof(char *) * (base + t->n_columns));
        if (!c)
                return -ENOMEM;
        t->cells = c;

        va_start(ap, cell);
        for (size_t i = 0; i < t->n_columns; i++) {
                const char *s = i == 0 ? cell : va_arg(ap, const char *);
                c[base + i] = strdup(s ?: "-");
                if (!c[base + i]) {
                        for (size_t j = 0; j < i; j++)
                                free(c[base + j]);
                        va_end(ap);
                        return -ENOMEM;
                }
        }
        va_end(ap);
        t->n_rows++;
        return 0;
}

/* Shortens the ellipsizable columns, the widest first, until the rows fit t->width. */
static void fit_width(Table *t, size_t width[]) {
        size_t total = t->n_columns - 1; /* the separators */

        for (size_t i = 0; i < t->n_columns; i++)
                total += width[i];
        while (total > t->width) {
                size_t widest = SIZE_MAX, min, cut;

                for (size_t i = 0; i < t->n_columns; i++) {
                        min = MAX(utf8_columns(t->cells[i]), (size_t) ELLIPSIZE_MIN);
                        if (t->ellipsize[i] > 0 && width[i] > min && (widest == SIZE_MAX || width[i] > width[widest]))
                                widest = i;
                }
                if (widest == SIZE_MAX)
                        return; /* nothing left to shorten: the terminal wraps */
                min = MAX(utf8_columns(t->cells[widest]), (size_t) ELLIPSIZE_MIN);
                cut = MIN(total - t->width, width[widest] - min);
                width[widest] -= cut;
                total -= cut;
        }
}

int table_print(Table *t, FILE *f, bool legend) {
        size_t width[TABLE_COLUMNS_MAX] = {};

        for (size_t r = 0; r < t->n_rows; r++)
                for (size_t i = 0; i < t->n_columns; i++)
                        if (r > 0 || legend)
                                width[i] = MAX(width[i], utf8_columns(t->cells[r * t->n_columns + i]));
        if (t->width != SIZE_MAX)
                fit_width(t, width);

        for (size_t r = legend ? 0 : 1; r < t->n_rows; r++) {
                for (size_t i = 0; i < t->n_columns; i++) {
                        const char *cell = t->cells[r * t->n_columns + i];
                        const char *on = r > 0 && t->color[i] ? t->color[i](cell) : NULL;
                        _cleanup_free_ char *shortened = NULL;
                        const char *s = cell;
                        bool last = i + 1 == t->n_columns;
                        int pad;

                        if (utf8_columns(cell) > width[i]) {
                                shortened = ellipsize(cell, width[i], t->ellipsize[i]);
                                if (!shortened)
                                        return -ENOMEM;
                                s = shortened;
                        }
                        pad = (int) (width[i] - utf8_columns(s));

                        /* The padding outside the colored text, so a reset never ends early. */
                        if (t->right[i])
                                fprintf(f, "%*s", pad, "");
                        fprintf(f, "%s%s%s", strempty(on), s, isempty(on) ? "" : "\033[0m");
                        if (!t->right[i] && !last)
                                fprintf(f, "%*s", pad, "");
                        if (!last)
                                fputc(' ', f);
                }
                fputc('\n', f);
        }
        return ferror(f) ? -EIO : 0;
}
