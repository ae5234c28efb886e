/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The INI tokenizer: sections, assignments, comments, continuations and syntax errors; and the
 * booleans its values take. */

#include <stdlib.h>

#include "conf-parser.h"
#include "macro.h"
#include "string-util.h"
#include "tap.h"

typedef struct Seen {
        char text[1024];
        unsigned lines[16];
        unsigned n;
} Seen;

static int record(const char *section, const char *key, const char *value, unsigned line, void *userdata) {
        Seen *s = userdata;
        size_t l = strlen(s->text);

        snprintf(s->text + l, sizeof(s->text) - l, "[%s]%s=%s;", section, key, value);
        if (s->n < ELEMENTSOF(s->lines))
                s->lines[s->n++] = line;
        return 0;
}

TEST(assignments) {
        Seen s = {};
        unsigned line = 0;

        CHECK_EQ(conf_parse_string("# comment\n"
                                   "; another\n"
                                   "\n"
                                   "[Etcd]\n"
                                   "Endpoint = https://10.0.0.1:2379  \n"
                                   "  CertFile=/etc/x.crt\n"
                                   "Empty=\n"
                                   "[Storage]\n"
                                   "Directory=/var/lib/x=y\n",
                                   record, &s, &line),
                 0);
        CHECK_STREQ(s.text,
                    "[Etcd]Endpoint=https://10.0.0.1:2379;[Etcd]CertFile=/etc/x.crt;[Etcd]Empty=;"
                    "[Storage]Directory=/var/lib/x=y;");
        CHECK_EQ(s.lines[0], 5);
        CHECK_EQ(s.lines[3], 9);
}

TEST(continuation) {
        Seen s = {};

        CHECK_EQ(conf_parse_string("[ControlPlane]\n"
                                   "Units=a.service \\\n"
                                   "# skipped inside a continuation\n"
                                   "      b.service\n"
                                   "X=1\n",
                                   record, &s, NULL),
                 0);
        CHECK_STREQ(s.text, "[ControlPlane]Units=a.service  b.service;[ControlPlane]X=1;");
        CHECK_EQ(s.lines[0], 2);
}

TEST(no_trailing_newline) {
        Seen s = {};

        CHECK_EQ(conf_parse_string("[A]\nB=c", record, &s, NULL), 0);
        CHECK_STREQ(s.text, "[A]B=c;");
}

TEST(syntax_errors) {
        Seen s = {};
        unsigned line = 0;

        CHECK_EQ(conf_parse_string("Key=outside\n", record, &s, &line), -EBADMSG);
        CHECK_EQ(line, 1);
        CHECK_EQ(conf_parse_string("[A]\nno equals sign\n", record, &s, &line), -EBADMSG);
        CHECK_EQ(line, 2);
        CHECK_EQ(conf_parse_string("[A\nB=c\n", record, &s, &line), -EBADMSG);
        CHECK_EQ(line, 1);
        CHECK_EQ(conf_parse_string("[]\n", record, &s, &line), -EBADMSG);
        CHECK_EQ(conf_parse_string("[A]\n=value\n", record, &s, &line), -EBADMSG);
        CHECK_EQ(line, 2);
        CHECK_STREQ(s.text, "");
}

static int refuse(const char *section, const char *key, const char *value, unsigned line, void *userdata) {
        return streq(key, "Bad") ? -EINVAL : 0;
}

TEST(callback_error_stops) {
        unsigned line = 0;

        CHECK_EQ(conf_parse_string("[A]\nGood=1\nBad=2\nGood=3\n", refuse, NULL, &line), -EINVAL);
        CHECK_EQ(line, 3);
}

TEST(booleans) {
        CHECK_EQ(parse_boolean("yes"), 1);
        CHECK_EQ(parse_boolean("True"), 1);
        CHECK_EQ(parse_boolean("on"), 1);
        CHECK_EQ(parse_boolean("1"), 1);
        CHECK_EQ(parse_boolean("NO"), 0);
        CHECK_EQ(parse_boolean("false"), 0);
        CHECK_EQ(parse_boolean("off"), 0);
        CHECK_EQ(parse_boolean("0"), 0);
        CHECK_EQ(parse_boolean(""), -EINVAL);
        CHECK_EQ(parse_boolean("yess"), -EINVAL);
        CHECK_EQ(parse_boolean("2"), -EINVAL);
}

int main(void) {
        RUN(assignments);
        RUN(continuation);
        RUN(no_trailing_newline);
        RUN(syntax_errors);
        RUN(callback_error_stops);
        RUN(booleans);
        return tap_finish();
}
