/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* File helpers with the agent's durability rules. */

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "fs-util.h"
#include "macro.h"

int fsync_dir(int dir_fd) {
        return fsync(dir_fd) < 0 ? -errno : 0;
}

int write_all(int fd, const void *data, size_t size) {
        const char *p = data;

        while (size > 0) {
                ssize_t n = write(fd, p, size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                size -= (size_t) n;
        }
        return 0;
}

int write_file_atomic_at(int dir_fd, const char *name, const void *data, size_t size, mode_t mode) {
        _cleanup_close_ int fd = -EBADF;
        char tmp[PATH_MAX];
        uint64_t rnd;
        int r;

        if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
                rnd = (uint64_t) getpid() ^ (uint64_t) (uintptr_t) &rnd;
        /* A leading dot and a "#" keep the temp name from ever matching what readers look for. */
        if (snprintf(tmp, sizeof(tmp), ".#%s.%016llx", name, (unsigned long long) rnd) >= (int) sizeof(tmp))
                return -ENAMETOOLONG;

        fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        /* The mode asked for, not what the process's umask leaves of it. */
        r = fchmod(fd, mode) < 0 ? -errno : 0;
        if (r >= 0)
                r = write_all(fd, data, size);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && renameat(dir_fd, tmp, dir_fd, name) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dir_fd, tmp, 0);
                return r;
        }
        return fsync_dir(dir_fd);
}

int open_regular_file_at(int dir_fd, const char *path, int flags) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        /* O_NONBLOCK: opening a FIFO waits for a writer, a device may wait for a carrier. Neither
         * is a file anyone meant the agent to read, and the open itself must not block. */
        fd = openat(dir_fd, path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | flags);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        /* Regular files ignore it, but a read on one over FUSE might not: plain reads from here. */
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
                return -errno;
        return TAKE_FD(fd);
}

int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, alloc = 0;

        fd = open_regular_file_at(AT_FDCWD, path, 0);
        if (fd < 0)
                return fd;
        for (;;) {
                ssize_t k;

                if (n + 1 >= alloc) {
                        char *t;
                        alloc = alloc ? alloc * 2 : 4096;
                        t = realloc(buf, alloc);
                        if (!t)
                                return -ENOMEM;
                        buf = t;
                }
                k = read(fd, buf + n, alloc - n - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > max)
                        return -EFBIG;
        }
        buf[n] = 0;
        if (ret_size)
                *ret_size = n;
        *ret = TAKE_PTR(buf);
        return 0;
}

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1;; s++) {
                if (*s != '/' && *s)
                        continue;
                char c = *s;
                *s = 0;
                /* What it creates gets the mode asked for, whatever the umask. */
                if (mkdir(p, mode) >= 0) {
                        if (chmod(p, mode) < 0)
                                return -errno;
                } else if (errno != EEXIST)
                        return -errno;
                if (!c)
                        return 0;
                *s = c;
        }
}

int rename_noreplace(int from_fd, const char *from, int to_fd, const char *to) {
        if (renameat2(from_fd, from, to_fd, to, RENAME_NOREPLACE) >= 0)
                return 0;
        /* NFS, CIFS and FUSE file systems refuse the flag (EINVAL), old kernels the call. As
         * systemd does: a hard link cannot replace anything either. */
        if (!IN_SET(errno, EINVAL, ENOSYS, EOPNOTSUPP, ENOTTY))
                return -errno;
        if (linkat(from_fd, from, to_fd, to, 0) >= 0) {
                if (unlinkat(from_fd, from, 0) < 0)
                        return -errno;
                return 0;
        }
        if (!IN_SET(errno, EINVAL, ENOSYS, EOPNOTSUPP, EPERM))
                return -errno;
        /* No hard links either (some FUSE file systems): check, then rename. Racy, but the
         * only writer of these names is this process. */
        if (faccessat(to_fd, to, F_OK, AT_SYMLINK_NOFOLLOW) >= 0)
                return -EEXIST;
        if (errno != ENOENT)
                return -errno;
        return renameat(from_fd, from, to_fd, to) < 0 ? -errno : 0;
}

int pread_full(int fd, void *buf, size_t size, off_t offset) {
        char *p = buf;

        while (size > 0) {
                ssize_t n = pread(fd, p, size, offset);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EBADMSG;
                p += n;
                size -= (size_t) n;
                offset += n;
        }
        return 0;
}

int pwrite_full(int fd, const void *buf, size_t size, off_t offset) {
        const char *p = buf;

        while (size > 0) {
                ssize_t n = pwrite(fd, p, size, offset);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                size -= (size_t) n;
                offset += n;
        }
        return 0;
}
