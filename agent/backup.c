/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Backups as bus objects, and the backup job. A backup runs on one worker thread: a Status call
 * (revision, ids and version for the metadata, and the size the deadline is sized from), then
 * the Snapshot stream into a BackupWriter, which compresses on a thread of its own. The worker
 * only wakes the loop; the loop alone touches the object and the bus, reading progress from
 * atomics and the result once the thread is joined.
 */

#include <fcntl.h>
#include <grpc/grpc.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "backup.h"
#include "bus-util.h"
#include "errors.h"
#include "fs-util.h"
#include "log.h"
#include "string-util.h"
#include "time-util.h"

/* Failed backups stay visible for their reason; more than this many are not worth keeping. */
#define FAILED_BACKUPS_MAX 16U
#define STATUS_TIMEOUT_USEC (10 * USEC_PER_SEC)
/* Less than 1 MiB of snapshot data in a minute: the stream is as good as dead, and it holds a
 * read txn open in etcd (a trickle of bytes must not keep it alive). */
#define STALL_TIMEOUT_USEC (60 * USEC_PER_SEC)
#define STALL_MIN_BYTES (1024U * 1024U)
/* The whole stream may take a floor for small databases plus the time at 2 MiB/s, a pace even a
 * loaded node keeps; a stream slower than that pins etcd's database for too long. The size it
 * is computed from is what etcd announced, but never more than etcd can hold (its backend is
 * meant for at most 8 GiB; twice that for headroom), so that a peer announcing a huge
 * database cannot buy itself hours. */
#define SNAPSHOT_TIMEOUT_BASE_USEC (15 * USEC_PER_MINUTE)
#define SNAPSHOT_MIN_RATE (2U * 1024U * 1024U)
#define SNAPSHOT_SIZE_MAX (16ULL * 1024 * 1024 * 1024)

#define MESSAGE_ID_BACKUP_STARTED "8953dd490c6f41b996ec5902b47d235d"
#define MESSAGE_ID_BACKUP_COMPLETED "7f70f790e2f84adbbac1b78abd90ea0d"
#define MESSAGE_ID_BACKUP_FAILED "420bd356b257480f8da55b6b0e92ddc8"
#define MESSAGE_ID_BACKUP_VERIFIED "6296aa78a22140c993227134314c9f4a"
#define MESSAGE_ID_BACKUP_DELETED "219be76af0c44ba4ad490d49d4b1184c"

static const char * const backup_state_table[_BACKUP_STATE_MAX] = {
        [BACKUP_RUNNING] = "running",
        [BACKUP_COMPLETED] = "completed",
        [BACKUP_FAILED] = "failed",
};

const char *backup_state_to_string(BackupState s) {
        return s >= 0 && s < _BACKUP_STATE_MAX ? backup_state_table[s] : NULL;
}

/* Everything the worker thread reads and writes. The inputs are copies, so that a reload of the
 * configuration cannot change them under the thread. */
struct BackupJob {
        EtcdEndpoint endpoint;
        int dir_fd;
        BackupMeta meta;

        Worker *worker;       /* thread side, to wake the loop */
        BackupWriter *writer; /* thread side */
        unsigned percent_posted;
        _Atomic uint64_t bytes_done;
        _Atomic uint64_t bytes_total;

        /* Results, read by the loop once the thread is joined. */
        BackupMeta result;
        char *file;
        char *message;
};

static BackupJob *backup_job_free(BackupJob *j) {
        if (!j)
                return NULL;
        etcd_endpoint_done(&j->endpoint);
        safe_close(j->dir_fd);
        free(j->file);
        free(j->message);
        free(j);
        return NULL;
}

/* ---- the job, on the worker thread -------------------------------------------------------- */

static int job_begin(uint64_t db_size, void *userdata) {
        BackupJob *j = userdata;

        atomic_store(&j->bytes_total, db_size + SHA256_DIGEST_SIZE);
        return backup_writer_begin(j->writer, db_size);
}

static int job_data(const void *p, size_t size, void *userdata) {
        BackupJob *j = userdata;
        uint64_t done, total;
        unsigned percent;
        int r;

        r = backup_writer_write(j->writer, p, size, &j->message);
        if (r < 0)
                return r;

        done = atomic_fetch_add(&j->bytes_done, size) + size;
        total = atomic_load(&j->bytes_total);
        percent = total > 0 ? (unsigned) MIN(done * 100 / total, 100) : 0;
        /* A wake per percent: the loop publishes at that grain anyway. */
        if (percent != j->percent_posted) {
                j->percent_posted = percent;
                worker_wake(j->worker);
        }
        return 0;
}

static int backup_job_stream(BackupJob *j, Worker *w) {
        _cleanup_(etcd_client_freep) EtcdClient *client = NULL;
        _cleanup_(etcd_status_done) EtcdStatus status = {};
        _cleanup_(backup_writer_freep) BackupWriter *writer = NULL;
        int r;

        r = etcd_client_new(&j->endpoint, &client, &j->message);
        if (r < 0)
                /* A TLS file agent.conf names that cannot be read: the configuration's fault. */
                return r == -ENOMEM ? r : -ENOEXEC;
        r = etcd_client_status(client, STATUS_TIMEOUT_USEC, worker_cancel_flag(w), &status, &j->message);
        if (r < 0)
                return r;

        j->meta.cluster_id = status.cluster_id;
        j->meta.member_id = status.member_id;
        j->meta.revision = status.revision;
        j->meta.raft_term = status.raft_term;
        j->meta.raft_index = status.raft_index;
        snprintf(j->meta.etcd_version, sizeof(j->meta.etcd_version), "%s", status.version);
        j->meta.created = now(CLOCK_REALTIME);
        atomic_store(&j->bytes_total, status.db_size + SHA256_DIGEST_SIZE);

        r = backup_writer_new(j->dir_fd, &j->meta, worker_cancel_flag(w), &writer, &j->message);
        if (r < 0)
                return r;
        j->writer = writer;

        EtcdSnapshotOptions o = {
                .timeout = SNAPSHOT_TIMEOUT_BASE_USEC + MIN(status.db_size, SNAPSHOT_SIZE_MAX) / SNAPSHOT_MIN_RATE * USEC_PER_SEC,
                .stall_timeout = STALL_TIMEOUT_USEC,
                .stall_min_bytes = STALL_MIN_BYTES,
                .cancel = worker_cancel_flag(w),
        };
        EtcdSnapshotSink sink = { .begin = job_begin, .data = job_data, .userdata = j };
        r = etcd_client_snapshot(client, &o, &sink, &j->message);
        if (r < 0)
                return r;

        return backup_writer_finish(writer, &j->result, &j->file, &j->message);
}

static int backup_job_run(Worker *w, void *userdata) {
        /* Only b->job is used here: the loop leaves it alone until the thread is joined. */
        BackupJob *j = ((Backup *) userdata)->job;
        int r;

        j->worker = w;
        /* gRPC lives only as long as a stream: its threads and caches are gone while the agent
         * idles. Started here, its threads inherit this thread's mask, with every signal
         * blocked. */
        grpc_init();
        r = backup_job_stream(j, w);
        grpc_shutdown();
        return r;
}

/* ---- the object, on the loop ------------------------------------------------------------- */

static void backup_emit_changed(Backup *b, const char *property, ...) _sentinel_;

static void backup_emit_changed(Backup *b, const char *property, ...) {
        Manager *m = b->manager;
        char *names[24];
        size_t n = 0;
        va_list ap;

        if (!m->bus)
                return;
        va_start(ap, property);
        for (const char *p = property; p && n < ELEMENTSOF(names) - 1; p = va_arg(ap, const char *))
                names[n++] = (char *) p;
        va_end(ap);
        names[n] = NULL;
        (void) sd_bus_emit_properties_changed_strv(m->bus, b->object_path, BACKUP_INTERFACE, names);
}

static int backup_new(Manager *m, const char *id, Backup **ret) {
        Backup *b;
        int r;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->manager = m;
        snprintf(b->id, sizeof(b->id), "%s", id);
        snprintf(b->meta.id, sizeof(b->meta.id), "%s", id);
        r = sd_bus_path_encode(BACKUP_OBJECT_PREFIX, id, &b->object_path);
        if (r < 0) {
                free(b);
                return r;
        }

        /* Newest first: listing and trimming of failed backups walk from here. */
        LIST_PREPEND(backups, m->backups, b);

        *ret = b;
        return 0;
}

Backup *backup_free(Backup *b) {
        Manager *m;

        if (!b)
                return NULL;
        m = b->manager;

        /* Announced while the object can still be found, so the signal lists its interfaces. */
        if (m->bus)
                (void) sd_bus_emit_object_removed(m->bus, b->object_path);
        LIST_REMOVE(backups, m->backups, b);
        if (m->running == b)
                m->running = NULL;

        worker_free(b->worker); /* cancels the stream and joins; the writer removes its .partial */
        backup_job_free(b->job);
        backup_verify_abort(b, "was interrupted");
        free(b->object_path);
        free(b->file);
        free(b->error_name);
        free(b->error_message);
        free(b);
        return NULL;
}

Backup *manager_find_backup(Manager *m, const char *id) {
        LIST_FOREACH(backups, b, m->backups)
                if (streq(b->id, id))
                        return b;
        return NULL;
}

static void backup_publish_progress(Backup *b) {
        BackupJob *j = b->job;
        unsigned progress;

        b->bytes_done = atomic_load(&j->bytes_done);
        b->bytes_total = atomic_load(&j->bytes_total);
        /* Capped below 100 until the file is complete: the last percent is fsync and rename. */
        progress = b->bytes_total > 0 ? (unsigned) MIN(b->bytes_done * 100 / b->bytes_total, 99) : 0;
        if (progress == b->progress)
                return;
        b->progress = progress;
        backup_emit_changed(b, "Progress", "BytesDone", "BytesTotal", NULL);
        manager_update_state(b->manager);
}

static void backup_trim_failed(Manager *m) {
        Backup *oldest = NULL;
        unsigned n = 0;

        LIST_FOREACH(backups, b, m->backups)
                if (b->state == BACKUP_FAILED) {
                        n++;
                        oldest = b;
                }
        if (n > FAILED_BACKUPS_MAX)
                backup_free(oldest);
}

static void backup_finished(Backup *b, int result) {
        Manager *m = b->manager;
        BackupJob *j = TAKE_PTR(b->job);
        char size[FORMAT_BYTES_MAX], file_size[FORMAT_BYTES_MAX];
        struct stat st;

        b->worker = worker_free(b->worker); /* already joined */
        if (m->running == b)
                m->running = NULL;

        if (result >= 0) {
                b->state = BACKUP_COMPLETED;
                b->meta = j->result;
                b->file = TAKE_PTR(j->file);
                if (fstatat(m->storage_fd, b->file, &st, 0) >= 0)
                        b->file_size = (uint64_t) st.st_size;
                b->bytes_done = b->bytes_total = b->meta.snapshot_size;
                b->progress = 100;
                log_backup(b, LOG_INFO, 0, MESSAGE_ID_BACKUP_COMPLETED,
                           "Backup %s of '%s' completed: revision %" PRIi64 ", snapshot of %s compressed to %s in %s.",
                           b->id, b->meta.config, b->meta.revision,
                           format_bytes(size, sizeof(size), b->meta.snapshot_size),
                           format_bytes(file_size, sizeof(file_size), b->file_size), b->file);
        } else {
                b->state = BACKUP_FAILED;
                b->meta = j->meta; /* what was learnt before it failed: the revision, the member */
                b->error_name = strdup(agent_error_from_errno(result));
                if (result == -ECANCELED && !j->message)
                        b->error_message = strdup("The backup was cancelled.");
                else if (j->message)
                        b->error_message = TAKE_PTR(j->message);
                else
                        b->error_message = strdup(strerror(-result));
                log_backup(b, LOG_ERR, result, MESSAGE_ID_BACKUP_FAILED, "Backup %s of '%s' failed: %s", b->id,
                           b->meta.config, strna(b->error_message));
        }
        backup_job_free(j);
        manager_release_memory(m);

        backup_emit_changed(b, "State", "Error", "ErrorName", "File", "Size", "SnapshotSize", "Revision", "ClusterId",
                            "MemberId", "EtcdVersion", "Node", "Created", "Completed", "Sha256", "Progress", "BytesDone",
                            "BytesTotal", NULL);
        if (m->bus)
                (void) sd_bus_emit_signal(m->bus, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "BackupFinished", "sos",
                                          b->id, b->object_path, backup_state_to_string(b->state));
        manager_backup_finished(m, b);
        manager_update_state(m);

        if (b->state == BACKUP_FAILED)
                backup_trim_failed(m);
}

static void backup_on_worker(Worker *w, bool finished, int result, void *userdata) {
        Backup *b = userdata;

        if (finished)
                backup_finished(b, result);
        else
                backup_publish_progress(b);
}

int backup_start(Manager *m, const char *config, Backup **ret) {
        char id[BACKUP_ID_STRING_MAX];
        BackupJob *j;
        Backup *b;
        int r;

        backup_id_generate(id);
        r = backup_new(m, id, &b);
        if (r < 0)
                return log_error_errno(r, "Failed to create a backup object: %m");
        b->state = BACKUP_RUNNING;
        snprintf(b->meta.config, sizeof(b->meta.config), "%s", config);
        b->meta.created = now(CLOCK_REALTIME);

        j = b->job = calloc(1, sizeof(*j));
        if (!j) {
                backup_free(b);
                return log_oom();
        }
        j->dir_fd = fcntl(m->storage_fd, F_DUPFD_CLOEXEC, 3);
        j->meta = b->meta;
        if (gethostname(j->meta.node, sizeof(j->meta.node) - 1) < 0)
                j->meta.node[0] = 0;
        snprintf(j->meta.agent_version, sizeof(j->meta.agent_version), "%s", PROJECT_VERSION);
        if (j->dir_fd < 0 || free_and_strdup(&j->endpoint.url, m->config.etcd.url) < 0 ||
            free_and_strdup(&j->endpoint.trusted_ca_file, m->config.etcd.trusted_ca_file) < 0 ||
            free_and_strdup(&j->endpoint.cert_file, m->config.etcd.cert_file) < 0 ||
            free_and_strdup(&j->endpoint.key_file, m->config.etcd.key_file) < 0) {
                backup_free(b);
                return log_oom();
        }

        r = worker_start(m->event, "backup", backup_job_run, backup_on_worker, b, &b->worker);
        if (r < 0) {
                backup_free(b);
                return log_error_errno(r, "Failed to start the backup thread: %m");
        }

        m->running = b;
        if (m->bus)
                (void) sd_bus_emit_object_added(m->bus, b->object_path);
        log_backup(b, LOG_INFO, 0, MESSAGE_ID_BACKUP_STARTED, "Backup %s of '%s' started from %s.", b->id, config,
                   m->config.etcd.url);
        manager_update_state(m);

        *ret = b;
        return 0;
}

int backup_load(Manager *m, const char *file, Backup **ret) {
        _cleanup_free_ char *message = NULL;
        _cleanup_close_ int fd = -EBADF;
        BackupMeta meta;
        struct stat st;
        Backup *b;
        int r;

        /* The name becomes the File property: text, or the file is none of ours. */
        if (!utf8_is_printable(file))
                return log_warning_errno(SYNTHETIC_ERRNO(EBADMSG), "A file name in %s is not UTF-8 text, ignoring it.",
                                         m->config.storage_directory);
        /* Never blocking: a FIFO named like a backup would keep the agent from starting. */
        fd = open_regular_file_at(m->storage_fd, file, O_NOFOLLOW);
        if (fd == -EBADFD)
                return log_warning_errno(fd, "%s is not a regular file, ignoring.", file);
        if (fd < 0 || fstat(fd, &st) < 0)
                return log_warning_errno(fd < 0 ? fd : -errno, "Cannot open backup %s, ignoring: %m", file);
        r = backup_file_read_meta(fd, &meta, &message);
        if (r < 0)
                return log_warning_errno(r, "%s is not a usable backup, ignoring: %s", file, strna(message));
        if (manager_find_backup(m, meta.id))
                return log_warning_errno(SYNTHETIC_ERRNO(EEXIST), "%s claims backup id %s, which another file has, ignoring.",
                                         file, meta.id);

        r = backup_new(m, meta.id, &b);
        if (r < 0)
                return log_oom();
        b->state = BACKUP_COMPLETED;
        b->meta = meta;
        b->file = strdup(file);
        if (!b->file) {
                backup_free(b);
                return log_oom();
        }
        b->file_size = (uint64_t) st.st_size;
        b->bytes_done = b->bytes_total = meta.snapshot_size;
        b->progress = 100;

        if (ret)
                *ret = b;
        return 0;
}

/* ---- methods ----------------------------------------------------------------------------- */

static int backup_verify_run(Worker *w, void *userdata) {
        Backup *b = userdata;
        _cleanup_close_ int fd = -EBADF;
        BackupMeta meta;
        int r;

        /* b->file and the storage fd stay put while this runs: Delete refuses meanwhile. */
        /* Not necessarily what was loaded: a FIFO put in its place must not hang the thread,
         * which SIGTERM joins. */
        fd = open_regular_file_at(b->manager->storage_fd, b->file, O_NOFOLLOW);
        if (fd == -EBADFD)
                return set_message(&b->verify_message, -EBADMSG, "%s is no longer a regular file", b->file);
        if (fd < 0)
                return set_message(&b->verify_message, fd, "Cannot open %s: %s", b->file, strerror(-fd));
        r = backup_file_extract(fd, -1, &b->verify_progress, worker_cancel_flag(w), &meta, &b->verify_message);
        if (r >= 0 && !streq(meta.id, b->id))
                return set_message(&b->verify_message, -EBADMSG, "%s now holds backup %s, not %s", b->file, meta.id, b->id);
        return r;
}

/* Published once a second while a verification runs: the worker only updates atomics. */
static int on_verify_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        Backup *b = userdata;
        uint64_t done = atomic_load(&b->verify_progress.done), total = atomic_load(&b->verify_progress.total);
        unsigned percent = total > 0 ? (unsigned) MIN(done * 100 / total, 99) : 0;

        if (percent != b->verify_percent) {
                b->verify_percent = percent;
                backup_emit_changed(b, "VerifyProgress", NULL);
                (void) sd_notifyf(false, "STATUS=Verifying backup %s: %u%%", b->id, percent);
        }
        (void) sd_event_source_set_time_relative(s, USEC_PER_SEC);
        return 0;
}

/* Ends a verification that has not finished (the worker is cancelled and joined), answering
 * its caller with why. */
void backup_verify_abort(Backup *b, const char *why) {
        if (!b->verify_worker)
                return;
        b->verify_worker = worker_free(b->verify_worker);
        b->verify_tick = sd_event_source_disable_unref(b->verify_tick);
        if (b->verify_request)
                (void) sd_bus_reply_method_errorf(b->verify_request, AGENT_ERROR_CANCELLED, "Verification of %s %s.", b->id,
                                                  why);
        b->verify_request = sd_bus_message_unref(b->verify_request);
        b->verify_message = mfree(b->verify_message);
        if (b->manager->verifying == b)
                b->manager->verifying = NULL;
        manager_update_state(b->manager);
}

static void backup_verify_finished(Worker *w, bool finished, int result, void *userdata) {
        Backup *b = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *request = TAKE_PTR(b->verify_request);
        _cleanup_free_ char *message = TAKE_PTR(b->verify_message);

        if (!finished)
                return;
        b->verify_worker = worker_free(b->verify_worker);
        b->verify_tick = sd_event_source_disable_unref(b->verify_tick);
        b->manager->verifying = NULL;
        b->verify_percent = result >= 0 ? 100 : b->verify_percent;
        backup_emit_changed(b, "VerifyProgress", NULL);
        manager_update_state(b->manager);
        manager_release_memory(b->manager);

        if (result >= 0) {
                log_backup(b, LOG_INFO, 0, MESSAGE_ID_BACKUP_VERIFIED, "Backup %s verified: %s intact.", b->id, b->file);
                (void) sd_bus_reply_method_return(request, NULL);
                return;
        }
        /* Retention spares the newest backup not known to be damaged. */
        if (result == -EBADMSG)
                b->damaged = true;
        log_backup(b, LOG_ERR, result, MESSAGE_ID_BACKUP_VERIFIED, "Backup %s failed verification: %s", b->id,
                   message ?: strerror(-result));
        (void) sd_bus_reply_method_errorf(request, agent_error_from_errno(result), "%s: %s", b->file,
                                          message ?: strerror(-result));
}

int bus_backup_method_verify(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Backup *b = userdata;
        Manager *m = b->manager;
        int r;

        if (b->state == BACKUP_RUNNING)
                return sd_bus_error_setf(error, AGENT_ERROR_BUSY, "Backup %s is still running.", b->id);
        if (b->state != BACKUP_COMPLETED)
                return sd_bus_error_setf(error, AGENT_ERROR_NO_SUCH_BACKUP, "Backup %s failed; there is no file to verify.",
                                         b->id);
        /* Reading needs no authorization, so it is bounded: one full read, decompression and
         * two SHA-256 passes at a time for the whole agent, on a node whose etcd needs its
         * disk. */
        if (m->verifying)
                return sd_bus_error_setf(error, AGENT_ERROR_BUSY,
                                         "Backup %s is being verified (one verification at a time); try again when it is done.",
                                         m->verifying->id);

        /* The reply is sent once the worker is done. */
        atomic_store(&b->verify_progress.done, 0);
        atomic_store(&b->verify_progress.total, 0);
        r = worker_start(m->event, "verify", backup_verify_run, backup_verify_finished, b, &b->verify_worker);
        if (r < 0)
                return log_error_errno(r, "Failed to start verification of %s: %m", b->id);
        if (sd_event_add_time_relative(m->event, &b->verify_tick, CLOCK_MONOTONIC, USEC_PER_SEC, 0, on_verify_tick, b) < 0)
                log_warning("Cannot publish the progress of verifying %s, ignoring.", b->id);
        b->verify_request = sd_bus_message_ref(msg);
        b->verify_percent = 0;
        m->verifying = b;
        backup_emit_changed(b, "VerifyProgress", NULL);
        manager_update_state(m);
        return 1;
}

int bus_backup_method_delete(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Backup *b = userdata;
        Manager *m = b->manager;
        int r;

        if (b->state == BACKUP_RUNNING)
                return sd_bus_error_setf(error, AGENT_ERROR_BUSY, "Backup %s is still running; cancel it instead.", b->id);

        const char *details[] = { "backup", b->id, "config", b->meta.config, NULL };
        r = polkit_check(msg, POLKIT_ACTION_DELETE_BACKUP, details, m->checks, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        /* Its file is what the running restore reads and stages. */
        if (b->pinned > 0)
                return sd_bus_error_setf(error, AGENT_ERROR_BUSY, "Backup %s is being restored; delete it when the restore is done.",
                                         b->id);

        r = backup_remove(b, "on request");
        if (r < 0)
                return agent_error_setf(error, r, "Cannot delete %s/%s: %m", m->config.storage_directory, b->file);
        return sd_bus_reply_method_return(msg, NULL);
}

int backup_remove(Backup *b, const char *why) {
        Manager *m = b->manager;
        int r;

        /* Neither retention nor a delete waits for a reader that needs no authorization: the
         * verification is what gives way. */
        if (b->verify_worker) {
                _cleanup_free_ char *reason = NULL;
                if (asprintf(&reason, "was cancelled: the backup was deleted %s", why) < 0)
                        reason = NULL;
                backup_verify_abort(b, reason ?: "was cancelled");
        }
        if (b->file) {
                if (unlinkat(m->storage_fd, b->file, 0) < 0 && errno != ENOENT)
                        return log_backup(b, LOG_ERR, errno, MESSAGE_ID_BACKUP_DELETED, "Failed to delete %s: %m", b->file);
                r = fsync_dir(m->storage_fd);
                if (r < 0)
                        log_warning_errno(r, "Failed to sync %s after deleting %s, ignoring: %m",
                                          m->config.storage_directory, b->file);
        }
        log_backup(b, LOG_INFO, 0, MESSAGE_ID_BACKUP_DELETED, "Backup %s deleted %s%s%s.", b->id, why,
                   b->file ? ": " : "", strempty(b->file));
        backup_free(b);
        return 0;
}

static int method_cancel(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Backup *b = userdata;
        int r;

        if (b->state != BACKUP_RUNNING && !b->verify_worker)
                return sd_bus_error_setf(error, AGENT_ERROR_NOT_RUNNING, "Backup %s is %s, and not being verified.", b->id,
                                         backup_state_to_string(b->state));

        const char *details[] = { "backup", b->id, "config", b->meta.config, NULL };
        r = polkit_check(msg, POLKIT_ACTION_BACKUP, details, b->manager->checks, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        /* The worker notices within a fraction of a second; a backup then goes to failed. */
        if (b->state == BACKUP_RUNNING)
                worker_cancel(b->worker);
        else
                backup_verify_abort(b, "was cancelled on request");
        return sd_bus_reply_method_return(msg, NULL);
}

/* ---- properties and the object tree ------------------------------------------------------- */

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Backup *b = userdata;
        return sd_bus_message_append(reply, "s", backup_state_to_string(b->state));
}

static int property_get_file(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Backup *b = userdata;
        _cleanup_free_ char *p = NULL;

        if (b->file && asprintf(&p, "%s/%s", b->manager->config.storage_directory, b->file) < 0)
                return -ENOMEM;
        return sd_bus_message_append(reply, "s", strempty(p));
}

static int property_get_sha256(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Backup *b = userdata;
        char hex[2 * SHA256_DIGEST_SIZE + 1] = {};

        if (b->state == BACKUP_COMPLETED)
                hexmem(b->meta.snapshot_sha256, SHA256_DIGEST_SIZE, hex);
        return sd_bus_message_append(reply, "s", hex);
}

static void *backup_object_find(void *userdata, const char *id) {
        return manager_find_backup(userdata, id);
}

static void *backup_object_next(void *userdata, void *prev) {
        Manager *m = userdata;
        return prev ? ((Backup *) prev)->backups_next : m->backups;
}

static const sd_bus_vtable backup_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "s", bus_property_get_inline_string, offsetof(Backup, id), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Config", "s", bus_property_get_inline_string, offsetof(Backup, meta.config),
                        SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ErrorName", "s", NULL, offsetof(Backup, error_name), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Error", "s", NULL, offsetof(Backup, error_message), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("File", "s", property_get_file, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Size", "t", NULL, offsetof(Backup, file_size), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("SnapshotSize", "t", NULL, offsetof(Backup, meta.snapshot_size),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Revision", "x", NULL, offsetof(Backup, meta.revision), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ClusterId", "t", NULL, offsetof(Backup, meta.cluster_id), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("MemberId", "t", NULL, offsetof(Backup, meta.member_id), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("EtcdVersion", "s", bus_property_get_inline_string, offsetof(Backup, meta.etcd_version),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Node", "s", bus_property_get_inline_string, offsetof(Backup, meta.node),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Created", "t", NULL, offsetof(Backup, meta.created), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Completed", "t", NULL, offsetof(Backup, meta.completed), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Sha256", "s", property_get_sha256, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Progress", "u", NULL, offsetof(Backup, progress), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("BytesDone", "t", NULL, offsetof(Backup, bytes_done), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("BytesTotal", "t", NULL, offsetof(Backup, bytes_total), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("VerifyProgress", "u", NULL, offsetof(Backup, verify_percent), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD("Verify", NULL, NULL, bus_backup_method_verify, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Delete", NULL, NULL, bus_backup_method_delete, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Cancel", NULL, NULL, method_cancel, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

const BusObjectKind backup_objects = {
        .prefix = BACKUP_OBJECT_PREFIX,
        .interface = BACKUP_INTERFACE,
        .vtable = backup_vtable,
        .find = backup_object_find,
        .next = backup_object_next,
        .path_offset = offsetof(Backup, object_path),
};
