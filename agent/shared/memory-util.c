/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Handing memory back while idle. Only a backup touches gRPC, OpenSSL and zstd: once it is
 * over, their code and read-only data would otherwise stay resident for the weeks the agent
 * then idles. MADV_PAGEOUT (Linux 5.4) drops those pages from our page tables; where the
 * kernel lacks it, madvise() fails and nothing changes.
 */

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "macro.h"
#include "memory-util.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

int memory_release(const char * const *libraries) {
        _cleanup_(fclosep) FILE *f = NULL;
        char line[4096];
        int n = 0;

        (void) malloc_trim(0);

        f = fopen("/proc/self/maps", "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                unsigned long start, end;
                char perms[8];
                const char *path = strchr(line, '/');

                /* Writable mappings hold relocated or changed data: never ours to drop. */
                if (!path || sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3 || perms[1] == 'w')
                        continue;
                for (const char * const *l = libraries; *l; l++)
                        if (strstr(path, *l)) {
                                if (madvise((void *) start, end - start, MADV_PAGEOUT) >= 0)
                                        n++;
                                break;
                        }
        }
        return n;
}
