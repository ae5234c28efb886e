/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Importing a backup file from another node (Manager.ImportBackup). The caller hands over a
 * descriptor; the loop only looks at it (fstat, its flags) and never reads it: a pipe may be fed
 * slowly, a file may sit on a slow disk. A worker thread copies it into the storage directory as
 * import-UUID.db.zst.partial, reads the metadata as soon as it has arrived (an id this agent has
 * is refused before the rest is copied), fsyncs, verifies what is on disk end to end with the
 * reader of backup-file.c, refiles it under another configuration if asked, renames it to its
 * own name without replacing anything and fsyncs the directory. The loop then loads it like a
 * backup found at startup and answers the call. Whatever fails, the partial file is removed.
 */

#include <endian.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "backup-import.h"
#include "backup.h"
#include "bus-util.h"
#include "errors.h"
#include "fs-util.h"
#include "log.h"
#include "string-util.h"
#include "time-util.h"
#include "worker.h"

#define IMPORT_BUFFER_SIZE (128U * 1024U)
/* Once this much has arrived the metadata frame is complete: the reader allows a frame of up to
 * 64 KiB after its 8-byte header (this format writes 4 KiB). */
#define IMPORT_HEAD_SIZE (64U * 1024U + 8U)
/* A stream that sends nothing for this long is given up on: its writer is gone or stuck, and an
 * import holds the one import slot of the agent. */
#define IMPORT_STALL_USEC (60 * USEC_PER_SEC)
/* How often a waiting worker looks at its cancel flag: the agent's shutdown waits for it. */
#define IMPORT_POLL_MSEC 250

#define MESSAGE_ID_BACKUP_IMPORTED "7a1a934d3e7a45c8800ea5bc8d83d063"
#define MESSAGE_ID_BACKUP_IMPORT_FAILED "17be992e5d3b4233b7812f1c6b851429"

typedef enum ImportSource {
        SOURCE_FILE,   /* read with pread() from offset 0, whatever the caller's position */
        SOURCE_PIPE,   /* a pipe or FIFO, reopened non-blocking */
        SOURCE_SOCKET, /* read with MSG_DONTWAIT */
} ImportSource;

struct BackupImport {
        Manager *manager;
        sd_bus_message *request;
        Worker *worker;
        sd_event_source *exit_source;

        /* The worker's: copies made at the call, and results the loop reads after the join. */
        int fd;
        ImportSource source;
        int dir_fd;
        char *partial;
        char *config;     /* the Config option, or NULL: the metadata's */
        char **known_ids; /* every backup the agent had at the call */
        BackupMeta meta;
        bool meta_read;
        char *file;
        char *message;
};

BackupImport *backup_import_free(BackupImport *i) {
        if (!i)
                return NULL;
        /* Cancels and joins; the worker removes its partial file on the way out. */
        worker_free(i->worker);
        sd_event_source_disable_unref(i->exit_source);
        if (i->request)
                (void) sd_bus_reply_method_errorf(i->request, AGENT_ERROR_CANCELLED,
                                                  "The import was interrupted: the agent is stopping.");
        sd_bus_message_unref(i->request);
        safe_close(i->fd);
        safe_close(i->dir_fd);
        free(i->partial);
        free(i->config);
        strv_free(i->known_ids);
        free(i->file);
        free(i->message);
        free(i);
        return NULL;
}

/* ---- on the worker thread ------------------------------------------------------------------ */

/* Up to size bytes of the input at offset (a stream ignores it): > 0 bytes read, 0 at its end.
 * A stream is waited for, never for more than IMPORT_POLL_MSEC without looking at cancel, and
 * at most IMPORT_STALL_USEC in all. */
static ssize_t import_read(BackupImport *i, void *buf, size_t size, uint64_t offset, const atomic_bool *cancel) {
        usec_t deadline = now(CLOCK_MONOTONIC) + IMPORT_STALL_USEC;

        for (;;) {
                struct pollfd p = { .fd = i->fd, .events = POLLIN };
                ssize_t k;

                if (atomic_load(cancel))
                        return set_message(&i->message, -ECANCELED, "The import was cancelled");
                if (i->source == SOURCE_FILE)
                        k = pread(i->fd, buf, size, (off_t) offset);
                else if (i->source == SOURCE_SOCKET)
                        k = recv(i->fd, buf, size, MSG_DONTWAIT);
                else
                        k = read(i->fd, buf, size);
                if (k >= 0)
                        return k;
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN)
                        return set_message(&i->message, -errno, "Cannot read the backup from the descriptor: %m");
                if (now(CLOCK_MONOTONIC) >= deadline)
                        return set_message(&i->message, -ETIMEDOUT,
                                           "No data came from the descriptor for %" PRIu64 " s after %" PRIu64
                                           " bytes; is its writer still there?",
                                           IMPORT_STALL_USEC / USEC_PER_SEC, offset);
                (void) poll(&p, 1, IMPORT_POLL_MSEC);
        }
}

/* The whole input into fd, the metadata checked as soon as it is in. */
static int import_copy(BackupImport *i, int fd, const atomic_bool *cancel) {
        _cleanup_free_ uint8_t *buf = NULL;
        uint64_t copied = 0, limit = UINT64_MAX;
        int r;

        buf = malloc(IMPORT_BUFFER_SIZE);
        if (!buf)
                return -ENOMEM;

        for (;;) {
                ssize_t k = import_read(i, buf, IMPORT_BUFFER_SIZE, copied, cancel);
                if (k < 0)
                        return (int) k;

                /* Bounded by what the metadata announces: an endless stream is not a backup. The
                 * exact size is the reader's to check. */
                if ((uint64_t) k > limit - copied)
                        return set_message(&i->message, -EBADMSG,
                                           "The input goes on past the %" PRIu64 " compressed bytes its metadata announces",
                                           i->meta.compressed_size);
                if (k > 0) {
                        r = write_all(fd, buf, (size_t) k);
                        if (r < 0)
                                return set_message(&i->message, r, "Cannot write %s: %s", i->partial, strerror(-r));
                        copied += (uint64_t) k;
                }

                if (!i->meta_read && (k == 0 || copied >= IMPORT_HEAD_SIZE)) {
                        r = backup_file_read_meta(fd, &i->meta, &i->message);
                        if (r < 0)
                                return r;
                        i->meta_read = true;
                        if (strv_contains(i->known_ids, i->meta.id))
                                return set_message(&i->message, -EEXIST, "Backup %s is here already", i->meta.id);
                        limit = IMPORT_HEAD_SIZE + i->meta.compressed_size;
                }
                if (k == 0)
                        return 0;
        }
}

/* Files the copy under i->config: its metadata frame rewritten in place, with the checksum of
 * the new text. The compressed data, which COMPRESSED_SHA256 covers, stays as it came. */
static int import_refile(BackupImport *i, int fd, BackupMeta *meta) {
        _cleanup_free_ char *payload = NULL;
        BackupMeta check;
        uint8_t header[8];
        uint32_t size;
        int r;

        if (pread(fd, header, sizeof(header), 0) != (ssize_t) sizeof(header))
                return set_message(&i->message, -EIO, "Cannot read back %s", i->partial);
        memcpy(&size, header + 4, sizeof(size));
        size = le32toh(size); /* checked by the reader already */

        snprintf(meta->config, sizeof(meta->config), "%s", i->config);
        payload = calloc(1, size);
        if (!payload)
                return -ENOMEM;
        r = backup_meta_format(meta, payload, size);
        if (r < 0)
                return set_message(&i->message, r, "Cannot encode the metadata of backup %s under '%s'", meta->id, i->config);
        if (pwrite(fd, payload, size, sizeof(header)) != (ssize_t) size)
                return set_message(&i->message, errno > 0 ? -errno : -EIO, "Cannot write %s: %m", i->partial);
        if (fsync(fd) < 0)
                return set_message(&i->message, -errno, "Cannot sync %s: %m", i->partial);
        /* What was written reads back as meant. */
        r = backup_file_read_meta(fd, &check, &i->message);
        if (r < 0)
                return r;
        if (!streq(check.config, i->config))
                return set_message(&i->message, -EIO, "%s does not read back as filed under '%s'", i->partial, i->config);
        return 0;
}

static int import_store(BackupImport *i, int fd, const atomic_bool *cancel) {
        BackupMeta meta;
        int r;

        r = import_copy(i, fd, cancel);
        if (r < 0)
                return r;
        if (fsync(fd) < 0)
                return set_message(&i->message, -errno, "Cannot sync %s: %m", i->partial);

        /* What is on disk is what gets checked: every hash, etcd's trailer, the bbolt header. */
        r = backup_file_extract(fd, -1, NULL, cancel, &meta, &i->message);
        if (r < 0)
                return r;
        if (i->config && !streq(i->config, meta.config)) {
                r = import_refile(i, fd, &meta);
                if (r < 0)
                        return r;
        }
        i->meta = meta;

        r = backup_file_name(&meta, &i->file);
        if (r < 0)
                return set_message(&i->message, r, "Cannot name the file of backup %s", meta.id);
        /* Never replace: the name holds the id, and an id is one backup. */
        r = rename_noreplace(i->dir_fd, i->partial, i->dir_fd, i->file);
        if (r == -EEXIST)
                return set_message(&i->message, r, "Backup %s is here already, as %s", meta.id, i->file);
        if (r < 0)
                return set_message(&i->message, r, "Cannot rename %s to %s: %s", i->partial, i->file, strerror(-r));
        r = fsync_dir(i->dir_fd);
        if (r < 0) {
                /* Not durable, so not reported as done. */
                (void) unlinkat(i->dir_fd, i->file, 0);
                return set_message(&i->message, r, "Cannot sync the storage directory: %s", strerror(-r));
        }
        return 0;
}

static int import_run(Worker *w, void *userdata) {
        BackupImport *i = userdata;
        _cleanup_close_ int fd = -EBADF;
        int r;

        /* Read back (the metadata, the verification) as well as written. */
        fd = openat(i->dir_fd, i->partial, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return set_message(&i->message, -errno, "Cannot create %s: %m", i->partial);
        r = import_store(i, fd, worker_cancel_flag(w));
        if (r < 0)
                (void) unlinkat(i->dir_fd, i->partial, 0);
        return r;
}

/* ---- on the loop ----------------------------------------------------------------------------- */

static void import_finished(Worker *w, bool finished, int result, void *userdata) {
        BackupImport *i = userdata;
        Manager *m = i->manager;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *request = TAKE_PTR(i->request);
        Backup *b = NULL;

        if (!finished)
                return;
        i->worker = worker_free(i->worker); /* joined already */

        if (result >= 0) {
                /* The list was copied at the call; a backup of that id may have come since. */
                if (manager_find_backup(m, i->meta.id))
                        result = set_message(&i->message, -EEXIST, "Backup %s is here already", i->meta.id);
                else
                        result = backup_load(m, i->file, &b);
                if (result < 0) {
                        (void) unlinkat(m->storage_fd, i->file, 0);
                        if (!i->message)
                                (void) set_message(&i->message, result, "Cannot load %s: %s", i->file, strerror(-result));
                }
        }

        if (result >= 0) {
                char size[FORMAT_BYTES_MAX];

                if (m->bus)
                        (void) sd_bus_emit_object_added(m->bus, b->object_path);
                log_backup(b, LOG_INFO, 0, MESSAGE_ID_BACKUP_IMPORTED,
                           "Backup %s of '%s' imported (taken on %s, revision %" PRIi64 ", %s): %s.", b->id,
                           b->meta.config, b->meta.node[0] ? b->meta.node : "an unknown node", b->meta.revision,
                           format_bytes(size, sizeof(size), b->file_size), b->file);
                (void) sd_bus_reply_method_return(request, "o", b->object_path);
        } else {
                const char *why = i->message ?: strerror(-result), *id = i->meta_read ? i->meta.id : "";

                log_backup_id(id, i->meta.config, LOG_ERR, result, MESSAGE_ID_BACKUP_IMPORT_FAILED, "Import of %s%s failed: %s",
                              *id ? "backup " : "a backup", id, why);
                (void) sd_bus_reply_method_errorf(request, agent_error_from_errno(result), "Cannot import the backup: %s.",
                                                  why);
        }

        m->import = backup_import_free(i);
        manager_release_memory(m);
}

/* The loop is ending (SIGTERM): the import is cancelled and its caller told so while the bus is
 * still there, ahead of sd-bus's own exit source, which closes it. */
static int on_exit_cancel(sd_event_source *s, void *userdata) {
        BackupImport *i = userdata;

        log_notice("Import into %s interrupted by shutdown; its partial file is removed.", i->partial);
        i->manager->import = backup_import_free(i);
        return 0;
}

/* A copy of the caller's descriptor that the worker can read without ever blocking where it
 * cannot be cancelled. */
static int import_open_source(BackupImport *i, int fd, const struct stat *st) {
        char path[64];

        if (S_ISREG(st->st_mode)) {
                i->source = SOURCE_FILE;
                i->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        } else if (S_ISSOCK(st->st_mode)) {
                i->source = SOURCE_SOCKET;
                i->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        } else {
                /* O_NONBLOCK on the caller's descriptor would change it for the caller too: a pipe
                 * opened anew through /proc is a description of our own. Opening a pipe for
                 * reading with O_NONBLOCK never waits for a writer. */
                i->source = SOURCE_PIPE;
                snprintf(path, sizeof(path), "/proc/self/fd/%i", fd);
                i->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        }
        return i->fd < 0 ? -errno : 0;
}

static int backup_import_start(Manager *m, sd_bus_message *msg, int fd, const struct stat *st, const char *config,
                               sd_bus_error *error) {
        _cleanup_(backup_import_freep) BackupImport *i = NULL;
        char tmp[BACKUP_ID_STRING_MAX];
        int r;

        i = calloc(1, sizeof(*i));
        if (!i)
                return log_oom();
        i->manager = m;
        i->fd = i->dir_fd = -EBADF;

        r = import_open_source(i, fd, st);
        if (r < 0)
                return agent_error_setf(error, r, "Cannot read from the descriptor: %m");
        i->dir_fd = fcntl(m->storage_fd, F_DUPFD_CLOEXEC, 3);
        if (i->dir_fd < 0)
                return agent_error_setf(error, -errno, "Cannot use the storage directory: %m");

        /* A name of its own until its id is known and checked; the suffix makes a crash's
         * leftover go at the next start, with those of interrupted backups. */
        backup_id_generate(tmp);
        if (asprintf(&i->partial, "import-%s" BACKUP_FILE_SUFFIX BACKUP_PARTIAL_SUFFIX, tmp) < 0 ||
            (config && !(i->config = strdup(config))))
                return log_oom();
        LIST_FOREACH(backups, b, m->backups)
                if (strv_extend(&i->known_ids, b->id) < 0)
                        return log_oom();

        r = sd_event_add_exit(m->event, &i->exit_source, on_exit_cancel, i);
        if (r >= 0)
                r = sd_event_source_set_priority(i->exit_source, SD_EVENT_PRIORITY_IMPORTANT);
        if (r < 0)
                return log_error_errno(r, "Failed to watch for the agent's exit: %m");
        r = worker_start(m->event, "import", import_run, import_finished, i, &i->worker);
        if (r < 0)
                return log_error_errno(r, "Failed to start the import thread: %m");
        i->request = sd_bus_message_ref(msg);
        log_info("Importing a backup from a %s%s%s%s.",
                 i->source == SOURCE_FILE ? "file" : i->source == SOURCE_PIPE ? "pipe" : "socket",
                 config ? ", filing it under '" : "", strempty(config), config ? "'" : "");
        m->import = TAKE_PTR(i);
        return 0;
}

/* ImportBackup's options: "Config" (s) only, for now. */
static int read_import_options(sd_bus_message *msg, const char **ret_config, sd_bus_error *error) {
        static const BusOption table[] = {
                { "Config", 's', 0 },
                {},
        };
        const char *config = NULL;
        int r;

        r = bus_read_options(msg, table, &config, "option", NULL, error);
        if (r < 0)
                return r;
        if (config && !config_name_is_valid(config))
                return sd_bus_error_setf(error, AGENT_ERROR_INVALID_NAME,
                                         "Invalid configuration name '%s': expected [a-z0-9][a-z0-9_-]{0,62}.", config);
        *ret_config = config;
        return 0;
}

static const char *file_type_name(mode_t mode) {
        return S_ISDIR(mode) ? "directory" : S_ISCHR(mode) ? "character device" : S_ISBLK(mode) ? "block device"
                                                                                                 : "special file";
}

int bus_manager_method_import_backup(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *config = NULL;
        struct stat st;
        int fd, flags, r;

        r = sd_bus_message_read(msg, "h", &fd);
        if (r < 0)
                return r;
        r = read_import_options(msg, &config, error);
        if (r < 0)
                return r;

        /* Only looked at here, never read: that is the worker's. */
        if (fstat(fd, &st) < 0)
                return agent_error_setf(error, -errno, "Cannot look at the descriptor: %m");
        if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "The descriptor is a %s; pass a backup file, or a pipe or socket it comes through.",
                                         file_type_name(st.st_mode));
        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return agent_error_setf(error, -errno, "Cannot look at the descriptor: %m");
        if ((flags & O_PATH) || (flags & O_ACCMODE) == O_WRONLY)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "The descriptor is not open for reading.");

        const char *details[] = { config ? "config" : NULL, config, NULL };
        r = polkit_check(msg, POLKIT_ACTION_IMPORT_BACKUP, details, m->checks, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        /* One at a time: each one is a full write and read of a backup on the disk etcd needs.
         * Backups and verifications go on meanwhile; they share nothing with an import. */
        if (m->import)
                return sd_bus_error_setf(error, AGENT_ERROR_BUSY, "Another import is running; try again when it is done.");
        /* A restore wants the disk etcd needs, and its backup may be the one that would come in. */
        if (m->restore)
                return sd_bus_error_setf(error, AGENT_ERROR_BUSY, "A restore is running; import when it is done.");

        r = backup_import_start(m, msg, fd, &st, config, error);
        if (r < 0)
                return r;
        /* Answered when the worker is done. */
        return 1;
}
