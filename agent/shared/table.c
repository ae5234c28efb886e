/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Column tables for the CLI. */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "string-util.h"
#include "table.h"

#define TABLE_COLUMNS_MAX 16

struct Table {
        size_t n_columns;
        size_t n_rows; /* the header included */
        char **cells;  /* row-major */
        bool right[TABLE_COLUMNS_MAX];
        TableColorFunc color[TABLE_COLUMNS_MAX];
};

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

int table_print(Table *t, FILE *f, bool legend) {
        size_t width[TABLE_COLUMNS_MAX] = {};

        for (size_t r = legend ? 0 : 1; r < t->n_rows; r++)
                for (size_t i = 0; i < t->n_columns; i++)
                        width[i] = MAX(width[i], strlen(t->cells[r * t->n_columns + i]));

        for (size_t r = legend ? 0 : 1; r < t->n_rows; r++) {
                for (size_t i = 0; i < t->n_columns; i++) {
                        const char *s = t->cells[r * t->n_columns + i];
                        const char *on = r > 0 && t->color[i] ? t->color[i](s) : NULL;
                        int pad = (int) (width[i] - strlen(s));
                        bool last = i + 1 == t->n_columns;

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
