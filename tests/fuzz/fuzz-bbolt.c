/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * etcd's bbolt database as a restore reads it out of a backup, over a memfd: the header check
 * of a snapshot, the revisions it holds, and the revision bump, after which the database must
 * read back with exactly the bumped revisions.
 */

#include <sys/mman.h>

#include "bbolt.h"
#include "fuzz.h"
#include "macro.h"

#define BUMP 1000000000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *m1 = NULL, *m2 = NULL, *m3 = NULL, *m4 = NULL;
        _cleanup_close_ int fd = -EBADF;
        BboltRevisions rev, before, after;
        BboltHeader h;
        int r, r2;

        r = bbolt_check_header(data, size, size, &h, &m1);
        FUZZ_CHECK(r == 0 || ((r == -EBADMSG || r == -EINVAL) && m1));
        if (r == 0)
                FUZZ_CHECK(h.page_size >= BBOLT_PAGE_SIZE_MIN && h.page_size <= BBOLT_PAGE_SIZE_MAX &&
                           h.high_water * h.page_size <= size);

        fd = memfd_create("bbolt", MFD_CLOEXEC);
        FUZZ_CHECK(fd >= 0 && write(fd, data, size) == (ssize_t) size);
        r2 = bbolt_read_revisions(fd, &rev, &m2);
        FUZZ_CHECK(r2 == 0 || ((r2 == -EBADMSG || r2 == -EINVAL || r2 == -EFBIG) && m2));
        /* What reads has a sound header. */
        if (r2 < 0)
                return 0;
        FUZZ_CHECK(r == 0);

        r = bbolt_bump_revision(fd, BUMP, &before, &m3);
        FUZZ_CHECK(r == 0 || ((r == -EBADMSG || r == -EFBIG || r == -EOVERFLOW) && m3));
        if (r < 0)
                return 0;
        FUZZ_CHECK(memcmp(&before, &rev, sizeof(rev)) == 0);
        FUZZ_CHECK(bbolt_read_revisions(fd, &after, &m4) == 0);
        FUZZ_CHECK(after.latest == rev.latest + BUMP && after.latest_sub == 0 && after.scheduled_compact == after.latest);
        return 0;
}
