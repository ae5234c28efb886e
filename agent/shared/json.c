/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A streaming JSON writer. */

#include <inttypes.h>

#include "json.h"

static void indent(JsonWriter *w) {
        if (!w->pretty)
                return;
        fputc('\n', w->f);
        for (unsigned i = 0; i < w->depth; i++)
                fputs("  ", w->f);
}

/* Before any value or key: a comma after a sibling, a newline in pretty mode. */
static void value_prefix(JsonWriter *w) {
        if (w->after_key) {
                w->after_key = false;
                return;
        }
        if (w->need_comma)
                fputc(',', w->f);
        if (w->depth > 0)
                indent(w);
}

static void begin(JsonWriter *w, char c) {
        value_prefix(w);
        fputc(c, w->f);
        w->depth++;
        w->need_comma = false;
}

static void end(JsonWriter *w, char c) {
        bool empty = !w->need_comma;

        w->depth--;
        if (!empty)
                indent(w);
        fputc(c, w->f);
        w->need_comma = true;
}

void json_begin_object(JsonWriter *w) {
        begin(w, '{');
}

void json_end_object(JsonWriter *w) {
        end(w, '}');
}

void json_begin_array(JsonWriter *w) {
        begin(w, '[');
}

void json_end_array(JsonWriter *w) {
        end(w, ']');
}

static void write_string(JsonWriter *w, const char *s) {
        fputc('"', w->f);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                switch (*p) {
                case '"':
                        fputs("\\\"", w->f);
                        break;
                case '\\':
                        fputs("\\\\", w->f);
                        break;
                case '\n':
                        fputs("\\n", w->f);
                        break;
                case '\t':
                        fputs("\\t", w->f);
                        break;
                default:
                        if (*p < 0x20)
                                fprintf(w->f, "\\u%04x", *p);
                        else
                                fputc(*p, w->f);
                }
        fputc('"', w->f);
}

void json_key(JsonWriter *w, const char *key) {
        value_prefix(w);
        write_string(w, key);
        fputs(w->pretty ? ": " : ":", w->f);
        w->after_key = true;
}

void json_string(JsonWriter *w, const char *s) {
        if (!s) {
                json_null(w);
                return;
        }
        value_prefix(w);
        write_string(w, s);
        w->need_comma = true;
}

void json_uint(JsonWriter *w, uint64_t v) {
        value_prefix(w);
        fprintf(w->f, "%" PRIu64, v);
        w->need_comma = true;
}

void json_int(JsonWriter *w, int64_t v) {
        value_prefix(w);
        fprintf(w->f, "%" PRIi64, v);
        w->need_comma = true;
}

void json_bool(JsonWriter *w, bool b) {
        value_prefix(w);
        fputs(b ? "true" : "false", w->f);
        w->need_comma = true;
}

void json_null(JsonWriter *w) {
        value_prefix(w);
        fputs("null", w->f);
        w->need_comma = true;
}

void json_finish(JsonWriter *w) {
        fputc('\n', w->f);
}
