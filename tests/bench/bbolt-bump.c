/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bbolt-bump DB [N]: the revision bump of agent/bbolt.c on DB, timed, for tests/bench/bbolt-bump
 * (without N: only reads the revisions). Prints the revisions before and after and the time the
 * call took; the caller measures memory.
 */

#include <fcntl.h>
#include <inttypes.h>
#include <time.h>

#include "bbolt.h"
#include "macro.h"
#include "string-util.h"

static uint64_t now_usec(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

static void print(const char *what, const BboltRevisions *r) {
        printf("%s latest=%" PRIi64 " scheduled=%" PRIi64 " finished=%" PRIi64 "\n", what, r->latest,
               r->scheduled_compact, r->finished_compact);
}

int main(int argc, char **argv) {
        _cleanup_free_ char *message = NULL;
        _cleanup_close_ int fd = -EBADF;
        BboltRevisions rev;
        uint64_t n = 0, t0, t1;
        int r;

        if (argc < 2 || argc > 3 || (argc == 3 && safe_atou64(argv[2], &n) < 0)) {
                fprintf(stderr, "Usage: %s DB [N]\n", argv[0]);
                return 2;
        }
        fd = open(argv[1], (argc == 3 ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                fprintf(stderr, "%s: %m\n", argv[1]);
                return 1;
        }
        t0 = now_usec();
        r = argc == 3 ? bbolt_bump_revision(fd, n, &rev, &message) : bbolt_read_revisions(fd, &rev, &message);
        t1 = now_usec();
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", argv[1], message ?: strerror(-r));
                return 1;
        }
        print("before", &rev);
        if (argc == 3 && bbolt_read_revisions(fd, &rev, &message) >= 0)
                print("after", &rev);
        printf("usec=%" PRIu64 "\n", t1 - t0);
        return 0;
}
