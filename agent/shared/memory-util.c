/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Handing memory back while idle. Only a backup touches gRPC, OpenSSL and zstd: once it is
 * over, their code and read-only data would otherwise stay resident for the weeks the agent
 * then idles (7 MiB of libgrpc and libcrypto after one backup).
 *
 * MADV_PAGEOUT would be the polite way, but the kernel skips every page another process maps
 * too (mapcount > 1), which on a node is all of libcrypto and libstdc++, and libgrpc wherever a
 * second gRPC program runs: it handed back nothing. MADV_DONTNEED unmaps the pages from our page
 * tables whoever else maps them; a private file mapping then faults its pages back in from the
 * page cache, unchanged, as long as none of them is a private copy. So it is only applied to
 * mappings that are not writable and, per smaps, hold no anonymous (copied on write: relocated
 * RELRO data) and no swapped page. Such a mapping cannot gain one meanwhile: writing to it
 * faults, and only the dynamic loader changes its protection, when a library is loaded.
 */

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "macro.h"
#include "memory-util.h"

static bool mapping_wanted(const char *line, const char * const *libraries, unsigned long *ret_start,
                           unsigned long *ret_end) {
        const char *path = strchr(line, '/');
        char perms[8];

        /* Writable mappings hold relocated or changed data: never ours to drop. */
        if (!path || sscanf(line, "%lx-%lx %7s", ret_start, ret_end, perms) != 3 || perms[1] == 'w')
                return false;
        for (const char * const *l = libraries; *l; l++)
                if (strstr(path, *l))
                        return true;
        return false;
}

static void mapping_release(unsigned long start, unsigned long end, bool private_pages, int *n) {
        if (start == 0 || private_pages)
                return;
        if (madvise((void *) start, end - start, MADV_DONTNEED) >= 0)
                (*n)++;
}

int memory_release(const char * const *libraries) {
        _cleanup_(fclosep) FILE *f = NULL;
        unsigned long start = 0, end = 0;
        bool private_pages = false;
        char line[4096];
        int n = 0;

        (void) malloc_trim(0);

        f = fopen("/proc/self/smaps", "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                unsigned kb;

                /* A mapping opens with "START-END PERMS OFFSET DEV INODE PATH" (in lower-case
                 * hex), followed by its fields, "Name: N kB", each capitalized. */
                if (line[0] >= 'A' && line[0] <= 'Z') {
                        if (start != 0 &&
                            (sscanf(line, "Anonymous: %u kB", &kb) == 1 || sscanf(line, "Swap: %u kB", &kb) == 1) && kb > 0)
                                private_pages = true;
                        continue;
                }
                /* The next mapping begins: the previous one is complete. */
                mapping_release(start, end, private_pages, &n);
                private_pages = false;
                if (!mapping_wanted(line, libraries, &start, &end))
                        start = end = 0;
        }
        mapping_release(start, end, private_pages, &n);
        return n;
}
