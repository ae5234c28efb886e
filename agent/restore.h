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
/* The drop-in that keeps a unit stopped (a stop's), in the persistent control directory. */
#define RESTORE_HOLD_DROPIN_NAME "50-etcd-backup-stopped.conf"

typedef struct Restore Restore;
typedef struct RestoreCluster RestoreCluster;

/* Restore.Kind: what the object does (INTERFACE.md, "Multi-member clusters"). */
#define RESTORE_KIND_RESTORE "restore"
#define RESTORE_KIND_STOP "stop"
#define RESTORE_KIND_REJOIN "rejoin"

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
        char *persistent_control_dir; /* and its persistent one (a stop's drop-ins go there) */
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

        /* A stop's or a rejoin's (restore-cluster.c). */
        RestoreCluster *cluster;
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

/* ---- the machinery restore-cluster.c shares with the restore ------------------------------ */

#ifndef RESTORE_HELPER_PATH
#define RESTORE_HELPER_PATH "/usr/libexec/etcd-backup/etcd-backup-restore-helper"
#endif
#define RESTORE_HELPER_TIMEOUT (5 * USEC_PER_MINUTE)
#define RESTORE_STOP_TIMEOUT (5 * USEC_PER_MINUTE)

#define MESSAGE_ID_RESTORE_STARTED "5344a2901d8d43faa2af809ba2eda53f"
#define MESSAGE_ID_RESTORE_PHASE "06923858be214b35a7b2de0a1368d0de"
#define MESSAGE_ID_RESTORE_COMPLETED "59e9ef2386544cfc88c321525d520b64"
#define MESSAGE_ID_RESTORE_ROLLED_BACK "2f3334002d3d48e48a4e4bc7c2a36903"
#define MESSAGE_ID_RESTORE_FAILED "08b4694d4f0241f4a79fbe760526fcc0"
#define MESSAGE_ID_RESTORE_ROLLBACK_FAILED "8f77ef7a330b4bf18fe365b416ba3b6f"

/* Logs with the restore's journal fields: `journalctl RESTORE_ID=...` tells its story. */
#define log_restore(r, level, error, message_id, ...)                                            \
        ({                                                                                        \
                char _f1[64], _f2[64], _f3[64], _f4[64];                                          \
                char *_fields[] = { _f4, _f1, _f2, _f3, NULL };                                   \
                snprintf(_f1, sizeof(_f1), "RESTORE_ID=%s", (r)->j.id);                           \
                snprintf(_f2, sizeof(_f2), "BACKUP_ID=%s", strempty((r)->j.backup));              \
                snprintf(_f3, sizeof(_f3), "PHASE=%s", strna(restore_phase_to_string((r)->j.phase))); \
                snprintf(_f4, sizeof(_f4), "MESSAGE_ID=%s", message_id);                          \
                log_fields_errno(level, error, _fields, __VA_ARGS__);                            \
        })

/* "Restore", "Stop" or "Rejoin", for messages. */
const char *restore_what(const Restore *r);
int restore_new(Manager *m, Restore **ret);
int restore_attach(Manager *m, Restore *r);
void restore_prune(Manager *m);
/* A new one's journal written, then it is on the manager's list and the one that runs. */
int restore_begin(Manager *m, Restore *r);
/* The node as agent.conf describes it, frozen into the journal: etcd's data dir, its unit or
 * static pod, the control plane's units and pods. */
int restore_freeze_node(RestoreJournal *j, const AgentConfig *c);
/* The local etcd, as [Etcd] in agent.conf names it: where health checks go. */
int restore_set_local_endpoint(Restore *r, const AgentConfig *c);
/* A Restore, Stop or Rejoin may begin: none running, no backup or import either (Busy). */
int restore_check_idle(Manager *m, sd_bus_error *error);
/* The new object on the bus and in the log, then its first step. */
void restore_announce_start(Restore *r, const char *what);

int restore_save(Restore *r);
void restore_emit(Restore *r);
void restore_set_progress(Restore *r, unsigned p);
void restore_set_error(Restore *r, const char *error_name, const char *message);
/* The next step of the phase, from the loop; restore_kick() the same step again. */
void restore_next(Restore *r);
void restore_kick(Restore *r);
/* A phase change: the journal first (fsynced), then the world is told, then the phase acts. */
void restore_enter(Restore *r, RestorePhase phase);
/* Before anything was stopped: failed. After: rolling back. */
void restore_fail(Restore *r, int error, const char *error_name, const char *message);
void restore_finish(Restore *r, RestorePhase phase);
/* A rollback that could not be: failed, RollbackFailed, with what is where. */
void restore_rollback_failed(Restore *r, const char *what);

ControlPlaneSpec restore_spec(Restore *r, bool with_etcd, usec_t timeout, bool keep_going);
void restore_on_control_plane_done(ControlPlaneOp *op, int error, const char *message, void *userdata);
void restore_on_unit_stopped(ControlPlaneOp *op, const char *unit, void *userdata);
/* Runs `etcd-backup-restore-helper ARGS...` in etcd-backup-restore-ID-UNITSTEP.service, then
 * the next step; its failure fails the phase. */
void restore_helper(Restore *r, const char *unit_step, usec_t timeout, char **args);
/* The transient unit of a helper step, with only etcd's data dir (or rw) writable. */
int restore_helper_message(Restore *r, const char *unit, char **argv, sd_bus_message **ret);
int restore_helper_message_rw(Restore *r, const char *unit, char **argv, const char *rw, sd_bus_message **ret);
/* Journals whether a static pod's manifest ("pod:NAME") may be out of the kubelet's sight. */
void restore_on_manifest_moving(ControlPlaneOp *op, const char *component, bool hidden, void *userdata);
/* Learns the manager's control directories (then the next step). */
int restore_ask_unit_path(Restore *r);
/* A daemon-reload if needed, then the next step. */
void restore_reload(Restore *r, bool needed);
/* Removes etcd's runtime drop-in; true if there was one (and systemd must reload). */
bool restore_remove_dropin(Restore *r);
int restore_dropin_paths(Restore *r, char **ret_dir, char **ret_file);

/* restore-cluster.c: the phases of a stop and a rejoin, their resume after a crash, their last
 * words. */
void restore_cluster_step(Restore *r);
void restore_cluster_resume(Restore *r);
void restore_cluster_log_end(Restore *r, RestorePhase phase);
void restore_cluster_free(Restore *r);
/* 1 and the drop-in's path if a stop keeps etcd or a control-plane unit stopped (a restore
 * refuses to start them against it), 0 if none does. */
int restore_cluster_held(Restore *r, char **ret_file);
/* Manager.StopControlPlane(a{sv}) -> o and Manager.Rejoin(a{sv}) -> o. */
int bus_manager_method_stop_control_plane(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int bus_manager_method_rejoin(sd_bus_message *msg, void *userdata, sd_bus_error *error);
