/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A Backup, as a bus object at /org/etcdbackup/Agent1/backup/ID: either a file on disk
 * (completed), a backup in progress (running) with its worker thread, or one that failed and is
 * kept for a while so that its reason can be read.
 */

#include <stdio.h>

#include "backup-file.h"
#include "bus-object.h"
#include "list.h"
#include "log.h"
#include "manager.h"
#include "worker.h"

typedef enum BackupState {
        BACKUP_RUNNING,
        BACKUP_COMPLETED,
        BACKUP_FAILED,
        _BACKUP_STATE_MAX,
        _BACKUP_STATE_INVALID = -EINVAL,
} BackupState;

const char *backup_state_to_string(BackupState s);

typedef struct BackupJob BackupJob;

struct Backup {
        Manager *manager;
        LIST_FIELDS(Backup, backups); /* on the Manager's backups */

        char id[BACKUP_ID_STRING_MAX];
        char *object_path;
        BackupState state;
        BackupMeta meta;
        char *file; /* name inside the storage directory, once completed */
        uint64_t file_size;
        char *error_name;
        char *error_message;
        bool damaged;    /* a verification found it corrupt */
        unsigned pinned; /* readers that must not lose it (a restore) */

        /* While running: the stream on its worker, and the progress last published. */
        Worker *worker;
        BackupJob *job;
        uint64_t bytes_done;
        uint64_t bytes_total;
        unsigned progress;

        /* While a verification runs (one at a time: Manager.verifying): its worker, the Verify
         * call waiting for it, and its progress, published once a second. */
        Worker *verify_worker;
        BackupProgress verify_progress;
        unsigned verify_percent;
        sd_event_source *verify_tick;
        char *verify_message;
        sd_bus_message *verify_request;
};

/* Starts a backup of a configuration: creates the object, starts the worker. */
int backup_start(Manager *m, const char *config, Backup **ret);
/* Adds a completed backup found in the storage directory. */
int backup_load(Manager *m, const char *file, Backup **ret);
Backup *backup_free(Backup *b);
/* Deletes the file (for a completed backup) and the object; why goes into the journal. */
int backup_remove(Backup *b, const char *why);

Backup *manager_find_backup(Manager *m, const char *id);

/* Logs with a backup's journal fields, so that `journalctl BACKUP_ID=...` tells its story; an
 * empty id (not known yet) leaves out BACKUP_ID= and BACKUP_CONFIG=. */
#define log_backup_id(id, config, level, error, message_id, ...)                                        \
        ({                                                                                               \
                char _f1[64], _f2[96], _f3[64];                                                          \
                char *_fields[] = { _f3, _f1, _f2, NULL };                                               \
                snprintf(_f1, sizeof(_f1), "BACKUP_ID=%s", id);                                          \
                snprintf(_f2, sizeof(_f2), "BACKUP_CONFIG=%s", config);                                  \
                snprintf(_f3, sizeof(_f3), "MESSAGE_ID=%s", message_id);                                 \
                if (!*(id))                                                                              \
                        _fields[1] = NULL;                                                               \
                log_fields_errno(level, error, _fields, __VA_ARGS__);                                    \
        })
#define log_backup(b, level, error, message_id, ...)                                                    \
        log_backup_id((b)->id, (b)->meta.config, level, error, message_id, __VA_ARGS__)

/* Ends a verification that has not finished, answering its caller with Cancelled and why. */
void backup_verify_abort(Backup *b, const char *why);

/* The handlers behind Backup.Verify() and Backup.Delete(), also reached by id through the
 * Manager's VerifyBackup() and DeleteBackup(). */
int bus_backup_method_verify(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int bus_backup_method_delete(sd_bus_message *msg, void *userdata, sd_bus_error *error);

/* The Backup objects, for bus_object_kind_add() with the Manager. */
extern const BusObjectKind backup_objects;
