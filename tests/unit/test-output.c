/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CLI's JSON writer and tables. */

#include <stdlib.h>

#include "json.h"
#include "table.h"
#include "tap.h"
#include "time-util.h"
#include "utf8.h"

static char *capture(void (*f)(FILE *)) {
        char *buf = NULL;
        size_t size = 0;
        FILE *m = open_memstream(&buf, &size);

        f(m);
        fclose(m);
        return buf;
}

static void write_json(FILE *f) {
        JsonWriter w = { .f = f };

        json_begin_object(&w);
        json_key(&w, "s");
        json_string(&w, "a\"b\\c\nd\x01");
        json_key(&w, "n");
        json_null(&w);
        json_key(&w, "l");
        json_begin_array(&w);
        json_uint(&w, 18446744073709551615ULL);
        json_int(&w, -5);
        json_bool(&w, true);
        json_begin_object(&w);
        json_end_object(&w);
        json_end_array(&w);
        json_key(&w, "e");
        json_begin_array(&w);
        json_end_array(&w);
        json_end_object(&w);
        json_finish(&w);
}

TEST(json) {
        char *s = capture(write_json);
        CHECK_STREQ(s, "{\"s\":\"a\\\"b\\\\c\\nd\\u0001\",\"n\":null,\"l\":[18446744073709551615,-5,true,{}],\"e\":[]}\n");
        free(s);
}

/* One string through the writer, as it appears between the quotes. */
static char *json_of(const char *s) {
        char *buf = NULL, *inner;
        size_t size = 0;
        FILE *m = open_memstream(&buf, &size);
        JsonWriter w = { .f = m };

        json_string(&w, s);
        fclose(m);
        /* Without the quotes. */
        inner = strndup(buf + 1, strlen(buf) - 2);
        free(buf);
        return inner;
}

#define CHECK_JSON(in, out)                     \
        do {                                    \
                char *_j = json_of(in);         \
                CHECK_STREQ(_j, out);           \
                free(_j);                       \
        } while (0)

TEST(json_control_characters) {
        char all[32], expected[32 * 6 + 1] = "";

        /* Every C0 control, in one string: the five with short forms, \u00XX for the rest. */
        for (int c = 1; c < 32; c++) {
                const char *shortform = c == '\b' ? "\\b" : c == '\f' ? "\\f" : c == '\n' ? "\\n" :
                                        c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
                char e[8];

                all[c - 1] = (char) c;
                snprintf(e, sizeof(e), "\\u%04x", (unsigned) c);
                strcat(expected, shortform ?: e);
        }
        all[31] = 0;
        CHECK_JSON(all, expected);

        /* DEL and C1 (U+0080..U+009F, e.g. U+009B, a CSI that some terminals obey). */
        CHECK_JSON("a\x7f" "b", "a\\u007fb");
        CHECK_JSON("\xc2\x80\xc2\x85\xc2\x9b[31m\xc2\x9f", "\\u0080\\u0085\\u009b[31m\\u009f");
        /* An escape sequence from metadata stays inert. */
        CHECK_JSON("node\x1b]0;owned\x07", "node\\u001b]0;owned\\u0007");
        CHECK_JSON("\"quoted\" back\\slash /", "\\\"quoted\\\" back\\\\slash /");
}

TEST(json_utf8) {
        /* Valid UTF-8 passes as it is, the first printable after C1 included. */
        CHECK_JSON("\xc2\xa0 caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbd \xf4\x8f\xbf\xbf",
                   "\xc2\xa0 caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbd \xf4\x8f\xbf\xbf");
        /* Each byte that does not start a valid sequence becomes U+FFFD. */
        CHECK_JSON("\x80", "\\ufffd");                                   /* stray continuation */
        CHECK_JSON("\xff\xfe", "\\ufffd\\ufffd");                         /* never in UTF-8 */
        CHECK_JSON("\xc0\xaf", "\\ufffd\\ufffd");                         /* overlong '/' */
        CHECK_JSON("\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd");               /* overlong, 3 bytes */
        CHECK_JSON("\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd");               /* a surrogate */
        CHECK_JSON("\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd");     /* past U+10FFFF */
        CHECK_JSON("a\xe2\x82" "b", "a\\ufffd\\ufffdb");                   /* cut short */
        CHECK_JSON("end\xc3", "end\\ufffd");                               /* cut short by the end */
        /* Keys go through the same writer. */
        char *s = NULL;
        size_t size = 0;
        FILE *m = open_memstream(&s, &size);
        JsonWriter w = { .f = m };
        json_begin_object(&w);
        json_key(&w, "k\x01\xff");
        json_null(&w);
        json_end_object(&w);
        fclose(m);
        CHECK_STREQ(s, "{\"k\\u0001\\ufffd\":null}");
        free(s);
}

TEST(utf8_decode) {
        uint32_t c;

        CHECK_EQ(utf8_decode("", &c), 1);
        CHECK_EQ(c, 0);
        CHECK_EQ(utf8_decode("A", &c), 1);
        CHECK_EQ(c, 'A');
        CHECK_EQ(utf8_decode("\xc3\xa9", &c), 2);
        CHECK_EQ(c, 0xE9);
        CHECK_EQ(utf8_decode("\xe2\x82\xac", &c), 3);
        CHECK_EQ(c, 0x20AC);
        CHECK_EQ(utf8_decode("\xed\x9f\xbf", &c), 3); /* the last before the surrogates */
        CHECK_EQ(c, 0xD7FF);
        CHECK_EQ(utf8_decode("\xf0\x90\x80\x80", &c), 4);
        CHECK_EQ(c, 0x10000);
        CHECK_EQ(utf8_decode("\xf4\x8f\xbf\xbf", &c), 4);
        CHECK_EQ(c, 0x10FFFF);
        CHECK_EQ(utf8_decode("\xc1\xbf", &c), -EILSEQ);
        CHECK_EQ(utf8_decode("\xe0\x9f\xbf", &c), -EILSEQ);
        CHECK_EQ(utf8_decode("\xf0\x8f\xbf\xbf", &c), -EILSEQ);
        CHECK_EQ(utf8_decode("\xf5\x80\x80\x80", &c), -EILSEQ);
        CHECK_EQ(utf8_decode("\xf0\x90\x80", &c), -EILSEQ); /* the NUL ends it */
}

static void write_json_pretty(FILE *f) {
        JsonWriter w = { .f = f, .pretty = true };

        json_begin_array(&w);
        json_begin_object(&w);
        json_key(&w, "a");
        json_uint(&w, 1);
        json_end_object(&w);
        json_end_array(&w);
        json_finish(&w);
}

TEST(json_pretty) {
        char *s = capture(write_json_pretty);
        CHECK_STREQ(s, "[\n  {\n    \"a\": 1\n  }\n]\n");
        free(s);
}

static void write_table(FILE *f) {
        Table *t = table_new("ID", "SIZE", "FILE", NULL);
        table_set_align_right(t, 1);
        table_add_row(t, "abc", "1.5K", "/x");
        table_add_row(t, "d", "12.0M", NULL);
        table_print(t, f, true);
        table_print(t, f, false);
        table_free(t);
}

TEST(table) {
        char *s = capture(write_table);
        CHECK_STREQ(s, "ID   SIZE FILE\n"
                       "abc  1.5K /x\n"
                       "d   12.0M -\n"
                       "abc  1.5K /x\n"
                       "d   12.0M -\n");
        free(s);
}

static size_t fit_width;

static void write_fitted_table(FILE *f) {
        Table *t = table_new("ID", "SIZE", "FILE", "ERROR", NULL);
        table_set_align_right(t, 1);
        table_set_ellipsize(t, 2, 50);
        table_set_ellipsize(t, 3, 100);
        table_set_width(t, fit_width);
        table_add_row(t, "abc", "1.5K", "/var/lib/etcd-backup/default-20261125T021710Z.db.zst", "etcd unavailable");
        table_add_row(t, "d", "12M", "/x", NULL);
        table_print(t, f, true);
        table_free(t);
}

static char *fitted_table(size_t width) {
        fit_width = width;
        return capture(write_fitted_table);
}

/* A row too wide: the widest ellipsizable column first (the path, in the middle), then the next
 * (the error, at its end), each down to its header or 8 columns; then it stays too wide. */
TEST(table_width) {
        char *s = fitted_table(SIZE_MAX);
        CHECK_STREQ(s, "ID  SIZE FILE                                                 ERROR\n"
                       "abc 1.5K /var/lib/etcd-backup/default-20261125T021710Z.db.zst etcd unavailable\n"
                       "d    12M /x                                                   -\n");
        free(s);
        s = fitted_table(78); /* exactly as wide as it is */
        CHECK(strstr(s, "/var/lib/etcd-backup/default-20261125T021710Z.db.zst etcd unavailable\n"));
        free(s);
        s = fitted_table(60);
        CHECK_STREQ(s, "ID  SIZE FILE                               ERROR\n"
                       "abc 1.5K /var/lib/etcd-bac…5T021710Z.db.zst etcd unavailable\n"
                       "d    12M /x                                 -\n");
        free(s);
        s = fitted_table(34); /* the path alone is shortened, to 8 */
        CHECK_STREQ(s, "ID  SIZE FILE     ERROR\n"
                       "abc 1.5K /var…zst etcd unavailable\n"
                       "d    12M /x       -\n");
        free(s);
        s = fitted_table(30); /* then the error */
        CHECK(strstr(s, "abc 1.5K /var…zst etcd unavai…\n"));
        free(s);
        s = fitted_table(10); /* narrower than the shortest it can be: as short as it gets */
        CHECK(strstr(s, "abc 1.5K /var…zst etcd un…\n"));
        free(s);
}

TEST(ellipsize) {
        char *s;

#define CHECK_ELLIPSIZE(in, w, p, out)                  \
        do {                                            \
                s = ellipsize(in, w, p);                \
                CHECK_STREQ(s, out);                    \
                free(s);                                \
        } while (0)
        CHECK_ELLIPSIZE("/var/lib/x.db", 13, 50, "/var/lib/x.db");
        CHECK_ELLIPSIZE("/var/lib/x.db", 9, 50, "/var…x.db");
        CHECK_ELLIPSIZE("/var/lib/x.db", 10, 50, "/var/…x.db");
        CHECK_ELLIPSIZE("/var/lib/x.db", 9, 100, "/var/lib…");
        CHECK_ELLIPSIZE("/var/lib/x.db", 1, 50, "…");
        CHECK_ELLIPSIZE("abc", 0, 50, "");
        /* Whole characters only, each one column. */
        CHECK_ELLIPSIZE("caf\xc3\xa9-\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", 6, 50, "caf…€€");
        CHECK_EQ(utf8_columns("caf\xc3\xa9…"), 5);
        CHECK_EQ(utf8_columns("\xff\xfe"), 2);
#undef CHECK_ELLIPSIZE
}

static const char *color_failed(const char *cell) {
        return streq(cell, "failed") ? "\033[31m" : "";
}

static void write_color_table(FILE *f) {
        Table *t = table_new("N", "RESULT", "X", NULL);
        table_set_color(t, 1, color_failed);
        table_set_align_right(t, 2);
        table_add_row(t, "a", "failed", "1");
        table_add_row(t, "b", "completed", "22");
        table_print(t, f, true);
        table_free(t);
}

/* Widths count the text, not the escape sequences; the padding is outside the colored text. */
TEST(table_color) {
        char *s = capture(write_color_table);
        CHECK_STREQ(s, "N RESULT     X\n"
                       "a \033[31mfailed\033[0m     1\n"
                       "b completed 22\n");
        free(s);
}

TEST(formats) {
        char b[64];

        CHECK_STREQ(format_bytes(b, sizeof(b), 1023), "1023B");
        CHECK_STREQ(format_bytes(b, sizeof(b), 1536), "1.5K");
        CHECK_STREQ(format_bytes(b, sizeof(b), 5ULL * 1024 * 1024 * 1024), "5.0G");
        CHECK_STREQ(format_timestamp_rfc3339(b, sizeof(b), 1795573030194338ULL), "2026-11-25T02:17:10Z");
        CHECK_STREQ(format_timestamp_compact(b, sizeof(b), 1795573030194338ULL), "20261125T021710Z");
}

/* systemd's own expectations of format_bytes() (src/test/test-format-util.c: IEC, with the point
 * and the trailing B), and a few of ours. */
TEST(format_bytes_as_systemd) {
        char b[FORMAT_BYTES_MAX];

        CHECK_STREQ(format_bytes(b, sizeof(b), 900), "900B");
        CHECK_STREQ(format_bytes(b, sizeof(b), 1023), "1023B");
        CHECK_STREQ(format_bytes(b, sizeof(b), 1024), "1.0K");
        CHECK_STREQ(format_bytes(b, sizeof(b), 1100), "1.0K");
        CHECK_STREQ(format_bytes(b, sizeof(b), 1500), "1.4K");
        CHECK_STREQ(format_bytes(b, sizeof(b), UINT64_C(3) * 1024 * 1024), "3.0M");
        CHECK_STREQ(format_bytes(b, sizeof(b), UINT64_C(3) * 1024 * 1024 * 1024), "3.0G");
        CHECK_STREQ(format_bytes(b, sizeof(b), UINT64_C(3) * 1024 * 1024 * 1024 * 1024), "3.0T");
        CHECK_STREQ(format_bytes(b, sizeof(b), UINT64_C(3) * 1024 * 1024 * 1024 * 1024 * 1024), "3.0P");
        CHECK_STREQ(format_bytes(b, sizeof(b), UINT64_C(3) * 1024 * 1024 * 1024 * 1024 * 1024 * 1024), "3.0E");
        CHECK(!format_bytes(b, sizeof(b), UINT64_MAX));

        CHECK_STREQ(format_bytes(b, sizeof(b), 0), "0B");
        CHECK_STREQ(format_bytes(b, sizeof(b), 1048575), "1023.9K"); /* cut: never "1024.0K" */
        CHECK_STREQ(format_bytes(b, sizeof(b), 1048576), "1.0M");
        CHECK_STREQ(format_bytes(b, sizeof(b), 25165824 + 943718), "24.8M"); /* 24.899...: cut */
        CHECK_STREQ(format_bytes(b, sizeof(b), UINT64_MAX - 1), "15.9E");
}

TEST(relative_times) {
        const usec_t t = 1795573030194338ULL, s = 1000000ULL;
        char b[64];

        setenv("TZ", "UTC", 1);
        tzset();
        CHECK_STREQ(format_timestamp_local(b, sizeof(b), t), "Wed 2026-11-25 02:17:10 UTC");
        CHECK_STREQ(format_timestamp_relative(b, sizeof(b), t + 300 * s, t), "5min left");
        CHECK_STREQ(format_timestamp_relative(b, sizeof(b), t, t + 90 * s), "1min 30s ago");
        CHECK_STREQ(format_timestamp_relative(b, sizeof(b), t, t + 12 * s), "12s ago");
        CHECK_STREQ(format_timestamp_relative(b, sizeof(b), t, t), "0s ago");
        CHECK_STREQ(format_timestamp_relative(b, sizeof(b), t + 4200 * s, t), "1h 10min left");
        CHECK_STREQ(format_timestamp_relative(b, sizeof(b), t, t + 7 * 3600 * s + 59 * s), "7h ago");
        CHECK_STREQ(format_timestamp_relative(b, sizeof(b), t + 26 * 3600 * s, t), "1 day 2h left");
        CHECK_STREQ(format_timestamp_relative(b, sizeof(b), t, t + 10 * 86400 * s), "10 days ago");
        CHECK(!format_timestamp_relative(b, 4, t, t + 10 * 86400 * s)); /* too small a buffer */
}

int main(void) {
        RUN(json);
        RUN(table_color);
        RUN(relative_times);
        RUN(json_control_characters);
        RUN(json_utf8);
        RUN(utf8_decode);
        RUN(json_pretty);
        RUN(table);
        RUN(table_width);
        RUN(ellipsize);
        RUN(formats);
        RUN(format_bytes_as_systemd);
        return tap_finish();
}
