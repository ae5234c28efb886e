/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Opening what the agent did not create: regular files only, and never a blocking open. */

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs-util.h"
#include "macro.h"
#include "tap.h"

static char dir[] = "/tmp/test-fs-util-XXXXXX";
static int dir_fd = -1;

TEST(regular_file) {
        int fd;

        CHECK(close(openat(dir_fd, "file", O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) == 0);
        fd = open_regular_file_at(dir_fd, "file", O_NOFOLLOW);
        CHECK(fd >= 0);
        /* Reads from it block again, as a file's should. */
        CHECK((fcntl(fd, F_GETFL) & O_NONBLOCK) == 0);
        CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
        safe_close(fd);
}

TEST(fifo_refused_without_blocking) {
        char path[256], *text = NULL;

        CHECK(mkfifoat(dir_fd, "fifo", 0600) == 0);
        tap_deadline(5);
        CHECK_EQ(open_regular_file_at(dir_fd, "fifo", 0), -EBADFD);
        snprintf(path, sizeof(path), "%s/fifo", dir);
        CHECK_EQ(read_full_file(path, 1024, &text, NULL), -EBADFD);
        tap_deadline(0);
        CHECK(!text);
}

TEST(others_refused) {
        CHECK(mkdirat(dir_fd, "subdir", 0700) == 0);
        CHECK_EQ(open_regular_file_at(dir_fd, "subdir", 0), -EBADFD);
        CHECK_EQ(open_regular_file_at(AT_FDCWD, "/dev/null", 0), -EBADFD);
        CHECK(symlinkat("file", dir_fd, "link") == 0);
        CHECK_EQ(open_regular_file_at(dir_fd, "link", O_NOFOLLOW), -ELOOP);
        CHECK_EQ(open_regular_file_at(dir_fd, "missing", 0), -ENOENT);
}

TEST(read_full_file_limit) {
        char path[256], *text = NULL;
        size_t size = 0;
        int fd;

        fd = openat(dir_fd, "sized", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        CHECK(write(fd, "0123456789", 10) == 10);
        close(fd);
        snprintf(path, sizeof(path), "%s/sized", dir);
        CHECK_EQ(read_full_file(path, 9, &text, NULL), -EFBIG);
        CHECK_EQ(read_full_file(path, 10, &text, &size), 0);
        CHECK_EQ(size, 10);
        CHECK_STREQ(text, "0123456789");
        free(text);
}

int main(void) {
        char cmd[512];
        int r;

        if (!mkdtemp(dir))
                return 1;
        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        RUN(regular_file);
        RUN(fifo_refused_without_blocking);
        RUN(others_refused);
        RUN(read_full_file_limit);
        r = tap_finish();

        close(dir_fd);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        (void) !system(cmd);
        return r;
}
