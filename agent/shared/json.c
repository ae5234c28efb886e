/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A streaming JSON writer. */

#include <inttypes.h>

#include "json.h"
#include "utf8.h"

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

/* JSON's escapes, and \u00XX for every other control character, C1's and DEL included, so
 * that no string can drive a terminal the document is shown on; U+FFFD for each byte that does
 * not start a valid UTF-8 sequence, so that the document stays valid JSON. */
static void write_string(JsonWriter *w, const char *s) {
        fputc('"', w->f);
        while (*s) {
                uint32_t c;
                int n = utf8_decode(s, &c);

                if (n < 0) {
                        fputs("\\ufffd", w->f);
                        s++;
                        continue;
                }
                switch (c) {
                case '"':
                        fputs("\\\"", w->f);
                        break;
                case '\\':
                        fputs("\\\\", w->f);
                        break;
                case '\b':
                        fputs("\\b", w->f);
                        break;
                case '\f':
                        fputs("\\f", w->f);
                        break;
                case '\n':
                        fputs("\\n", w->f);
                        break;
                case '\r':
                        fputs("\\r", w->f);
                        break;
                case '\t':
                        fputs("\\t", w->f);
                        break;
                default:
                        if (c < 0x20 || (c >= 0x7F && c <= 0x9F))
                                fprintf(w->f, "\\u%04" PRIx32, c);
                        else
                                fwrite(s, 1, n, w->f);
                }
                s += n;
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
