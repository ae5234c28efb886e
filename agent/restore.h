/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A Restore, as a bus object at /org/etcdbackup/Agent1/restore/ID: one restore of etcd and the
 * control plane to a backup, running (at most one: Manager.restore) or finished, each with its
 * journal in the state directory (restore-journal.h), which is what survives the agent.
 */

#include "backup-file.h"
#include "bus-object.h"
#include "control-plane.h"
#include "etcd-client.h"
#include "list.h"
#include "manager.h"
#include "restore-journal.h"
#include "restore-phase.h"
#include "spawn-child.h"
#include "systemd-jobs.h"
#include "worker.h"

/* Finished restores kept (objects and journals); older ones go. */
#define RESTORES_KEEP 20
#define RESTORES_DIR "restores"
/* The runtime drop-in that gives etcd's start the time a big database needs. */
#define RESTORE_DROPIN_NAME "50-etcd-backup-restore.conf"

typedef struct Restore Restore;

struct Restore {
        Manager *manager;
        LIST_FIELDS(Restore, restores);
        char *object_path;

        /* Everything frozen at the call and learned since: what the journal holds. */
        RestoreJournal j;
        unsigned progress;
        Backup *backup; /* pinned while the restore runs; NULL for one loaded finished */

        /* While it runs: where it is within its phase, and the one operation it waits for. */
        unsigned step;
        bool aborting;  /* failing before anything was stopped: cleaning up, then failed */
        bool settling;  /* resumed at start: stopping helper units a crash left running */
        bool cancel_requested;
        sd_event_source *defer;
        SystemdCall *call;
        ControlPlaneOp *cp;
        Spawn *spawn;
        Worker *worker;
        sd_event_source *tick; /* Progress, every second, while it can be told */
        usec_t phase_started;  /* CLOCK_MONOTONIC */
        uint64_t snapshot_size; /* of the backup, 0 when resumed */
        char *helper_step;    /* the helper unit's step running ("stage", ...) */
        char *control_dir;    /* the service manager's runtime control directory, if known */
        EtcdEndpoint endpoint;

        /* The worker's (a verification or a health check): set up on the loop before it
         * starts, read back after it is joined. */
        int work_fd;
        int work_result;
        BackupProgress work_progress;
        EtcdHealthExpect work_expect;
        usec_t work_deadline;
        char *work_message;

        /* A rollback's own failure, on top of the restore's. */
        char *rollback_error;
};

/* Manager.Restore(s backup_id, a{sv} options) -> o. */
int bus_manager_method_restore(sd_bus_message *msg, void *userdata, sd_bus_error *error);
/* Manager.GetRestore(s id) -> o. */
int bus_manager_method_get_restore(sd_bus_message *msg, void *userdata, sd_bus_error *error);

/* Reads every journal of the state directory into Restore objects (keeping the newest
 * RESTORES_KEEP finished ones, removing older journals); an unfinished one becomes
 * Manager.restore, with Resumed set, to be resumed by restore_resume(). */
int manager_load_restores(Manager *m);
/* Once the bus and the systemd client are there: finishes or rolls back the restore a crash
 * interrupted. */
int restore_resume(Restore *r);

Restore *restore_free(Restore *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(Restore *, restore_free);
Restore *manager_find_restore(Manager *m, const char *id);

extern const BusObjectKind restore_objects;
