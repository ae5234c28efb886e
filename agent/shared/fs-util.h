/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* File helpers with the durability rules the agent promises: temp file, fsync, rename, fsync
 * of the directory. Non-logging. */

#include <stddef.h>
#include <sys/types.h>

/* Replace dir_fd/name by data atomically and durably. */
int write_file_atomic_at(int dir_fd, const char *name, const void *data, size_t size, mode_t mode);
int fsync_dir(int dir_fd);
/* write() until all of data is written, through EINTR and short writes. */
int write_all(int fd, const void *data, size_t size);
/* Opens, for reading, a file the agent did not create (flags may add O_NOFOLLOW): never blocks
 * (a FIFO or a device in its place is opened O_NONBLOCK, then refused) and returns the fd, or
 * -EBADFD for anything but a regular file (a directory, a FIFO, a socket, a device). */
int open_regular_file_at(int dir_fd, const char *path, int flags);
/* Read a whole (small) regular file, opened as above; -EFBIG past max bytes. The result is
 * NUL-terminated. */
int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size);
/* mkdir -p with mode (not masked by the umask) for the directories it creates. */
int mkdir_p(const char *path, mode_t mode);
/* Renames without ever replacing an existing file (-EEXIST), also where RENAME_NOREPLACE is
 * not supported (NFS, CIFS, FUSE). */
int rename_noreplace(int from_fd, const char *from, int to_fd, const char *to);
/* Exactly size bytes at offset, retried on EINTR and short transfers. pread_full() returns
 * -EBADMSG where the file ends first: it is shorter than its format says. */
int pread_full(int fd, void *buf, size_t size, off_t offset);
int pwrite_full(int fd, const void *buf, size_t size, off_t offset);
