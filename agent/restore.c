/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The restore: Manager.Restore() freezes what it needs into a Restore and its journal, then a
 * state machine walks the phases of INTERFACE.md ("Restores"): verifying and staging before any
 * downtime, then stopping, swapping, starting-etcd, starting-control-plane. Each phase is one
 * function entered through restore_enter(), which writes the journal (fsynced) before the phase
 * acts, and a step counter within it; every operation (a systemd job, a helper step in a
 * transient unit, a worker thread, a child) ends in a callback that only records its result
 * and schedules restore_step() from the loop. The steps that write etcd's data run as
 * etcd-backup-restore-helper in transient units (RESTORE-DESIGN.md: the agent's own unit may
 * not write there). A failure once something was stopped rolls back; a restore the agent did
 * not finish is resumed by the rule of its journal's phase when the agent starts again.
 */

#include <fcntl.h>
#include <grpc/grpc.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>

#include "backup.h"
#include "bus-util.h"
#include "errors.h"
#include "fs-util.h"
#include "log.h"
#include "polkit.h"
#include "restore.h"
#include "string-util.h"
#include "time-util.h"

#define RESTORE_BUMP_DEFAULT UINT64_C(1000000000)
/* Room for the snapshot beside the live data, twice (the snapshot, then the data built from
 * it), and a margin. */
#define RESTORE_SPACE_MARGIN (UINT64_C(64) * 1024 * 1024)
#define RESTORE_TOOL_TIMEOUT (30 * USEC_PER_SEC)
#define RESTORE_STAGE_TIMEOUT (2 * USEC_PER_HOUR)
#define RESTORE_HEALTH_ATTEMPT (5 * USEC_PER_SEC)
#define RESTORE_HEALTH_PAUSE_MSEC 500

/* The helper's steps, each its own transient unit name. */
static const char * const helper_steps[] = { "stage", "swap-new", "swap-old", "finish", "cleanup", "aside", "back" };

static void restore_step(Restore *r);
void restore_fail(Restore *r, int error, const char *error_name, const char *message);
void restore_enter(Restore *r, RestorePhase phase);

/* ---- the object ------------------------------------------------------------------------------ */

static void restore_stop_work(Restore *r) {
        r->call = systemd_call_free(r->call);
        r->cp = control_plane_op_free(r->cp);
        r->spawn = spawn_free(r->spawn);
        r->worker = worker_free(r->worker);
        r->tick = sd_event_source_disable_unref(r->tick);
        r->work_fd = safe_close(r->work_fd);
}

Restore *restore_free(Restore *r) {
        if (!r)
                return NULL;
        Manager *m = r->manager;

        restore_stop_work(r);
        r->defer = sd_event_source_disable_unref(r->defer);
        if (m) {
                LIST_REMOVE(restores, m->restores, r);
                if (m->restore == r)
                        m->restore = NULL;
        }
        if (r->backup)
                r->backup->pinned--;
        restore_journal_done(&r->j);
        etcd_endpoint_done(&r->endpoint);
        free(r->object_path);
        free(r->helper_step);
        free(r->control_dir);
        free(r->persistent_control_dir);
        restore_cluster_free(r);
        free(r->work_message);
        free(r->rollback_error);
        free(r);
        return NULL;
}

Restore *manager_find_restore(Manager *m, const char *id) {
        LIST_FOREACH(restores, r, m->restores)
                if (streq(r->j.id, id))
                        return r;
        return NULL;
}

int restore_new(Manager *m, Restore **ret) {
        _cleanup_(restore_freep) Restore *r = NULL;

        r = new0(Restore, 1);
        if (!r)
                return -ENOMEM;
        r->work_fd = -EBADF;
        r->j = RESTORE_JOURNAL_INIT;
        *ret = TAKE_PTR(r);
        return 0;
}

/* Gives the restore its object path and puts it on the manager's list, newest first. */
int restore_attach(Manager *m, Restore *r) {
        int r2 = sd_bus_path_encode(RESTORE_OBJECT_PREFIX, r->j.id, &r->object_path);
        if (r2 < 0)
                return r2;
        r->manager = m;
        LIST_PREPEND(restores, m->restores, r);
        return 0;
}

int restore_save(Restore *r) {
        int k = restore_journal_write(r->manager->restores_fd, &r->j);
        if (k < 0)
                log_restore(r, LOG_ERR, k, MESSAGE_ID_RESTORE_PHASE, "Cannot write the journal of restore %s: %m", r->j.id);
        return k;
}

void restore_emit(Restore *r) {
        Manager *m = r->manager;

        if (m->bus)
                (void) sd_bus_emit_properties_changed(m->bus, r->object_path, RESTORE_INTERFACE, "Phase", "Progress", "Error",
                                                      "ErrorName", "Finished", "DowntimeUSec", "PreviousData",
                                                      "RevisionBump", "Resumed", "ClusterID", "MemberID", NULL);
}

void restore_set_progress(Restore *r, unsigned p) {
        p = MIN(p, 100U);
        if (p == r->progress)
                return;
        r->progress = p;
        if (r->manager->bus)
                (void) sd_bus_emit_properties_changed(r->manager->bus, r->object_path, RESTORE_INTERFACE, "Progress", NULL);
}

/* Runs restore_step() from the loop: callbacks only record what happened. */
static int on_defer(sd_event_source *s, void *userdata) {
        restore_step(userdata);
        return 0;
}

void restore_kick(Restore *r) {
        if (!r->defer && sd_event_add_defer(r->manager->event, &r->defer, on_defer, r) < 0) {
                log_oom();
                return;
        }
        (void) sd_event_source_set_enabled(r->defer, SD_EVENT_ONESHOT);
}

/* The next step of the phase, from the loop. */
void restore_next(Restore *r) {
        r->step++;
        restore_kick(r);
}

void restore_set_error(Restore *r, const char *error_name, const char *message) {
        (void) free_and_strdup(&r->j.error_name, error_name);
        (void) free_and_strdup(&r->j.error, message);
}

static bool restore_stopped_anything(Restore *r) {
        return r->j.phase >= RESTORE_STOPPING;
}

const char *restore_what(const Restore *r) {
        return streq(r->j.kind, RESTORE_KIND_STOP) ? "Stop" : streq(r->j.kind, RESTORE_KIND_REJOIN) ? "Rejoin" : "Restore";
}

static void restore_update_status(Restore *r) {
        if (streq(r->j.kind, RESTORE_KIND_STOP))
                (void) sd_notifyf(false, "STATUS=Stopping the control plane: %s", restore_phase_to_string(r->j.phase));
        else if (streq(r->j.kind, RESTORE_KIND_REJOIN))
                (void) sd_notifyf(false, "STATUS=Rejoining the cluster at %s: %s", strempty(r->j.endpoint),
                                  restore_phase_to_string(r->j.phase));
        else
                (void) sd_notifyf(false, "STATUS=Restoring backup %s: %s", strempty(r->j.backup),
                                  restore_phase_to_string(r->j.phase));
}

/* ---- the end --------------------------------------------------------------------------------- */

void restore_prune(Manager *m) {
        unsigned n = 0;

        LIST_FOREACH_SAFE(restores, r, next, m->restores) {
                if (!restore_phase_is_final(r->j.phase) || ++n <= RESTORES_KEEP)
                        continue;
                int k = restore_journal_remove(m->restores_fd, r->j.id);
                if (k < 0)
                        log_warning_errno(k, "Cannot remove the journal of restore %s, ignoring: %m", r->j.id);
                if (m->bus)
                        (void) sd_bus_emit_object_removed(m->bus, r->object_path);
                restore_free(r);
        }
}

void restore_finish(Restore *r, RestorePhase phase) {
        Manager *m = r->manager;
        char downtime[FORMAT_SECONDS_MAX];

        restore_stop_work(r);
        r->j.phase = phase;
        r->j.finished = now(CLOCK_REALTIME);
        r->progress = 100;
        (void) restore_save(r);
        restore_emit(r);

        switch (streq(r->j.kind, RESTORE_KIND_RESTORE) ? phase : _RESTORE_PHASE_INVALID) {
        case _RESTORE_PHASE_INVALID:
                restore_cluster_log_end(r, phase);
                break;
        case RESTORE_COMPLETED:
                if (r->j.dry_run)
                        log_restore(r, LOG_INFO, 0, MESSAGE_ID_RESTORE_COMPLETED,
                                    "Dry run of restore %s of backup %s completed: the backup verified and staged; nothing "
                                    "was stopped and the staged data is removed.",
                                    r->j.id, r->j.backup);
                else
                        log_restore(r, LOG_NOTICE, 0, MESSAGE_ID_RESTORE_COMPLETED,
                                    "Restore %s of backup %s completed: etcd runs at revision %" PRIu64
                                    " (bump %" PRIu64 "), downtime %s; the previous data is in %s. Restart "
                                    "kube-controller-manager, kube-scheduler and the kubelets.",
                                    r->j.id, r->j.backup, r->j.staged_revision, r->j.revision_bump,
                                    format_seconds(downtime, sizeof(downtime), r->j.downtime_usec),
                                    strna(r->j.previous_data));
                break;
        case RESTORE_ROLLED_BACK:
                log_restore(r, LOG_WARNING, 0, MESSAGE_ID_RESTORE_ROLLED_BACK,
                            "Restore %s of backup %s rolled back: etcd and the control plane run on the previous data "
                            "again. Reason: %s",
                            r->j.id, r->j.backup, strna(r->j.error));
                break;
        default:
                if (streq_ptr(r->j.error_name, AGENT_ERROR_ROLLBACK_FAILED)) {
                        log_restore(r, LOG_ERR, 0, MESSAGE_ID_RESTORE_ROLLBACK_FAILED, "Restore %s of backup %s FAILED and could not be rolled back: %s",
                                    r->j.id, r->j.backup, strna(r->j.error));
                        (void) sd_notifyf(false, "STATUS=Restore %s failed and could not be rolled back: %s", r->j.id,
                                          strna(r->j.error));
                } else
                        log_restore(r, LOG_ERR, 0, MESSAGE_ID_RESTORE_FAILED,
                                    "Restore %s of backup %s failed before anything was stopped: %s", r->j.id, r->j.backup,
                                    strna(r->j.error));
        }

        if (m->bus)
                (void) sd_bus_emit_signal(m->bus, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "RestoreFinished", "sos", r->j.id,
                                          r->object_path, restore_phase_to_string(phase));
        if (r->backup) {
                r->backup->pinned--;
                r->backup = NULL;
        }
        r->defer = sd_event_source_disable_unref(r->defer);
        if (m->restore == r)
                m->restore = NULL;
        manager_restore_finished(m);
        restore_prune(m);
}

/* ---- helper steps in transient units ------------------------------------------------------- */

static int append_strv(sd_bus_message *m, const char *property, char * const *l) {
        int r = sd_bus_message_open_container(m, 'r', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", property);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "as");
        if (r >= 0)
                r = sd_bus_message_append_strv(m, (char **) l);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

static int append_filter(sd_bus_message *m, const char *property, char * const *l) {
        int r = sd_bus_message_open_container(m, 'r', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", property);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "(bas)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'r', "bas");
        if (r >= 0)
                r = sd_bus_message_append(m, "b", 1); /* an allow list */
        if (r >= 0)
                r = sd_bus_message_append_strv(m, (char **) l);
        for (int i = 0; r >= 0 && i < 3; i++)
                r = sd_bus_message_close_container(m);
        return r;
}

/* The helper's unit: exactly the paths of this restore writable, nothing else (RESTORE-DESIGN.md):
 * etcd's data dir, or for the manifest step the manifest directory. */
int restore_helper_message_rw(Restore *r, const char *unit, char **argv, const char *rw, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_free_ char *description = NULL;
        uint64_t caps = (UINT64_C(1) << CAP_CHOWN) | (UINT64_C(1) << CAP_FOWNER) | (UINT64_C(1) << CAP_DAC_OVERRIDE) |
                        (UINT64_C(1) << CAP_DAC_READ_SEARCH);
        int k;

        if (strv_extend(&env, "ETCDCTL_API=3") < 0)
                return -ENOMEM;
#if RESTORE_HELPER_SANITIZED
        /* The test run's sanitizer settings reach the helper as they reach the agent. */
        static const char * const sanitizer_env[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS" };
        for (size_t i = 0; i < ELEMENTSOF(sanitizer_env); i++) {
                _cleanup_free_ char *kv = NULL;
                const char *v = getenv(sanitizer_env[i]);
                if (v && (asprintf(&kv, "%s=%s", sanitizer_env[i], v) < 0 || strv_extend(&env, kv) < 0))
                        return -ENOMEM;
        }
#endif
        if (asprintf(&description, "etcd restore %s: %s", r->j.id, argv[1]) < 0)
                return -ENOMEM;

        k = systemd_new_transient_unit(r->manager->systemd, unit, &m);
        if (k < 0)
                return k;
        k = sd_bus_message_append(m, "(sv)(sv)", "Description", "s", description, "Type", "s", "oneshot");
        if (k >= 0) {
                k = sd_bus_message_open_container(m, 'r', "sv");
                if (k >= 0)
                        k = sd_bus_message_append(m, "s", "ExecStart");
                if (k >= 0)
                        k = sd_bus_message_open_container(m, 'v', "a(sasb)");
                if (k >= 0)
                        k = sd_bus_message_open_container(m, 'a', "(sasb)");
                if (k >= 0)
                        k = sd_bus_message_open_container(m, 'r', "sasb");
                if (k >= 0)
                        k = sd_bus_message_append(m, "s", argv[0]);
                if (k >= 0)
                        k = sd_bus_message_append_strv(m, argv);
                if (k >= 0)
                        k = sd_bus_message_append(m, "b", 0);
                for (int i = 0; k >= 0 && i < 4; i++)
                        k = sd_bus_message_close_container(m);
        }
        if (k >= 0)
                k = sd_bus_message_append(m, "(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)", "ProtectSystem", "s", "strict",
                                          "ProtectHome", "s", "yes", "PrivateNetwork", "b", 1, "PrivateTmp", "b", 1,
                                          "NoNewPrivileges", "b", 1, "ProtectKernelTunables", "b", 1, "ProtectKernelModules",
                                          "b", 1, "ProtectKernelLogs", "b", 1, "ProtectControlGroups", "b", 1,
                                          "RestrictNamespaces", "t", UINT64_C(0), "LockPersonality", "b", 1,
                                          "CapabilityBoundingSet", "t", caps);
        if (k >= 0)
                k = sd_bus_message_append(m, "(sv)", "UMask", "u", (uint32_t) 0077);
        if (k >= 0)
                k = append_strv(m, "ReadWritePaths", STRV_MAKE(rw));
        if (k >= 0)
                k = append_strv(m, "ReadOnlyPaths", STRV_MAKE(r->manager->config.storage_directory));
        if (k >= 0)
                k = append_strv(m, "SystemCallArchitectures", STRV_MAKE("native"));
        if (k >= 0)
                k = append_strv(m, "Environment", env);
        if (k >= 0)
                k = append_filter(m, "RestrictAddressFamilies", STRV_MAKE("AF_UNIX"));
        if (k >= 0)
#if RESTORE_HELPER_SANITIZED
                /* LeakSanitizer stops the process with ptrace() to scan it at exit. */
                k = append_filter(m, "SystemCallFilter", STRV_MAKE("@system-service", "@debug"));
#else
                k = append_filter(m, "SystemCallFilter", STRV_MAKE("@system-service"));
#endif
        if (k < 0)
                return k;
        *ret = TAKE_PTR(m);
        return 0;
}

int restore_helper_message(Restore *r, const char *unit, char **argv, sd_bus_message **ret) {
        return restore_helper_message_rw(r, unit, argv, r->j.data_dir, ret);
}

/* A static pod stopped or started for the control-plane driver: its manifest renamed within
 * the manifest directory by the helper's manifest step, in etcd-backup-restore-ID-manifest-POD.
 * Not by the agent itself: its unit is ProtectSystem=strict and cannot write
 * /etc/kubernetes/manifests (nor should it: the kubelet runs whatever lands there as root), so
 * this goes the way the data dir swap goes, in a transient unit with only that directory
 * writable. */
static int restore_move_manifest(const char *pod, bool hide, systemd_done_t done, void *done_userdata, void *userdata,
                                 SystemdCall **ret) {
        Restore *r = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *unit = NULL;
        char **argv = STRV_MAKE(RESTORE_HELPER_PATH, "manifest", "--dir", r->j.manifest_dir, "--pod", pod, "--to",
                                hide ? "hidden" : "visible");
        int k;

        if (asprintf(&unit, "etcd-backup-restore-%s-manifest-%s.service", r->j.id, pod) < 0)
                return -ENOMEM;
        k = restore_helper_message_rw(r, unit, argv, r->j.manifest_dir, &m);
        if (k < 0)
                return k;
        log_restore(r, LOG_INFO, 0, MESSAGE_ID_RESTORE_PHASE, "Restore %s: moving the manifest of static pod %s %s (%s).",
                    r->j.id, pod, hide ? "out of the kubelet's sight" : "back", unit);
        return systemd_start_transient_unit(r->manager->systemd, unit, m, RESTORE_HELPER_TIMEOUT, done, done_userdata, ret);
}

/* Where each manifest is, in the journal before a rename that hides it and after the one that
 * puts it back: a crash in between leaves it listed, and the resume or rollback puts it back. */
void restore_on_manifest_moving(ControlPlaneOp *op, const char *component, bool hidden, void *userdata) {
        Restore *r = userdata;

        if (hidden && !strv_contains(r->j.hidden, component)) {
                if (strv_extend(&r->j.hidden, component) < 0)
                        return;
        } else if (!hidden && strv_contains(r->j.hidden, component)) {
                size_t k = 0;
                for (size_t i = 0; r->j.hidden[i]; i++)
                        if (streq(r->j.hidden[i], component))
                                free(r->j.hidden[i]);
                        else
                                r->j.hidden[k++] = r->j.hidden[i];
                r->j.hidden[k] = NULL;
                if (k == 0)
                        r->j.hidden = strv_free(r->j.hidden);
        } else
                return;
        (void) restore_save(r);
}

static void on_helper_done(SystemdCall *call, const SystemdResult *result, void *userdata) {
        Restore *r = userdata;
        const SystemdUnitState *u = result->unit;
        _cleanup_free_ char *message = NULL;
        const char *name = AGENT_ERROR_RESTORE_HELPER;
        int k = result->error;

        r->call = NULL;
        if (k >= 0) {
                restore_next(r);
                return;
        }

        /* The helper's exit status says what kind of failure (RESTORE-DESIGN.md). */
        if (u && u->exec_main_code == CLD_EXITED)
                switch (u->exec_main_status) {
                case 3:
                        name = AGENT_ERROR_BACKUP_CORRUPT;
                        k = -EBADMSG;
                        break;
                case 4:
                        name = AGENT_ERROR_NO_SPACE;
                        k = -ENOSPC;
                        break;
                case 5:
                        name = AGENT_ERROR_RESTORE_TOOL;
                        break;
                }
        if (r->cancel_requested && streq_ptr(r->helper_step, "stage")) {
                name = AGENT_ERROR_CANCELLED;
                k = -ECANCELED;
        }
        message = strdup_printf(
                        "The restore helper's step '%s' failed: %s (its output: journalctl -u etcd-backup-restore-%s-%s.service)",
                        r->helper_step, result->message ?: strerror(-k), r->j.id, r->helper_step);
        restore_fail(r, k, name, message ?: "The restore helper failed");
}

/* Runs `etcd-backup-restore-helper STEP ARGS...` in etcd-backup-restore-ID-UNITSTEP.service. */
static int restore_run_helper(Restore *r, const char *unit_step, usec_t timeout, char **args) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *unit = NULL;
        int k;

        if (strv_extend(&argv, RESTORE_HELPER_PATH) < 0 || strv_extend_strv(&argv, args) < 0 ||
            asprintf(&unit, "etcd-backup-restore-%s-%s.service", r->j.id, unit_step) < 0 ||
            free_and_strdup(&r->helper_step, unit_step) < 0)
                return -ENOMEM;
        k = restore_helper_message(r, unit, argv, &m);
        if (k < 0)
                return k;
        log_restore(r, LOG_DEBUG, 0, MESSAGE_ID_RESTORE_PHASE, "Restore %s: running the helper's %s step as %s.", r->j.id,
                    args[0], unit);
        return systemd_start_transient_unit(r->manager->systemd, unit, m, timeout, on_helper_done, r, &r->call);
}

void restore_helper(Restore *r, const char *unit_step, usec_t timeout, char **args) {
        int k = restore_run_helper(r, unit_step, timeout, args);
        if (k < 0) {
                char buf[256];
                snprintf(buf, sizeof(buf), "Cannot start the restore helper's %s step: %s", unit_step, strerror(-k));
                restore_fail(r, k, AGENT_ERROR_RESTORE_HELPER, buf);
        }
}

static void helper_simple(Restore *r, const char *unit_step, const char *verb, const char *to) {
        char **args = to ? STRV_MAKE(verb, "--data-dir", r->j.data_dir, "--id", r->j.id, "--to", to)
                         : STRV_MAKE(verb, "--data-dir", r->j.data_dir, "--id", r->j.id);
        restore_helper(r, unit_step, RESTORE_HELPER_TIMEOUT, args);
}

/* ---- workers ----------------------------------------------------------------------------------- */

/* verifying, on the thread: the whole backup checked, then the room to stage it. */
static int verify_run(Worker *w, void *userdata) {
        Restore *r = userdata;
        BackupMeta meta;
        struct statvfs sv;
        struct stat st;
        int k;

        k = backup_file_extract(r->work_fd, -1, &r->work_progress, worker_cancel_flag(w), &meta, &r->work_message);
        if (k < 0)
                return k;
        if (stat(r->j.data_dir, &st) < 0)
                return set_message(&r->work_message, -errno, "etcd's data directory %s cannot be used: %m", r->j.data_dir);
        if (!S_ISDIR(st.st_mode))
                return set_message(&r->work_message, -ENOTDIR, "etcd's data directory %s is not a directory", r->j.data_dir);
        /* The swap exchanges DIR/member with a directory staged beside it: a member dir that is
         * its own mount point cannot be renamed (EBUSY), nor one on another file system than
         * DIR (EXDEV). Found after the stop that would be a rollback; found here, nothing stops. */
        _cleanup_free_ char *member_path = strdup_printf("%s/member", r->j.data_dir);
        struct statx member;
        if (!member_path)
                return -ENOMEM;
        if (statx(AT_FDCWD, member_path, AT_SYMLINK_NOFOLLOW, STATX_TYPE, &member) >= 0 && S_ISDIR(member.stx_mode) &&
            (makedev(member.stx_dev_major, member.stx_dev_minor) != st.st_dev ||
             (member.stx_attributes_mask & member.stx_attributes & STATX_ATTR_MOUNT_ROOT)))
                return set_message(&r->work_message, -EXDEV,
                                   "%s is a mount point: a restore replaces it by renaming, which needs a plain "
                                   "directory on the file system of %s; mount %s itself instead",
                                   member_path, r->j.data_dir, r->j.data_dir);
        if (statvfs(r->j.data_dir, &sv) < 0)
                return set_message(&r->work_message, -errno, "Cannot tell the free space of %s: %m", r->j.data_dir);
        uint64_t avail = (uint64_t) sv.f_bavail * sv.f_frsize, need = 2 * meta.snapshot_size + RESTORE_SPACE_MARGIN;
        if (avail < need)
                return set_message(&r->work_message, -ENOSPC,
                                   "%s has %" PRIu64 " bytes free; staging this backup needs %" PRIu64
                                   " (twice the snapshot's %" PRIu64 " bytes, and a margin)",
                                   r->j.data_dir, avail, need, meta.snapshot_size);
        return 0;
}

/* A health check, on the thread: etcd is given until the deadline to answer as expected. */
static int health_run(Worker *w, void *userdata) {
        Restore *r = userdata;
        const atomic_bool *cancel = worker_cancel_flag(w);
        _cleanup_(etcd_client_freep) EtcdClient *c = NULL;
        int k;

        grpc_init();
        k = etcd_client_new(&r->endpoint, &c, &r->work_message);
        /* Again until the deadline while etcd does not answer yet (a static pod's etcd is
         * started by the kubelet when it sees the manifest, with no start job to wait for). */
        for (bool again = k >= 0; again;) {
                _cleanup_(etcd_health_done) EtcdHealth h = {};
                usec_t left, t = now(CLOCK_MONOTONIC);

                left = r->work_deadline > t ? r->work_deadline - t : 0;
                k = etcd_client_check_health(c, &r->work_expect, MAX(MIN(left, RESTORE_HEALTH_ATTEMPT), USEC_PER_SEC), cancel,
                                             &h, &r->work_message);
                again = k < 0 && IN_SET(-k, EHOSTUNREACH, ENOTCONN, ETIMEDOUT) && now(CLOCK_MONOTONIC) < r->work_deadline &&
                        !atomic_load(cancel);
                for (int i = 0; again && i < RESTORE_HEALTH_PAUSE_MSEC / 50 && !atomic_load(cancel); i++)
                        (void) usleep(50 * 1000);
        }
        c = etcd_client_free(c);
        grpc_shutdown();
        return k;
}

static void on_worker(Worker *w, bool finished, int result, void *userdata);

/* Progress, where it can be told: verifying, the bytes checked; staging, the bytes the helper
 * has decompressed into S/snapshot.db (the tool's own restore is the last tenth); starting etcd,
 * the time it has had of its start timeout. */
static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        Restore *r = userdata;

        switch (r->j.phase) {
        case RESTORE_VERIFYING: {
                uint64_t total = atomic_load(&r->work_progress.total), done = atomic_load(&r->work_progress.done);
                if (total > 0)
                        restore_set_progress(r, (unsigned) MIN(done * 100 / total, 99));
                break;
        }
        case RESTORE_STAGING: {
                _cleanup_free_ char *path = NULL;
                struct stat st;
                if (r->snapshot_size > 0 && asprintf(&path, "%s/.restore-%s/snapshot.db", r->j.data_dir, r->j.id) >= 0 &&
                    stat(path, &st) >= 0)
                        restore_set_progress(r, (unsigned) MIN((uint64_t) st.st_size * 90 / r->snapshot_size, 90));
                break;
        }
        case RESTORE_STARTING_ETCD: {
                usec_t elapsed = now(CLOCK_MONOTONIC) - r->phase_started;
                if (r->j.start_timeout_usec > 0)
                        restore_set_progress(r, (unsigned) MIN(elapsed * 100 / r->j.start_timeout_usec, 99));
                break;
        }
        default:
                break;
        }
        (void) sd_event_source_set_time_relative(s, USEC_PER_SEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static int restore_start_worker(Restore *r, const char *name, worker_run_t run) {
        r->work_message = mfree(r->work_message);
        return worker_start(r->manager->event, name, run, on_worker, r, &r->worker);
}

/* ---- verifying ------------------------------------------------------------------------------ */

/* Only records: the Spawn is freed from the loop, not from its own callback. */
static void on_tool_version(Spawn *s, const SpawnResult *result, void *userdata) {
        Restore *r = userdata;
        char how[64];

        if (result->code == CLD_EXITED && result->status == 0) {
                _cleanup_free_ char *first = strndup(result->output.data, strcspn(result->output.data, "\n"));
                log_restore(r, LOG_INFO, 0, MESSAGE_ID_RESTORE_PHASE, "Restore %s: the restore tool %s says '%s'.", r->j.id,
                            r->j.tool, strempty(first));
        } else {
                r->work_result = -ENOEXEC;
                (void) set_message(&r->work_message, -ENOEXEC, "The restore tool %s does not run: '%s version' %s: %.200s",
                                   r->j.tool, r->j.tool, spawn_result_describe(result, how, sizeof(how)),
                                   result->output.data);
        }
        restore_next(r);
}

/* The end of a control-plane check, stop or start: the next step, or the failure naming the unit. */
void restore_on_control_plane_done(ControlPlaneOp *op, int error, const char *message, void *userdata) {
        Restore *r = userdata;

        r->cp = NULL;
        if (error < 0)
                restore_fail(r, error, AGENT_ERROR_UNIT_FAILED, message);
        else
                restore_next(r);
}

/* The runtime control directory, where the drop-in for etcd's start timeout goes: systemd
 * lists the persistent control directory first, then the runtime one. */
static void on_unit_path(SystemdCall *call, const SystemdResult *result, void *userdata) {
        Restore *r = userdata;
        const char *dir;
        unsigned n = 0;

        r->call = NULL;
        if (result->error >= 0 && sd_bus_message_enter_container(result->reply, 'v', "as") >= 0 &&
            sd_bus_message_enter_container(result->reply, 'a', "s") >= 0)
                while (sd_bus_message_read(result->reply, "s", &dir) > 0)
                        if (endswith(dir, ".control"))
                                (void) free_and_strdup(++n == 1 ? &r->persistent_control_dir : &r->control_dir, dir);
        if (!r->control_dir)
                log_restore(r, LOG_WARNING, 0, MESSAGE_ID_RESTORE_PHASE,
                            "Restore %s: cannot tell the service manager's runtime control directory; etcd starts with "
                            "its own start timeout.", r->j.id);
        restore_next(r);
}

int restore_ask_unit_path(Restore *r) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int k;

        k = sd_bus_message_new_method_call(systemd_client_bus(r->manager->systemd), &m, SYSTEMD_SERVICE, SYSTEMD_PATH,
                                           DBUS_PROPERTIES_INTERFACE, "Get");
        if (k >= 0)
                k = sd_bus_message_append(m, "ss", SYSTEMD_MANAGER_INTERFACE, "UnitPath");
        if (k >= 0)
                k = systemd_call(r->manager->systemd, m, on_unit_path, r, &r->call);
        return k;
}

ControlPlaneSpec restore_spec(Restore *r, bool with_etcd, usec_t timeout, bool keep_going) {
        static char * const no_units[] = { NULL };
        return (ControlPlaneSpec) {
                .units = r->j.units ?: no_units,
                .etcd_unit = with_etcd ? r->j.etcd_unit : NULL,
                .timeout = timeout,
                .keep_going = keep_going,
                .static_pods = r->j.static_pods ?: no_units,
                .etcd_static_pod = with_etcd ? r->j.etcd_static_pod : NULL,
                .manifest_dir = r->j.manifest_dir,
                .data_dir = r->j.data_dir,
                .move = restore_move_manifest,
                .manifest = restore_on_manifest_moving,
        };
}

/* etcd alone, as a static pod: its manifest put back (the health check that follows tells
 * whether the kubelet started it). */
static int restore_start_etcd_pod(Restore *r, control_plane_done_t done) {
        static char * const none[] = { NULL };
        ControlPlaneSpec spec = {
                .units = none,
                .static_pods = none,
                .etcd_static_pod = r->j.etcd_static_pod,
                .manifest_dir = r->j.manifest_dir,
                .data_dir = r->j.data_dir,
                .timeout = r->j.start_timeout_usec,
                .move = restore_move_manifest,
                .manifest = restore_on_manifest_moving,
        };
        return control_plane_start(r->manager->systemd, &spec, NULL, done, r, &r->cp);
}

static void phase_verifying(Restore *r) {
        int k = 0;

        switch (r->step) {
        case 0: {
                k = open_regular_file_at(AT_FDCWD, r->j.backup_file, O_NOFOLLOW);
                if (k < 0) {
                        char buf[512];
                        snprintf(buf, sizeof(buf), "Cannot open backup file %s: %s", r->j.backup_file, strerror(-k));
                        return restore_fail(r, k, AGENT_ERROR_BACKUP_CORRUPT, buf);
                }
                r->work_fd = k;
                k = restore_start_worker(r, "restore-verify", verify_run);
                if (k >= 0 && sd_event_add_time_relative(r->manager->event, &r->tick, CLOCK_MONOTONIC, USEC_PER_SEC, 0,
                                                         on_tick, r) < 0)
                        log_oom();
                break;
        }
        case 1: {
                r->work_result = 0;
                r->work_message = mfree(r->work_message);
                SpawnOptions o = {
                        .argv = STRV_MAKE(r->j.tool, "version"),
                        .env = STRV_MAKE("ETCDCTL_API=3"),
                        .timeout = RESTORE_TOOL_TIMEOUT,
                };
                k = spawn_start(r->manager->event, &o, on_tool_version, r, &r->spawn);
                if (k < 0) {
                        char buf[512];
                        snprintf(buf, sizeof(buf), "The restore tool %s cannot be run: %s", r->j.tool, strerror(-k));
                        return restore_fail(r, k, AGENT_ERROR_RESTORE_TOOL, buf);
                }
                break;
        }
        case 2: {
                r->spawn = spawn_free(r->spawn);
                if (r->work_result < 0) {
                        _cleanup_free_ char *message = TAKE_PTR(r->work_message);
                        return restore_fail(r, r->work_result, AGENT_ERROR_RESTORE_TOOL, message ?: "The restore tool does not run");
                }
                ControlPlaneSpec spec = restore_spec(r, true, 0, false);
                k = control_plane_check(r->manager->systemd, &spec, restore_on_control_plane_done, r, &r->cp);
                break;
        }
        case 3:
                k = restore_ask_unit_path(r);
                break;
        case 4: {
                /* A node stopped for a cluster restore: its units would not start (nor start again
                 * in a rollback); whether this is the recovery node is the operator's to say. */
                _cleanup_free_ char *held = NULL;
                if (!r->j.dry_run && restore_cluster_held(r, &held) > 0) {
                        _cleanup_free_ char *message = strdup_printf(
                                        "This node is kept stopped by etcd-backupctl stop-control-plane (%s): a restore could not "
                                        "start it. On the recovery node, remove the drop-ins first (rm %s/*/" RESTORE_HOLD_DROPIN_NAME
                                        " && systemctl daemon-reload); on the others, rejoin instead of restoring",
                                        held, r->persistent_control_dir);
                        return restore_fail(r, -EBUSY, AGENT_ERROR_UNIT_FAILED, message ?: "This node is kept stopped");
                }
                return restore_next(r);
        }
        default:
                return restore_enter(r, RESTORE_STAGING);
        }
        if (k < 0)
                restore_fail(r, k, AGENT_ERROR_FAILED, "Cannot verify: out of resources");
}

/* ---- staging --------------------------------------------------------------------------------- */

/* S/staged, the helper's account of what it built: the member directory's inode, the
 * revision after the bump, the bump as applied. */
static int restore_read_staged(Restore *r) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        int k;

        if (asprintf(&path, "%s/.restore-%s/staged", r->j.data_dir, r->j.id) < 0)
                return -ENOMEM;
        k = read_full_file(path, 4096, &text, NULL);
        if (k < 0)
                return k;
        for (char *line = text, *end; line && *line; line = end) {
                end = strchr(line, '\n');
                if (end)
                        *end++ = 0;
                char *v = strchr(line, '=');
                if (!v)
                        continue;
                *v++ = 0;
                if (streq(line, "member-inode"))
                        k = safe_atou64(v, &r->j.member_inode);
                else if (streq(line, "revision"))
                        k = safe_atou64(v, &r->j.staged_revision);
                else if (streq(line, "bump"))
                        k = safe_atou64(v, &r->j.revision_bump);
                if (k < 0)
                        return k;
        }
        return r->j.member_inode > 0 && r->j.staged_revision > 0 ? 0 : -EBADMSG;
}

static void phase_staging(Restore *r) {
        char bump[32];
        int k;

        switch (r->step) {
        case 0: {
                snprintf(bump, sizeof(bump), "%" PRIu64, r->j.revision_bump);
                restore_helper(r, "stage", RESTORE_STAGE_TIMEOUT,
                               STRV_MAKE("stage", "--data-dir", r->j.data_dir, "--id", r->j.id, "--backup", r->j.backup_file, "--tool",
                                         r->j.tool, "--name", r->j.name, "--initial-cluster", r->j.initial_cluster,
                                         "--initial-advertise-peer-urls", r->j.initial_advertise_peer_urls,
                                         "--initial-cluster-token", r->j.initial_cluster_token, "--bump", bump));
                return;
        }
        case 1:
                k = restore_read_staged(r);
                if (k < 0) {
                        char buf[512];
                        snprintf(buf, sizeof(buf), "Cannot read what the helper staged (%s/.restore-%s/staged): %s",
                                 r->j.data_dir, r->j.id, strerror(-k));
                        return restore_fail(r, k, AGENT_ERROR_RESTORE_HELPER, buf);
                }
                (void) restore_save(r);
                restore_set_progress(r, 100);
                restore_emit(r);
                log_restore(r, LOG_INFO, 0, MESSAGE_ID_RESTORE_PHASE,
                            "Restore %s: staged; the restored member will serve revision %" PRIu64 " (bump %" PRIu64 ").",
                            r->j.id, r->j.staged_revision, r->j.revision_bump);
                if (r->cancel_requested)
                        return restore_fail(r, -ECANCELED, AGENT_ERROR_CANCELLED, "The restore was cancelled on request");
                if (!r->j.dry_run)
                        return restore_enter(r, RESTORE_STOPPING);
                helper_simple(r, "cleanup", "cleanup", NULL);
                return;
        default:
                restore_finish(r, RESTORE_COMPLETED);
        }
}

/* ---- stopping, swapping ------------------------------------------------------------------ */

void restore_on_unit_stopped(ControlPlaneOp *op, const char *unit, void *userdata) {
        Restore *r = userdata;
        size_t n = strv_length(r->j.units) + strv_length(r->j.static_pods) + 1;

        if (!strv_contains(r->j.stopped, unit) && strv_extend(&r->j.stopped, unit) >= 0)
                (void) restore_save(r);
        if (r->j.phase == RESTORE_STOPPING)
                restore_set_progress(r, (unsigned) (strv_length(r->j.stopped) * 100 / n));
}

static void phase_stopping(Restore *r) {
        if (r->step == 0) {
                ControlPlaneSpec spec = restore_spec(r, true, RESTORE_STOP_TIMEOUT, false);
                int k = control_plane_stop(r->manager->systemd, &spec, restore_on_unit_stopped, restore_on_control_plane_done, r, &r->cp);
                if (k < 0)
                        restore_fail(r, k, AGENT_ERROR_FAILED, "Cannot stop the control plane: out of resources");
                return;
        }
        restore_enter(r, RESTORE_SWAPPING);
}

static void phase_swapping(Restore *r) {
        if (r->step == 0)
                return helper_simple(r, "swap-new", "swap", "new");
        r->j.swapped = true;
        restore_enter(r, RESTORE_STARTING_ETCD);
}

/* ---- starting etcd and the control plane ------------------------------------------------ */

int restore_dropin_paths(Restore *r, char **ret_dir, char **ret_file) {
        if (!r->control_dir || !r->j.etcd_unit || r->j.etcd_static_pod)
                return -ENOENT;
        if (asprintf(ret_dir, "%s/%s.d", r->control_dir, r->j.etcd_unit) < 0 ||
            asprintf(ret_file, "%s/" RESTORE_DROPIN_NAME, *ret_dir) < 0)
                return -ENOMEM;
        return 0;
}

/* etcd's TimeoutStartSec= for this restore, in a runtime drop-in: a big database takes longer
 * to load than the distribution's unit allows. true if it is in place (and systemd must
 * reload). */
static bool restore_write_dropin(Restore *r) {
        _cleanup_free_ char *dir = NULL, *file = NULL, *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        int k;

        if (r->manager->exit_requested || restore_dropin_paths(r, &dir, &file) < 0)
                return false;
        if (asprintf(&text,
                     "# Written by etcd-backupd for restore %s; removed when it ends.\n[Service]\nTimeoutStartSec=%" PRIu64
                     "us\n",
                     r->j.id, r->j.start_timeout_usec) < 0)
                return false;
        k = mkdir_p(dir, 0755);
        if (k >= 0) {
                fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                k = fd < 0 ? -errno : write_file_atomic_at(fd, RESTORE_DROPIN_NAME, text, strlen(text), 0644);
        }
        if (k < 0) {
                log_restore(r, LOG_WARNING, k, MESSAGE_ID_RESTORE_PHASE,
                            "Restore %s: cannot write %s, etcd starts with its own start timeout: %m", r->j.id, file);
                return false;
        }
        return true;
}

bool restore_remove_dropin(Restore *r) {
        _cleanup_free_ char *dir = NULL, *file = NULL;

        if (restore_dropin_paths(r, &dir, &file) < 0 || unlink(file) < 0)
                return false;
        (void) rmdir(dir);
        return !r->manager->exit_requested; /* no daemon-reload while the agent exits */
}

static void on_reloaded(SystemdCall *call, const SystemdResult *result, void *userdata) {
        Restore *r = userdata;

        r->call = NULL;
        if (result->error < 0)
                log_restore(r, LOG_WARNING, result->error, MESSAGE_ID_RESTORE_PHASE,
                            "Restore %s: systemd did not reload its units, ignoring: %s", r->j.id, strna(result->message));
        restore_next(r);
}

/* A daemon-reload if needed, then the next step. */
void restore_reload(Restore *r, bool needed) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

        if (needed && systemd_new_manager_call(r->manager->systemd, "Reload", &m) >= 0 &&
            systemd_call(r->manager->systemd, m, on_reloaded, r, &r->call) >= 0)
                return;
        restore_next(r);
}

static void on_etcd_started(SystemdCall *call, const SystemdResult *result, void *userdata) {
        Restore *r = userdata;

        r->call = NULL;
        if (result->error < 0) {
                _cleanup_free_ char *message = NULL;
                message = strdup_printf("etcd did not start: %s", result->message ?: strerror(-result->error));
                restore_fail(r, result->error, AGENT_ERROR_ETCD_UNHEALTHY, message ?: "etcd did not start");
                return;
        }
        restore_next(r);
}

static void on_etcd_pod_started(ControlPlaneOp *op, int error, const char *message, void *userdata) {
        Restore *r = userdata;

        r->cp = NULL;
        if (error < 0)
                return restore_fail(r, error, AGENT_ERROR_ETCD_UNHEALTHY, message);
        restore_next(r);
}

static void restore_start_etcd(Restore *r) {
        if (r->j.etcd_static_pod) {
                if (restore_start_etcd_pod(r, on_etcd_pod_started) < 0)
                        restore_fail(r, -ENOMEM, AGENT_ERROR_ETCD_UNHEALTHY, "Cannot put etcd's manifest back");
                return;
        }
        int k = systemd_job(r->manager->systemd, SYSTEMD_JOB_START, r->j.etcd_unit, r->j.start_timeout_usec + 10 * USEC_PER_SEC,
                            on_etcd_started, r, &r->call);
        if (k < 0)
                restore_fail(r, k, AGENT_ERROR_ETCD_UNHEALTHY, "Cannot ask systemd to start etcd");
}

static void restore_check_health(Restore *r, bool restored) {
        int k;

        r->work_expect = (EtcdHealthExpect) {};
        if (restored) {
                r->work_expect.min_revision = (int64_t) r->j.staged_revision;
                /* Marked compacted: a read at the backup's revision must be refused, so that
                 * watchers and informers relist. */
                if (r->j.revision_bump > 0 && r->j.revision > 0)
                        r->work_expect.compacted_revision = (int64_t) r->j.revision;
        }
        r->work_deadline = now(CLOCK_MONOTONIC) + r->j.start_timeout_usec;
        k = restore_start_worker(r, "restore-health", health_run);
        if (k < 0)
                restore_fail(r, k, AGENT_ERROR_ETCD_UNHEALTHY, "Cannot start the health check");
}

static void phase_starting_etcd(Restore *r) {
        switch (r->step) {
        case 0:
                if (r->control_dir || restore_ask_unit_path(r) < 0)
                        restore_next(r);
                return;
        case 1:
                return restore_reload(r, restore_write_dropin(r));
        case 2:
                return restore_start_etcd(r);
        case 3:
                return restore_check_health(r, true);
        default:
                return restore_enter(r, RESTORE_STARTING_CONTROL_PLANE);
        }
}

static void on_unit_started(ControlPlaneOp *op, const char *unit, void *userdata) {
        Restore *r = userdata;
        size_t n = strv_length(r->j.units) + strv_length(r->j.static_pods);

        if (r->j.phase == RESTORE_STARTING_CONTROL_PLANE && n > 0)
                restore_set_progress(r, MIN(r->progress + (unsigned) (100 / n), 99U));
}

/* etcd and the control plane run on the restored data: the restore is done whatever the finish
 * step says, which only files the previous data away. */
static void on_finish_done(SystemdCall *call, const SystemdResult *result, void *userdata) {
        Restore *r = userdata;
        int k;

        r->call = NULL;
        free(r->j.previous_data);
        if (result->error >= 0)
                k = asprintf(&r->j.previous_data, "%s/member.before-restore-%s", r->j.data_dir, r->j.id);
        else {
                log_restore(r, LOG_WARNING, result->error, MESSAGE_ID_RESTORE_PHASE,
                            "Restore %s: the helper's finish step failed (journalctl -u etcd-backup-restore-%s-finish.service): "
                            "%s; the previous data stays in %s/.restore-%s/data/member.",
                            r->j.id, r->j.id, strna(result->message), r->j.data_dir, r->j.id);
                k = asprintf(&r->j.previous_data, "%s/.restore-%s/data/member", r->j.data_dir, r->j.id);
        }
        if (k < 0)
                r->j.previous_data = NULL;
        (void) restore_save(r);
        restore_next(r);
}

static void restore_finish_helper(Restore *r) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *unit = NULL;
        char **argv = STRV_MAKE(RESTORE_HELPER_PATH, "finish", "--data-dir", r->j.data_dir, "--id", r->j.id);

        if (asprintf(&unit, "etcd-backup-restore-%s-finish.service", r->j.id) < 0 ||
            free_and_strdup(&r->helper_step, "finish") < 0 || restore_helper_message(r, unit, argv, &m) < 0 ||
            systemd_start_transient_unit(r->manager->systemd, unit, m, RESTORE_HELPER_TIMEOUT, on_finish_done, r, &r->call) < 0) {
                log_restore(r, LOG_WARNING, 0, MESSAGE_ID_RESTORE_PHASE, "Restore %s: cannot run the helper's finish step.",
                            r->j.id);
                restore_next(r);
        }
}

static void phase_starting_control_plane(Restore *r) {
        switch (r->step) {
        case 0: {
                ControlPlaneSpec spec = restore_spec(r, false, r->j.start_timeout_usec, false);
                if (control_plane_start(r->manager->systemd, &spec, on_unit_started, restore_on_control_plane_done, r, &r->cp) < 0)
                        restore_fail(r, -ENOMEM, AGENT_ERROR_UNIT_FAILED, "Cannot start the control plane");
                return;
        }
        case 1:
                /* Every component is back: the downtime ends here. */
                if (r->j.downtime_start > 0 && r->j.downtime_usec == 0)
                        r->j.downtime_usec = now(CLOCK_REALTIME) - r->j.downtime_start;
                (void) restore_save(r);
                return restore_finish_helper(r);
        case 2:
                return restore_reload(r, restore_remove_dropin(r));
        default:
                return restore_finish(r, RESTORE_COMPLETED);
        }
}

/* ---- rolling back ------------------------------------------------------------------------ */

void restore_rollback_failed(Restore *r, const char *what) {
        _cleanup_free_ char *message = NULL;

        if (!streq(r->j.kind, RESTORE_KIND_RESTORE))
                message = strdup_printf("%s. Rolling back failed: %s", strna(r->j.error), what);
        else if (r->j.swapped)
                message = strdup_printf(
                                "%s. Rolling back failed: %s. etcd or the control plane may be down; etcd's data "
                                "directory %s/member holds the restored data, the previous data is in %s/.restore-%s/data/member.",
                                strna(r->j.error), what, r->j.data_dir, r->j.data_dir, r->j.id);
        else
                message = strdup_printf(
                                "%s. Rolling back failed: %s. etcd or the control plane may be down; the previous data "
                                "is in place in %s/member.",
                                strna(r->j.error), what, r->j.data_dir);
        restore_set_error(r, AGENT_ERROR_ROLLBACK_FAILED, message ?: what);
        restore_finish(r, RESTORE_FAILED);
}

static void on_rollback_helper(SystemdCall *call, const SystemdResult *result, void *userdata) {
        Restore *r = userdata;

        r->call = NULL;
        if (result->error < 0 && streq_ptr(r->helper_step, "swap-old")) {
                _cleanup_free_ char *what = NULL;
                what = strdup_printf("putting the previous data back failed: %s (journalctl -u etcd-backup-restore-%s-swap-old.service)",
                                strna(result->message), r->j.id);
                return restore_rollback_failed(r, what ?: "putting the previous data back failed");
        }
        if (result->error < 0)
                log_restore(r, LOG_WARNING, result->error, MESSAGE_ID_RESTORE_PHASE,
                            "Restore %s: the helper's %s step failed, ignoring: %s", r->j.id, r->helper_step,
                            strna(result->message));
        if (streq_ptr(r->helper_step, "swap-old")) {
                r->j.swapped = false;
                (void) restore_save(r);
        }
        restore_next(r);
}

static void rollback_helper(Restore *r, const char *unit_step, const char *verb, const char *to) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *unit = NULL;
        char **args = to ? STRV_MAKE(verb, "--data-dir", r->j.data_dir, "--id", r->j.id, "--to", to)
                         : STRV_MAKE(verb, "--data-dir", r->j.data_dir, "--id", r->j.id);
        int k;

        if (strv_extend(&argv, RESTORE_HELPER_PATH) < 0 || strv_extend_strv(&argv, args) < 0 ||
            asprintf(&unit, "etcd-backup-restore-%s-%s.service", r->j.id, unit_step) < 0 ||
            free_and_strdup(&r->helper_step, unit_step) < 0)
                k = -ENOMEM;
        else
                k = restore_helper_message(r, unit, argv, &m);
        if (k >= 0)
                k = systemd_start_transient_unit(r->manager->systemd, unit, m, RESTORE_HELPER_TIMEOUT, on_rollback_helper, r,
                                                 &r->call);
        if (k < 0) {
                char buf[128];
                snprintf(buf, sizeof(buf), "cannot run the helper's %s step: %s", unit_step, strerror(-k));
                restore_rollback_failed(r, buf);
        }
}

static void on_rollback_stopped(ControlPlaneOp *op, int error, const char *message, void *userdata) {
        Restore *r = userdata;

        r->cp = NULL;
        /* The old data goes back only under a stopped etcd. */
        if (error < 0)
                return restore_rollback_failed(r, message);
        restore_next(r);
}

static void on_rollback_etcd(SystemdCall *call, const SystemdResult *result, void *userdata) {
        Restore *r = userdata;

        r->call = NULL;
        if (result->error < 0) {
                _cleanup_free_ char *what = NULL;
                what = strdup_printf("etcd did not start on the previous data: %s", strna(result->message));
                return restore_rollback_failed(r, what ?: "etcd did not start");
        }
        restore_next(r);
}

static void on_rollback_started(ControlPlaneOp *op, int error, const char *message, void *userdata) {
        Restore *r = userdata;

        r->cp = NULL;
        if (error < 0)
                (void) free_and_strdup(&r->rollback_error, message);
        restore_next(r);
}

static void on_rollback_etcd_pod(ControlPlaneOp *op, int error, const char *message, void *userdata) {
        Restore *r = userdata;

        r->cp = NULL;
        if (error < 0)
                return restore_rollback_failed(r, message);
        restore_next(r);
}

static void phase_rolling_back(Restore *r) {
        int k;

        switch (r->step) {
        case 0: {
                /* Whatever had been started again goes down first: the old data goes back
                 * under a stopped etcd, with nothing reading it. */
                ControlPlaneSpec spec = restore_spec(r, true, RESTORE_STOP_TIMEOUT, false);
                k = control_plane_stop(r->manager->systemd, &spec, NULL, on_rollback_stopped, r, &r->cp);
                if (k < 0)
                        restore_rollback_failed(r, "cannot stop the control plane");
                return;
        }
        case 1:
                /* The helper swaps back only if the staged member is the live one. */
                if (r->j.member_inode > 0)
                        return rollback_helper(r, "swap-old", "swap", "old");
                return restore_next(r);
        case 2:
                if (r->control_dir || restore_ask_unit_path(r) < 0)
                        restore_next(r);
                return;
        case 3:
                if (r->j.etcd_static_pod) {
                        if (restore_start_etcd_pod(r, on_rollback_etcd_pod) < 0)
                                restore_rollback_failed(r, "cannot put etcd's manifest back");
                        return;
                }
                k = systemd_job(r->manager->systemd, SYSTEMD_JOB_START, r->j.etcd_unit,
                                r->j.start_timeout_usec + 10 * USEC_PER_SEC, on_rollback_etcd, r, &r->call);
                if (k < 0)
                        restore_rollback_failed(r, "cannot ask systemd to start etcd");
                return;
        case 4:
                /* Healthy, without the restore's revision: this is the data it had before. */
                return restore_check_health(r, false);
        case 5: {
                ControlPlaneSpec spec = restore_spec(r, false, r->j.start_timeout_usec, true);
                if (control_plane_start(r->manager->systemd, &spec, NULL, on_rollback_started, r, &r->cp) < 0)
                        restore_rollback_failed(r, "cannot start the control plane");
                return;
        }
        case 6:
                if (r->rollback_error)
                        return restore_rollback_failed(r, r->rollback_error);
                if (r->j.member_inode > 0)
                        return rollback_helper(r, "cleanup", "cleanup", NULL);
                return restore_next(r);
        case 7:
                return restore_reload(r, restore_remove_dropin(r));
        default:
                if (r->j.downtime_start > 0 && r->j.downtime_usec == 0)
                        r->j.downtime_usec = now(CLOCK_REALTIME) - r->j.downtime_start;
                restore_finish(r, RESTORE_ROLLED_BACK);
        }
}

/* ---- aborting before anything stopped, and settling after a crash ------------------------ */

static void on_abort_cleanup(SystemdCall *call, const SystemdResult *result, void *userdata) {
        Restore *r = userdata;

        r->call = NULL;
        if (result->error < 0)
                log_restore(r, LOG_WARNING, result->error, MESSAGE_ID_RESTORE_PHASE,
                            "Restore %s: the staged data could not be removed (%s/.restore-%s), ignoring: %s", r->j.id,
                            r->j.data_dir, r->j.id, strna(result->message));
        restore_finish(r, RESTORE_FAILED);
}

static void phase_aborting(Restore *r) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *unit = NULL;

        /* Nothing was staged before staging began. */
        if (r->j.phase < RESTORE_STAGING)
                return restore_finish(r, RESTORE_FAILED);
        if (strv_extend_strv(&argv, STRV_MAKE(RESTORE_HELPER_PATH, "cleanup", "--data-dir", r->j.data_dir, "--id", r->j.id)) < 0 ||
            asprintf(&unit, "etcd-backup-restore-%s-cleanup.service", r->j.id) < 0 ||
            free_and_strdup(&r->helper_step, "cleanup") < 0 || restore_helper_message(r, unit, argv, &m) < 0 ||
            systemd_start_transient_unit(r->manager->systemd, unit, m, RESTORE_HELPER_TIMEOUT, on_abort_cleanup, r,
                                         &r->call) < 0)
                restore_finish(r, RESTORE_FAILED);
}

static void on_settled(SystemdCall *call, const SystemdResult *result, void *userdata) {
        Restore *r = userdata;

        r->call = NULL;
        restore_next(r);
}

/* After a crash: the helper steps that may still run are stopped (they are idempotent and run
 * again as the rule of the phase says), then the phase's rule. */
static void phase_settling(Restore *r) {
        _cleanup_free_ char *unit = NULL;

        if (r->step == 0) {
                if (restore_ask_unit_path(r) < 0)
                        restore_next(r);
                return;
        }
        if (r->step <= ELEMENTSOF(helper_steps)) {
                if (asprintf(&unit, "etcd-backup-restore-%s-%s.service", r->j.id, helper_steps[r->step - 1]) < 0 ||
                    systemd_job(r->manager->systemd, SYSTEMD_JOB_STOP, unit, RESTORE_STOP_TIMEOUT, on_settled, r, &r->call) < 0)
                        restore_next(r);
                return;
        }

        r->settling = false;
        r->step = 0;
        log_restore(r, LOG_NOTICE, 0, MESSAGE_ID_RESTORE_PHASE, "Restore %s was interrupted in phase %s; resuming.", r->j.id,
                    restore_phase_to_string(r->j.phase));
        if (!streq(r->j.kind, RESTORE_KIND_RESTORE))
                return restore_cluster_resume(r);
        switch (r->j.phase) {
        case RESTORE_VERIFYING:
        case RESTORE_STAGING:
                /* Nothing was stopped. */
                return restore_fail(r, -EINTR, AGENT_ERROR_INTERRUPTED,
                                    "The agent was stopped before the restore stopped anything; nothing was changed");
        case RESTORE_STOPPING:
        case RESTORE_SWAPPING:
                /* Not known to run on the new data yet: back to the old. */
                return restore_fail(r, -EINTR, AGENT_ERROR_INTERRUPTED,
                                    "The agent was stopped while the restore was taking the control plane down");
        case RESTORE_STARTING_ETCD:
        case RESTORE_STARTING_CONTROL_PLANE:
                /* The new data is in place: carry on. */
                r->j.swapped = true;
                return restore_enter(r, r->j.phase);
        case RESTORE_ROLLING_BACK:
                return restore_enter(r, RESTORE_ROLLING_BACK);
        default:
                return restore_finish(r, r->j.phase);
        }
}

/* ---- the state machine ------------------------------------------------------------------- */

static void restore_step(Restore *r) {
        if (restore_phase_is_final(r->j.phase))
                return;
        if (r->settling)
                return phase_settling(r);
        if (r->aborting)
                return phase_aborting(r);
        /* Cancel() works until the first stop. */
        if (r->cancel_requested && r->j.phase < RESTORE_STOPPING)
                return restore_fail(r, -ECANCELED, AGENT_ERROR_CANCELLED, "The restore was cancelled on request");
        if (!streq(r->j.kind, RESTORE_KIND_RESTORE))
                return restore_cluster_step(r);

        switch (r->j.phase) {
        case RESTORE_VERIFYING:
                return phase_verifying(r);
        case RESTORE_STAGING:
                return phase_staging(r);
        case RESTORE_STOPPING:
                return phase_stopping(r);
        case RESTORE_SWAPPING:
                return phase_swapping(r);
        case RESTORE_STARTING_ETCD:
                return phase_starting_etcd(r);
        case RESTORE_STARTING_CONTROL_PLANE:
                return phase_starting_control_plane(r);
        case RESTORE_ROLLING_BACK:
                return phase_rolling_back(r);
        default:
                return;
        }
}

/* A phase change: the journal first (fsynced), then the world is told, then the phase acts. */
void restore_enter(Restore *r, RestorePhase phase) {
        if (phase == RESTORE_STOPPING && !r->j.downtime_start)
                r->j.downtime_start = now(CLOCK_REALTIME);
        r->j.phase = phase;
        r->step = 0;
        r->progress = 0;
        r->phase_started = now(CLOCK_MONOTONIC);
        r->tick = sd_event_source_disable_unref(r->tick);
        if (IN_SET(phase, RESTORE_STAGING, RESTORE_STARTING_ETCD) &&
            sd_event_add_time_relative(r->manager->event, &r->tick, CLOCK_MONOTONIC, USEC_PER_SEC, 0, on_tick, r) < 0)
                log_oom(); /* no Progress, no harm */
        if (restore_save(r) < 0 && phase == RESTORE_STOPPING) {
                /* Without a journal a crash could not be recovered from: stop before any
                 * downtime. */
                r->j.phase = RESTORE_STAGING;
                r->j.downtime_start = 0;
                return restore_fail(r, -EIO, AGENT_ERROR_IO,
                                    "Cannot write the restore's journal, which a crash would need; nothing was stopped");
        }
        restore_emit(r);
        restore_update_status(r);
        if (streq(r->j.kind, RESTORE_KIND_RESTORE))
                log_restore(r, LOG_INFO, 0, MESSAGE_ID_RESTORE_PHASE, "Restore %s of backup %s: %s.", r->j.id, r->j.backup,
                            restore_phase_to_string(phase));
        else
                log_restore(r, LOG_INFO, 0, MESSAGE_ID_RESTORE_PHASE, "%s %s: %s.", restore_what(r), r->j.id,
                            restore_phase_to_string(phase));
        restore_kick(r);
}

static void on_worker(Worker *w, bool finished, int result, void *userdata) {
        Restore *r = userdata;
        _cleanup_free_ char *message = NULL;

        if (!finished)
                return;
        r->worker = worker_free(r->worker);
        r->tick = sd_event_source_disable_unref(r->tick);
        r->work_fd = safe_close(r->work_fd);
        message = TAKE_PTR(r->work_message);

        if (r->j.phase == RESTORE_VERIFYING) {
                if (result < 0)
                        return restore_fail(r, result,
                                            result == -ECANCELED && r->cancel_requested ? AGENT_ERROR_CANCELLED
                                                                                       : agent_error_from_errno(result),
                                            message ?: strerror(-result));
                restore_set_progress(r, 100);
                return restore_next(r);
        }

        /* A health check. */
        if (result >= 0)
                return restore_next(r);
        _cleanup_free_ char *why = NULL;
        if (r->j.etcd_static_pod)
                /* The manifest is back; a kubelet that did not notice leaves etcd down. */
                why = strdup_printf("etcd did not become healthy within %" PRIu64 " s: %s; if the kubelet did not start "
                                    "static pod %s again, touch %s/%s.yaml or restart the kubelet (systemctl restart kubelet)",
                                    r->j.start_timeout_usec / USEC_PER_SEC, message ?: strerror(-result), r->j.etcd_static_pod,
                                    r->j.manifest_dir, r->j.etcd_static_pod);
        else
                why = strdup_printf("etcd did not become healthy within %" PRIu64 " s: %s", r->j.start_timeout_usec / USEC_PER_SEC,
                                    message ?: strerror(-result));
        if (r->j.phase == RESTORE_ROLLING_BACK)
                return restore_rollback_failed(r, why ?: "etcd did not become healthy");
        restore_fail(r, result, AGENT_ERROR_ETCD_UNHEALTHY, why ?: "etcd did not become healthy");
}

/* The failure of a phase: before anything was stopped the restore ends failed (staged data
 * removed); after, it rolls back. */
void restore_fail(Restore *r, int error, const char *error_name, const char *message) {
        restore_stop_work(r);
        if (r->j.phase == RESTORE_ROLLING_BACK)
                return restore_rollback_failed(r, message);
        restore_set_error(r, error_name, message);
        log_restore(r, LOG_ERR, error, MESSAGE_ID_RESTORE_PHASE, "%s %s failed in phase %s: %s", restore_what(r), r->j.id,
                    restore_phase_to_string(r->j.phase), message);
        if (!restore_stopped_anything(r)) {
                r->aborting = true;
                r->step = 0;
                restore_emit(r);
                return restore_kick(r);
        }
        r->j.failure_phase = r->j.phase;
        restore_enter(r, RESTORE_ROLLING_BACK);
}

/* ---- starting, loading, resuming --------------------------------------------------------- */

int restore_begin(Manager *m, Restore *r) {
        int k;

        k = restore_journal_write(m->restores_fd, &r->j);
        if (k < 0)
                return log_error_errno(k, "Cannot write the journal of a new %s in %s/" RESTORES_DIR ": %m", r->j.kind,
                                       m->state_dir);
        k = restore_attach(m, r);
        if (k < 0)
                return k;
        m->restore = r;
        return 0;
}

int restore_freeze_node(RestoreJournal *j, const AgentConfig *c) {
        if (free_and_strdup(&j->data_dir, c->etcd_data_dir) < 0 || free_and_strdup(&j->etcd_unit, c->etcd_unit) < 0 ||
            (strv_length(c->control_plane_units) > 0 && strv_extend_strv(&j->units, c->control_plane_units) < 0) ||
            free_and_strdup(&j->etcd_static_pod, c->etcd_static_pod) < 0 ||
            (strv_length(c->control_plane_static_pods) > 0 && strv_extend_strv(&j->static_pods, c->control_plane_static_pods) < 0) ||
            ((c->etcd_static_pod || strv_length(c->control_plane_static_pods) > 0) &&
             free_and_strdup(&j->manifest_dir, c->manifest_directory ?: MANIFEST_DIRECTORY_DEFAULT) < 0))
                return -ENOMEM;
        return 0;
}

int restore_set_local_endpoint(Restore *r, const AgentConfig *c) {
        const EtcdEndpoint *e = &c->etcd;

        if (free_and_strdup(&r->endpoint.url, e->url) < 0 || free_and_strdup(&r->endpoint.trusted_ca_file, e->trusted_ca_file) < 0 ||
            free_and_strdup(&r->endpoint.cert_file, e->cert_file) < 0 || free_and_strdup(&r->endpoint.key_file, e->key_file) < 0)
                return -ENOMEM;
        return 0;
}

int restore_check_idle(Manager *m, sd_bus_error *error) {
        if (m->restore)
                return sd_bus_error_setf(error, AGENT_ERROR_BUSY, "%s %s is running (%s).",
                                         streq(m->restore->j.kind, RESTORE_KIND_RESTORE) ? "Restore"
                                         : streq(m->restore->j.kind, RESTORE_KIND_STOP) ? "A stop of the control plane"
                                                                                         : "A rejoin",
                                         m->restore->j.id, m->restore->object_path);
        if (m->running)
                return sd_bus_error_setf(error, AGENT_ERROR_BUSY, "Backup %s of '%s' is running; try again when it is done.",
                                         m->running->id, m->running->meta.config);
        if (m->import)
                return sd_bus_error_setf(error, AGENT_ERROR_BUSY, "An import is running; try again when it is done.");
        /* A verification only reads; a restore verifies the backup itself. */
        if (m->verifying)
                backup_verify_abort(m->verifying, "was cancelled: a restore begins");
        return 0;
}

static int find_tool(const char *configured, char **ret) {
        _cleanup_free_ char *path = NULL;
        const char *names[3] = { configured ?: "etcdutl", configured ? NULL : "etcdctl", NULL };

        for (size_t i = 0; names[i]; i++) {
                if (strchr(names[i], '/'))
                        return free_and_strdup(ret, names[i]);
                const char *p = getenv("PATH") ?: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
                for (const char *e; *p; p = *e ? e + 1 : e) {
                        e = p + strcspn(p, ":");
                        path = mfree(path);
                        if (asprintf(&path, "%.*s/%s", (int) (e - p), p, names[i]) < 0)
                                return -ENOMEM;
                        if (access(path, X_OK) >= 0) {
                                *ret = TAKE_PTR(path);
                                return 0;
                        }
                }
        }
        /* Not found: the verification says so, with the name the agent looked for. */
        return free_and_strdup(ret, configured ?: "etcdutl");
}

typedef struct RestoreOptions {
        const char *name;
        const char *initial_advertise_peer_urls;
        const char *initial_cluster;
        const char *initial_cluster_token;
        uint64_t revision_bump;
        uint32_t start_timeout_sec;
        int dry_run;
} RestoreOptions;

enum {
        OPTION_NAME,
        OPTION_PEER_URLS,
        OPTION_CLUSTER,
        OPTION_TOKEN,
        OPTION_BUMP,
        OPTION_START_TIMEOUT,
        OPTION_DRY_RUN,
};

static int restore_start(Manager *m, Backup *b, const RestoreOptions *o, uint64_t given, Restore **ret) {
        _cleanup_(restore_freep) Restore *r = NULL;
        const AgentConfig *c = &m->config;
        char id[BACKUP_ID_STRING_MAX];
        int k;

        k = restore_new(m, &r);
        if (k < 0)
                return k;
        backup_id_generate(id);
        RestoreJournal *j = &r->j;
        j->phase = RESTORE_VERIFYING;
        j->started = now(CLOCK_REALTIME);
        j->revision = b->meta.revision > 0 ? (uint64_t) b->meta.revision : 0;
        j->revision_bump = given & (UINT64_C(1) << OPTION_BUMP) ? o->revision_bump : RESTORE_BUMP_DEFAULT;
        j->dry_run = o->dry_run > 0;
        r->snapshot_size = b->meta.snapshot_size;
        /* The default lets etcd load the database: 60 s and 15 s per GiB, at least 90 s. */
        j->start_timeout_usec = given & (UINT64_C(1) << OPTION_START_TIMEOUT)
                                        ? (usec_t) o->start_timeout_sec * USEC_PER_SEC
                                        : MAX(90 * USEC_PER_SEC,
                                              60 * USEC_PER_SEC + 15 * USEC_PER_SEC * (b->meta.snapshot_size >> 30));
        if (free_and_strdup(&j->id, id) < 0 || free_and_strdup(&j->kind, "restore") < 0 ||
            free_and_strdup(&j->backup, b->id) < 0 ||
            asprintf(&j->backup_file, "%s/%s", c->storage_directory, b->file) < 0 ||
            restore_freeze_node(j, c) < 0 || free_and_strdup(&j->name, o->name ?: c->etcd_name) < 0 ||
            free_and_strdup(&j->initial_cluster, o->initial_cluster ?: c->initial_cluster) < 0 ||
            free_and_strdup(&j->initial_advertise_peer_urls, o->initial_advertise_peer_urls ?: c->initial_advertise_peer_urls) < 0 ||
            free_and_strdup(&j->initial_cluster_token, o->initial_cluster_token ?: c->initial_cluster_token) < 0 ||
            find_tool(c->restore_command, &j->tool) < 0)
                return -ENOMEM;
        if (restore_set_local_endpoint(r, c) < 0)
                return -ENOMEM;

        k = restore_begin(m, r);
        if (k < 0)
                return k;
        r->backup = b;
        b->pinned++;
        *ret = TAKE_PTR(r);
        return 0;
}

void restore_announce_start(Restore *r, const char *what) {
        Manager *m = r->manager;
        _cleanup_free_ char *units = strv_join(r->j.units, " "), *pods = strv_join(r->j.static_pods, " ");
        _cleanup_free_ char *etcd = r->j.etcd_static_pod ? strdup_printf("static pod %s", r->j.etcd_static_pod) : NULL;

        if (m->bus)
                (void) sd_bus_emit_object_added(m->bus, r->object_path);
        log_restore(r, LOG_NOTICE, 0, MESSAGE_ID_RESTORE_STARTED, "%s: data dir %s, etcd %s, control plane %s%s%s.", what,
                    r->j.data_dir, etcd ?: strna(r->j.etcd_unit), units && *units ? units : "(none)",
                    pods && *pods ? ", static pods " : "", pods && *pods ? pods : "");
        manager_update_state(m);
        restore_update_status(r);
        restore_kick(r);
}

int bus_manager_method_restore(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        RestoreOptions o = {};
        static const BusOption table[] = {
                [OPTION_NAME] = { "Name", 's', offsetof(RestoreOptions, name) },
                [OPTION_PEER_URLS] = { "InitialAdvertisePeerURLs", 's', offsetof(RestoreOptions, initial_advertise_peer_urls) },
                [OPTION_CLUSTER] = { "InitialCluster", 's', offsetof(RestoreOptions, initial_cluster) },
                [OPTION_TOKEN] = { "InitialClusterToken", 's', offsetof(RestoreOptions, initial_cluster_token) },
                [OPTION_BUMP] = { "RevisionBump", 't', offsetof(RestoreOptions, revision_bump) },
                [OPTION_START_TIMEOUT] = { "StartTimeoutSec", 'u', offsetof(RestoreOptions, start_timeout_sec) },
                [OPTION_DRY_RUN] = { "DryRun", 'b', offsetof(RestoreOptions, dry_run) },
                {},
        };
        char normalized[BACKUP_ID_STRING_MAX];
        const char *id;
        uint64_t given = 0;
        Restore *r = NULL;
        Backup *b;
        int k;

        /* read */
        k = sd_bus_message_read(msg, "s", &id);
        if (k < 0)
                return k;
        k = bus_read_options(msg, table, &o, "option", &given, error);
        if (k < 0)
                return k;

        /* validate */
        if (backup_id_normalize(id, normalized) < 0)
                return sd_bus_error_setf(error, AGENT_ERROR_INVALID_NAME, "Invalid backup id '%s': expected a UUID.", id);
        b = manager_find_backup(m, normalized);
        if (!b || b->state != BACKUP_COMPLETED)
                return sd_bus_error_setf(error, AGENT_ERROR_NO_SUCH_BACKUP, "No completed backup %s.", normalized);
        const char *strings[] = { o.name, o.initial_advertise_peer_urls, o.initial_cluster, o.initial_cluster_token };
        for (size_t i = 0; i < ELEMENTSOF(strings); i++)
                if (strings[i] && (!*strings[i] || !utf8_is_printable(strings[i]) || strchr(strings[i], ' ')))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option %s must be a non-empty value without spaces or control characters.",
                                                 table[i].key);
        if ((given & (UINT64_C(1) << OPTION_START_TIMEOUT)) && o.start_timeout_sec == 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "StartTimeoutSec must be at least 1.");
        if (o.revision_bump > INT64_MAX / 2)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "RevisionBump %" PRIu64 " is too large.",
                                         o.revision_bump);

        /* polkit */
        const char *details[] = { "backup", b->id, NULL };
        k = polkit_check(msg, POLKIT_ACTION_RESTORE, details, m->checks, error);
        if (k <= 0)
                return k < 0 ? k : 1;

        /* busy */
        k = restore_check_idle(m, error);
        if (k < 0)
                return k;

        /* act */
        restore_prune(m);
        k = restore_start(m, b, &o, given, &r);
        if (k < 0)
                return agent_error_setf(error, k, "Cannot start the restore: %m");

        /* announce, reply */
        _cleanup_free_ char *what = strdup_printf("Restore %s of backup %s started%s, revision %" PRIu64 " bumped by %" PRIu64
                                                  ", tool %s", r->j.id, r->j.backup, r->j.dry_run ? " (dry run)" : "",
                                                  r->j.revision, r->j.revision_bump, r->j.tool);
        restore_announce_start(r, what ?: "Restore started");
        return sd_bus_reply_method_return(msg, "o", r->object_path);
}

int bus_manager_method_get_restore(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        char normalized[BACKUP_ID_STRING_MAX];
        const char *id;
        Restore *r;
        int k;

        k = sd_bus_message_read(msg, "s", &id);
        if (k < 0)
                return k;
        if (backup_id_normalize(id, normalized) < 0)
                return sd_bus_error_setf(error, AGENT_ERROR_INVALID_NAME, "Invalid restore id '%s': expected a UUID.", id);
        r = manager_find_restore(userdata, normalized);
        if (!r)
                return sd_bus_error_setf(error, AGENT_ERROR_NO_SUCH_RESTORE, "No restore %s.", normalized);
        return sd_bus_reply_method_return(msg, "o", r->object_path);
}

static int cmp_started(const void *a, const void *b) {
        const Restore *x = *(Restore * const *) a, *y = *(Restore * const *) b;
        return x->j.started < y->j.started ? -1 : x->j.started > y->j.started;
}

int manager_load_restores(Manager *m) {
        _cleanup_strv_free_ char **ids = NULL;
        _cleanup_free_ Restore **all = NULL;
        size_t n = 0;
        int k;

        k = restore_journal_list(m->restores_fd, &ids);
        if (k < 0)
                return log_error_errno(k, "Cannot read %s/" RESTORES_DIR ": %m", m->state_dir);
        all = new0(Restore *, strv_length(ids));
        if (!all)
                return log_oom();
        STRV_FOREACH(id, ids) {
                _cleanup_(restore_freep) Restore *r = NULL;

                if (restore_new(m, &r) < 0)
                        return log_oom();
                k = restore_journal_read(m->restores_fd, *id, &r->j);
                if (k < 0) {
                        log_warning_errno(k, "Cannot read the journal %s/" RESTORES_DIR "/%s" RESTORE_JOURNAL_SUFFIX
                                          ", ignoring: %m", m->state_dir, *id);
                        continue;
                }
                all[n++] = TAKE_PTR(r);
        }

        /* Oldest first onto the list, which puts the newest at its head. */
        if (n > 0)
                qsort(all, n, sizeof(Restore *), cmp_started);
        for (size_t i = 0; i < n; i++) {
                Restore *r = all[i];

                if (restore_attach(m, r) < 0) {
                        restore_free(r);
                        continue;
                }
                r->progress = restore_phase_is_final(r->j.phase) ? 100 : 0;
                if (restore_phase_is_final(r->j.phase))
                        continue;
                if (m->restore) {
                        /* Only one restore ever runs; an older unfinished one is a leftover. */
                        log_warning("Restore %s was never finished and another came after it; marking it failed.",
                                    m->restore->j.id);
                        restore_set_error(m->restore, AGENT_ERROR_INTERRUPTED, "The agent was stopped during the restore");
                        m->restore->j.phase = RESTORE_FAILED;
                        (void) restore_save(m->restore);
                }
                m->restore = r;
        }
        restore_prune(m);
        log_info("Found %zu restores in %s/" RESTORES_DIR "%s.", n, m->state_dir,
                 m->restore ? ", one of them unfinished" : "");
        return 0;
}

int restore_resume(Restore *r) {
        Manager *m = r->manager;

        r->j.resumed = true;
        r->settling = true;
        r->step = 0;
        r->backup = r->j.backup ? manager_find_backup(m, r->j.backup) : NULL;
        if (r->backup)
                r->backup->pinned++;
        if (restore_set_local_endpoint(r, &m->config) < 0)
                return log_oom();
        (void) restore_save(r);
        log_restore(r, LOG_NOTICE, 0, MESSAGE_ID_RESTORE_PHASE,
                    "Restore %s of backup %s was interrupted in phase %s; finishing it before anything else.", r->j.id,
                    r->j.backup, restore_phase_to_string(r->j.phase));
        manager_update_state(m);
        restore_update_status(r);
        restore_kick(r);
        return 0;
}

/* ---- the bus object -------------------------------------------------------------------------- */

static void on_stage_stopped(SystemdCall *call, const SystemdResult *result, void *userdata) {
        /* The stage step's own job ends failed, which ends the restore. */
}

static int method_cancel(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Restore *r = userdata;
        int k;

        if (restore_phase_is_final(r->j.phase))
                return sd_bus_error_setf(error, AGENT_ERROR_NOT_RUNNING, "Restore %s is %s already.", r->j.id,
                                         restore_phase_to_string(r->j.phase));

        const char *details[] = { "restore", r->j.id, "backup", strempty(r->j.backup), NULL };
        k = polkit_check(msg, POLKIT_ACTION_RESTORE, details, r->manager->checks, error);
        if (k <= 0)
                return k < 0 ? k : 1;

        if (r->j.phase >= RESTORE_STOPPING || r->settling || r->aborting)
                return sd_bus_error_setf(error, AGENT_ERROR_NOT_CANCELLABLE,
                                         "Restore %s is %s: once the control plane is being stopped, a restore ends "
                                         "completed or rolled back.",
                                         r->j.id, restore_phase_to_string(r->j.phase));

        log_restore(r, LOG_NOTICE, 0, MESSAGE_ID_RESTORE_PHASE, "Restore %s: cancelled on request.", r->j.id);
        r->cancel_requested = true;
        /* What runs now is stopped; its end brings the restore to failed. */
        if (r->worker)
                worker_cancel(r->worker);
        else if (r->spawn) {
                r->spawn = spawn_free(r->spawn);
                restore_kick(r);
        } else if (r->call && streq_ptr(r->helper_step, "stage")) {
                _cleanup_free_ char *unit = NULL;
                if (asprintf(&unit, "etcd-backup-restore-%s-stage.service", r->j.id) >= 0)
                        (void) systemd_job(r->manager->systemd, SYSTEMD_JOB_STOP, unit, RESTORE_STOP_TIMEOUT, on_stage_stopped,
                                           NULL, NULL);
        }
        return sd_bus_reply_method_return(msg, NULL);
}

static int property_get_phase(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Restore *r = userdata;
        return sd_bus_message_append(reply, "s", strempty(restore_phase_to_string(r->j.phase)));
}

static int property_get_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        /* userdata points at the char * field (sd-bus adds the vtable's offset). */
        return sd_bus_message_append(reply, "s", strempty(*(char **) userdata));
}

static int property_get_strv(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append_strv(reply, *(char ***) userdata ?: STRV_MAKE(NULL));
}

static void *restore_object_find(void *userdata, const char *id) {
        return manager_find_restore(userdata, id);
}

static void *restore_object_next(void *userdata, void *prev) {
        Manager *m = userdata;
        return prev ? ((Restore *) prev)->restores_next : m->restores;
}

#define J(field) offsetof(Restore, j.field)

static const sd_bus_vtable restore_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "s", property_get_string, J(id), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Kind", "s", property_get_string, J(kind), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Backup", "s", property_get_string, J(backup), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Phase", "s", property_get_phase, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Progress", "u", NULL, offsetof(Restore, progress), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Error", "s", property_get_string, J(error), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ErrorName", "s", property_get_string, J(error_name), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Started", "t", NULL, J(started), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Finished", "t", NULL, J(finished), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("DowntimeUSec", "t", NULL, J(downtime_usec), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("PreviousData", "s", property_get_string, J(previous_data), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Revision", "x", NULL, J(revision), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("RevisionBump", "t", NULL, J(revision_bump), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("DryRun", "b", bus_property_get_bool, J(dry_run), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("DataDir", "s", property_get_string, J(data_dir), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("EtcdUnit", "s", property_get_string, J(etcd_unit), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Units", "as", property_get_strv, J(units), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Name", "s", property_get_string, J(name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("InitialCluster", "s", property_get_string, J(initial_cluster), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Resumed", "b", bus_property_get_bool, J(resumed), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Endpoint", "s", property_get_string, J(endpoint), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("ClusterID", "t", NULL, J(cluster_id), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("MemberID", "t", NULL, J(member_id), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD("Cancel", NULL, NULL, method_cancel, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

const BusObjectKind restore_objects = {
        .prefix = RESTORE_OBJECT_PREFIX,
        .interface = RESTORE_INTERFACE,
        .vtable = restore_vtable,
        .find = restore_object_find,
        .next = restore_object_next,
        .path_offset = offsetof(Restore, object_path),
};
