/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Retention selection: keep the newest N, spare the newest good one and those a restore reads. */

#include "retention.h"
#include "tap.h"

#define NOW 5000

/* Builds items from a pattern, oldest first: 'g' good, 'b' damaged, 'p' pinned good, 'f' good
 * but dated after NOW (a clock that was ahead), 'j' the one just taken (dated long ago: a clock
 * that is behind); returns the pattern of what stays in the order retention ranks them, newest
 * first, as "k" kept / "d" deleted. */
static const char *run(const char *pattern, unsigned keep) {
        static char out[64];
        RetentionItem items[32] = {};
        size_t n = strlen(pattern);

        for (size_t i = 0; i < n; i++)
                items[i] = (RetentionItem) {
                        /* later characters are newer */
                        .created = (usec_t) (pattern[i] == 'f' ? NOW + 1000 + i : pattern[i] == 'j' ? 10 : 1000 + i),
                        .good = pattern[i] != 'b',
                        .pinned = pattern[i] == 'p',
                        .just_taken = pattern[i] == 'j',
                };
        /* Shuffle the input order: the function sorts. */
        for (size_t i = 0; i + 1 < n; i += 2) {
                RetentionItem t = items[i];
                items[i] = items[i + 1];
                items[i + 1] = t;
        }
        size_t marked = retention_select(items, n, keep, NOW), count = 0;
        for (size_t i = 0; i < n; i++) {
                out[i] = items[i].delete ? 'd' : 'k';
                count += items[i].delete;
        }
        out[n] = 0;
        return marked == count ? out : "wrong count";
}

/* The order retention ranked them in, as the pattern's letters. */
static const char *ranked(const char *pattern) {
        static char out[64];
        RetentionItem items[32] = {};
        size_t n = strlen(pattern);

        for (size_t i = 0; i < n; i++)
                items[i] = (RetentionItem) {
                        .created = (usec_t) (pattern[i] == 'f' ? NOW + 1000 + i : pattern[i] == 'j' ? 10 : 1000 + i),
                        .good = true,
                        .just_taken = pattern[i] == 'j',
                        .data = (void *) &pattern[i],
                };
        (void) retention_select(items, n, 1, NOW);
        for (size_t i = 0; i < n; i++)
                out[i] = *(const char *) items[i].data;
        out[n] = 0;
        return out;
}

TEST(keeps_the_newest) {
        CHECK_STREQ(run("gggggg", 3), "kkkddd");
        CHECK_STREQ(run("gggggg", 6), "kkkkkk");
        CHECK_STREQ(run("gggggg", 20), "kkkkkk");
        CHECK_STREQ(run("gg", 1), "kd");
        CHECK_STREQ(run("", 3), "");
}

TEST(keep_zero_keeps_one) {
        CHECK_STREQ(run("ggg", 0), "kdd");
}

TEST(spares_the_newest_good) {
        /* newest first: b b g g -> the two damaged ones fill keep=2, the newest good stays */
        CHECK_STREQ(run("ggbb", 2), "kkkd");
        CHECK_STREQ(run("gbbb", 2), "kkdk");
        CHECK_STREQ(run("bbbb", 2), "kkdd");
        /* a good one among the kept: nothing extra spared */
        CHECK_STREQ(run("ggbg", 2), "kkdd");
}

TEST(spares_what_a_restore_reads) {
        CHECK_STREQ(run("pgggg", 2), "kkddk");
        CHECK_STREQ(run("gpgpgg", 1), "kdkdkd");
}

TEST(sorts_newest_first) {
        CHECK_STREQ(ranked("abcd"), "dcba");
}

TEST(clocks_that_lie) {
        /* One dated in the future was "newest" forever: with keep=1 every new backup went. */
        CHECK_STREQ(ranked("ggfgj"), "jgggf");
        CHECK_STREQ(run("ggfgj", 1), "kdddd");
        CHECK_STREQ(run("ggfgj", 2), "kkddd");
        /* Future-dated ones rank below every backup dated up to now, among them by date. */
        CHECK_STREQ(ranked("ffgg"), "ggff");
        CHECK_STREQ(run("ffgg", 3), "kkkd");
        /* The one just taken, however it is dated, is never its own retention's victim. */
        CHECK_STREQ(run("gggj", 1), "kddd");
        CHECK_STREQ(ranked("gggj"), "jggg");
}

int main(void) {
        RUN(sorts_newest_first);
        RUN(clocks_that_lie);
        RUN(keeps_the_newest);
        RUN(keep_zero_keeps_one);
        RUN(spares_the_newest_good);
        RUN(spares_what_a_restore_reads);
        return tap_finish();
}
