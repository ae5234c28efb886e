/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A stand-in for libFuzzer's main(): runs the target once over each file of the directories
 * (or each file) given, one TAP line per input. Linked with every target in every build, gcc's
 * too, so that the checked-in corpus, crashes found once included, is a regression test.
 */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fs-util.h"
#include "fuzz.h"
#include "macro.h"
#include "string-util.h"

#define INPUT_MAX (16U * 1024U * 1024U)

static unsigned count;

static int run_file(const char *path) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r;

        r = read_full_file(path, INPUT_MAX, &data, &size);
        if (r < 0) {
                printf("not ok %u - %s: cannot read it: %s\n", ++count, path, strerror(-r));
                return r;
        }
        /* Said before, so that a crash names its input. */
        printf("# %s\n", path);
        fflush(stdout);
        (void) LLVMFuzzerTestOneInput((const uint8_t *) data, size);
        printf("ok %u - %s\n", ++count, path);
        fflush(stdout);
        return 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char * const *) a, *(char * const *) b);
}

static int run_dir(const char *dir) {
        _cleanup_strv_free_ char **files = NULL;
        struct dirent *de;
        size_t n = 0;
        DIR *d;
        int r = 0;

        d = opendir(dir);
        if (!d)
                return run_file(dir);
        while ((de = readdir(d))) {
                _cleanup_free_ char *p = NULL;

                if (de->d_name[0] == '.')
                        continue;
                if (asprintf(&p, "%s/%s", dir, de->d_name) < 0 || strv_extend_counted(&files, &n, p) < 0)
                        abort();
        }
        closedir(d);
        if (n == 0) {
                printf("not ok %u - %s: no inputs\n", ++count, dir);
                return -ENOENT;
        }
        qsort(files, n, sizeof(char *), cmp_str);
        for (size_t i = 0; i < n; i++)
                if (run_file(files[i]) < 0)
                        r = -EIO;
        return r;
}

int main(int argc, char **argv) {
        int r = 0;

        if (argc < 2) {
                fprintf(stderr, "Usage: %s CORPUS-DIRECTORY|FILE...\n", argv[0]);
                return 2;
        }
        for (int i = 1; i < argc; i++)
                if (run_dir(argv[i]) < 0)
                        r = 1;
        printf("1..%u\n", count);
        return r;
}
