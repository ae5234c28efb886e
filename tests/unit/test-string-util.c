/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Lists built in loops, and text from outside made safe for properties. */

#include <stdlib.h>
#include <time.h>

#include "macro.h"
#include "string-util.h"
#include "tap.h"

static double seconds(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

TEST(strv_extend_counted) {
        char **l = NULL, buf[32];
        size_t n = 0;
        double t = seconds();

        /* Linear: a million entries in well under a second (strv_extend() would count the
         * list at each one). */
        for (unsigned i = 0; i < 1000000; i++) {
                snprintf(buf, sizeof(buf), "u%u", i);
                CHECK_EQ(strv_extend_counted(&l, &n, buf), 0);
        }
        CHECK(seconds() - t < 2.0);
        CHECK_EQ(n, 1000000);
        CHECK_EQ(strv_length(l), 1000000);
        CHECK_STREQ(l[0], "u0");
        CHECK_STREQ(l[999999], "u999999");
        strv_free(l);

        /* From an empty list as strv_split_whitespace() makes one. */
        l = calloc(1, sizeof(char *));
        n = 0;
        CHECK_EQ(strv_extend_counted(&l, &n, "a"), 0);
        CHECK_EQ(strv_extend_counted(&l, &n, "b"), 0);
        CHECK_EQ(strv_extend_counted(&l, &n, "c"), 0);
        CHECK_EQ(strv_length(l), 3);
        CHECK_STREQ(l[2], "c");
        strv_free(l);
}

TEST(strv_extend_strv) {
        char **a = NULL, **b = NULL;

        CHECK_EQ(strv_split_whitespace("x.service  y.service\tz.service\n", &b), 0);
        CHECK_EQ(strv_length(b), 3);
        CHECK_EQ(strv_extend(&a, "w.service"), 0);
        CHECK_EQ(strv_extend_strv(&a, b), 0);
        CHECK_EQ(strv_length(a), 4);
        CHECK_STREQ(a[3], "z.service");
        strv_free(a);
        strv_free(b);
}

TEST(utf8_is_valid) {
        CHECK(utf8_is_valid(""));
        CHECK(utf8_is_valid("plain"));
        CHECK(utf8_is_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbd"));
        CHECK(utf8_is_valid("tab\tand\nnewline")); /* valid, if not printable */
        CHECK(!utf8_is_valid("\xff"));
        CHECK(!utf8_is_valid("\x80"));
        CHECK(!utf8_is_valid("\xc3"));              /* cut short */
        CHECK(!utf8_is_valid("\xc0\xaf"));          /* overlong "/" */
        CHECK(!utf8_is_valid("\xe0\x80\xaf"));      /* overlong, 3 bytes */
        CHECK(!utf8_is_valid("\xed\xa0\x80"));      /* a UTF-16 surrogate */
        CHECK(!utf8_is_valid("\xf4\x90\x80\x80"));  /* past U+10FFFF */
        /* Noncharacters, which sd-bus refuses too. */
        CHECK(!utf8_is_valid("\xef\xb7\x90"));      /* U+FDD0 */
        CHECK(!utf8_is_valid("\xef\xbf\xbe"));      /* U+FFFE */
        CHECK(!utf8_is_valid("\xf0\x9f\xbf\xbf"));  /* U+1FFFF */
}

TEST(utf8_is_printable) {
        CHECK(utf8_is_printable("caf\xc3\xa9 3.4.23"));
        CHECK(!utf8_is_printable("a\tb"));
        CHECK(!utf8_is_printable("a\nb"));
        CHECK(!utf8_is_printable("\x1b[2J"));
        CHECK(!utf8_is_printable("del\x7f"));
        CHECK(!utf8_is_printable("\xc2\x9b" "31m")); /* C1 CSI */
        CHECK(!utf8_is_printable("\xff"));
}

TEST(utf8_sanitize) {
        static const struct {
                const char *in;
                size_t max;
                const char *out;
        } cases[] = {
                { "fine as it is", 100, "fine as it is" },
                /* Each byte of an invalid sequence is a U+FFFD... */
                { "bad \xff byte, \xc0\xaf overlong", 100, "bad \xef\xbf\xbd byte, \xef\xbf\xbd\xef\xbf\xbd overlong" },
                /* ...each control character (C0, DEL, C1) an escape. */
                { "line\nbreak \x1b[31mred\x7f\xc2\x85", 100, "line\\x0abreak \\x1b[31mred\\x7f\\x85" },
                /* Cut to the bound at a whole character, and said so. */
                { "abcdef", 6, "abcdef" },
                { "abcdefg", 6, "abc..." },
                { "ab\xc3\xa9\xc3\xa9\xc3\xa9", 7, "ab\xc3\xa9..." },
                { "ab\xc3\xa9\xc3\xa9\xc3\xa9", 6, "ab..." },
                { "a\xe2\x82\xac\xe2\x82\xac", 6, "a..." },
                { "abcdef", 2, "" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *s = utf8_sanitize(cases[i].in, cases[i].max);

                CHECK_STREQ(s, cases[i].out);
                CHECK(s && utf8_is_printable(s));
                free(s);
        }
}

int main(void) {
        RUN(strv_extend_counted);
        RUN(strv_extend_strv);
        RUN(utf8_is_valid);
        RUN(utf8_is_printable);
        RUN(utf8_sanitize);
        return tap_finish();
}
