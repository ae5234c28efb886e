/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CLI's JSON writer and tables. */

#include <stdlib.h>

#include "json.h"
#include "table.h"
#include "tap.h"
#include "time-util.h"

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

TEST(formats) {
        char b[64];

        CHECK_STREQ(format_bytes(b, sizeof(b), 1023), "1023B");
        CHECK_STREQ(format_bytes(b, sizeof(b), 1536), "1.5K");
        CHECK_STREQ(format_bytes(b, sizeof(b), 5ULL * 1024 * 1024 * 1024), "5.0G");
        CHECK_STREQ(format_timestamp_rfc3339(b, sizeof(b), 1795573030194338ULL), "2026-11-25T02:17:10Z");
        CHECK_STREQ(format_timestamp_compact(b, sizeof(b), 1795573030194338ULL), "20261125T021710Z");
}

int main(void) {
        RUN(json);
        RUN(json_pretty);
        RUN(table);
        RUN(formats);
        return tap_finish();
}
