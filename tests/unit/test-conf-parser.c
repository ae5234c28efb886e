/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The INI tokenizer: sections, assignments, comments, continuations and syntax errors; and the
 * booleans its values take. */

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

static int count_value(const char *section, const char *key, const char *value, unsigned line, void *userdata) {
        *(size_t *) userdata += strlen(value);
        return 0;
}

static double seconds(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

TEST(continuation_linear) {
        /* 480 KB of continuation lines took 20 s when each one copied the line so far. */
        size_t lines = 120000, value = 0;
        char *text = malloc(lines * 4 + 64), *p = text;
        double t;

        p += sprintf(p, "[ControlPlane]\nUnits=a \\\n");
        for (size_t i = 0; i < lines; i++)
                p += sprintf(p, "b \\\n");
        sprintf(p, "c\n");
        t = seconds();
        CHECK_EQ(conf_parse_string(text, count_value, &value, NULL), 0);
        CHECK(seconds() - t < 1.0);
        /* "a  b  b ... b  c": each line joined after a space, and the space before its
         * backslash kept. */
        CHECK_EQ(value, 1 + lines * 3 + 3);
        free(text);
}

static char dir[] = "/tmp/test-conf-parser-XXXXXX";

TEST(files) {
        char path[300];
        unsigned line = 1;
        size_t value = 0;
        FILE *f;

        /* Larger than the limit: refused unread. */
        snprintf(path, sizeof(path), "%s/big.conf", dir);
        f = fopen(path, "we");
        fputs("[A]\nB=", f);
        for (unsigned i = 0; i < CONF_FILE_MAX; i++)
                fputc('x', f);
        fclose(f);
        CHECK_EQ(conf_parse_file(path, CONF_FILE_MAX, count_value, &value, &line), -EFBIG);
        CHECK_EQ(line, 0);
        CHECK_EQ(conf_parse_file(path, 2 * CONF_FILE_MAX, count_value, &value, &line), 0);
        CHECK_EQ(value, CONF_FILE_MAX);

        /* A FIFO: refused, not waited on. */
        snprintf(path, sizeof(path), "%s/fifo.conf", dir);
        CHECK(mkfifo(path, 0600) == 0);
        tap_deadline(5);
        CHECK_EQ(conf_parse_file(path, CONF_FILE_MAX, count_value, &value, &line), -EBADFD);
        tap_deadline(0);

        /* A NUL would cut it short. */
        snprintf(path, sizeof(path), "%s/nul.conf", dir);
        f = fopen(path, "we");
        static const char nul[] = "[A]\nB=1\0\nC=2\n";
        fwrite(nul, 1, sizeof(nul) - 1, f);
        fclose(f);
        CHECK_EQ(conf_parse_file(path, CONF_FILE_MAX, count_value, &value, &line), -EBADMSG);
        CHECK_EQ(line, 0);
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
        char cmd[300];
        int r;

        if (!mkdtemp(dir))
                return 1;
        RUN(assignments);
        RUN(continuation);
        RUN(no_trailing_newline);
        RUN(syntax_errors);
        RUN(callback_error_stops);
        RUN(continuation_linear);
        RUN(files);
        RUN(booleans);
        r = tap_finish();
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        (void) !system(cmd);
        return r;
}
