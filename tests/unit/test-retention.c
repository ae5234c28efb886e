/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Retention selection: keep the newest N, spare the newest good one and those a restore reads. */

#include "retention.h"
#include "tap.h"

/* Builds items from a pattern, oldest first: 'g' good, 'b' damaged, 'p' pinned good; returns
 * the pattern of what stays, newest first, as "k" kept / "d" deleted. */
static const char *run(const char *pattern, unsigned keep) {
        static char out[64];
        RetentionItem items[32] = {};
        size_t n = strlen(pattern);

        for (size_t i = 0; i < n; i++)
                items[i] = (RetentionItem) {
                        .created = (usec_t) (1000 + i), /* later characters are newer */
                        .good = pattern[i] != 'b',
                        .pinned = pattern[i] == 'p',
                };
        /* Shuffle the input order: the function sorts. */
        for (size_t i = 0; i + 1 < n; i += 2) {
                RetentionItem t = items[i];
                items[i] = items[i + 1];
                items[i + 1] = t;
        }
        size_t marked = retention_select(items, n, keep), count = 0;
        for (size_t i = 0; i < n; i++) {
                out[i] = items[i].delete ? 'd' : 'k';
                count += items[i].delete;
                if (i > 0 && items[i].created > items[i - 1].created)
                        return "not sorted newest first";
        }
        out[n] = 0;
        return marked == count ? out : "wrong count";
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

int main(void) {
        RUN(keeps_the_newest);
        RUN(keep_zero_keeps_one);
        RUN(spares_the_newest_good);
        RUN(spares_what_a_restore_reads);
        return tap_finish();
}
