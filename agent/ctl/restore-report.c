/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a person reads about a restore. The texts say what each phase does to the node, because
 * the one reading them is restoring etcd on a bad day: whether anything is stopped yet, what
 * runs on which data now, and what to do next.
 */

#include <inttypes.h>
#include <stdarg.h>

#include "errors.h"
#include "output.h"
#include "restore-report.h"
#include "string-util.h"
#include "table.h"
#include "terminal.h"

RestorePhase restore_info_phase(const RestoreInfo *r) {
        return restore_phase_from_string(r->phase);
}

static bool rollback_failed(const RestoreInfo *r) {
        return streq_ptr(r->error_name, AGENT_ERROR_ROLLBACK_FAILED);
}

/* Whether the restore never stopped anything (so far, for one that runs). */
static bool nothing_stopped(const RestoreInfo *r) {
        RestorePhase p = restore_info_phase(r);

        return r->dry_run || IN_SET(p, RESTORE_VERIFYING, RESTORE_STAGING) || (p == RESTORE_FAILED && !rollback_failed(r));
}

RestoreExit restore_exit_status(const RestoreInfo *r) {
        switch (restore_info_phase(r)) {
        case RESTORE_COMPLETED:
                return RESTORE_EXIT_COMPLETED;
        case RESTORE_ROLLED_BACK:
                return RESTORE_EXIT_ROLLED_BACK;
        case RESTORE_FAILED:
                return rollback_failed(r) ? RESTORE_EXIT_ROLLBACK_FAILED : RESTORE_EXIT_FAILED;
        default:
                return RESTORE_EXIT_UNKNOWN;
        }
}

static const char *short_error_name(const char *name) {
        return startswith(strempty(name), AGENT_ERROR_PREFIX) ?: name;
}

/* The units as a list (sep between them), in the order they are stopped or, reversed, started. */
static char *join_units(char **units, const char *sep, bool reversed) {
        size_t n = strv_length(units), size = 1;
        char *s, *p;

        for (size_t i = 0; i < n; i++)
                size += strlen(units[i]) + strlen(sep);
        s = p = malloc(size);
        if (!s)
                return NULL;
        *p = 0;
        for (size_t i = 0; i < n; i++)
                p = stpcpy(stpcpy(p, i > 0 ? sep : ""), units[reversed ? n - 1 - i : i]);
        return s;
}

static void phase_line(const RestoreInfo *r, RestorePhase p, FILE *f) {
        _cleanup_free_ char *units = join_units(r->units, ", ", /* reversed= */ p == RESTORE_STARTING_CONTROL_PLANE);
        const char *etcd = isempty(r->etcd_unit) ? "etcd" : r->etcd_unit;

        fprintf(f, "%-22s ", restore_phase_to_string(p));
        switch (p) {
        case RESTORE_VERIFYING:
                fputs("checking the backup end to end, the free space and the restore tool", f);
                break;
        case RESTORE_STAGING:
                fprintf(f, "building the restored member directory beside the live one%s",
                        r->dry_run ? " (a dry run stops nothing)" : "; nothing is stopped yet");
                break;
        case RESTORE_STOPPING:
                if (!isempty(units))
                        fprintf(f, "stopping %s, then %s: the downtime starts", units, etcd);
                else
                        fprintf(f, "stopping %s: the downtime starts", etcd);
                break;
        case RESTORE_SWAPPING:
                fputs("exchanging the live member directory for the restored one", f);
                break;
        case RESTORE_STARTING_ETCD:
                fprintf(f, "starting %s and waiting until etcd is healthy", etcd);
                if (r->revision_bump > 0)
                        fprintf(f, " at revision %" PRIi64 " or later", r->revision + (int64_t) r->revision_bump);
                break;
        case RESTORE_STARTING_CONTROL_PLANE:
                if (!isempty(units))
                        fprintf(f, "starting %s", units);
                else
                        fputs("no control-plane units to start", f);
                break;
        case RESTORE_COMPLETED:
                fputs(r->dry_run ? "dry run: the backup was verified and staged; nothing was stopped, the staged data is removed"
                                 : "etcd and the control plane run on the restored data",
                      f);
                break;
        case RESTORE_ROLLING_BACK:
                fprintf(f, "putting the previous data back, because: %s", strna(r->error));
                break;
        case RESTORE_ROLLED_BACK:
                fputs("etcd and the control plane run on the previous data again", f);
                break;
        case RESTORE_FAILED:
                fprintf(f, "%s: %s", rollback_failed(r) ? "the control plane may be down" : "nothing was stopped", strna(r->error));
                break;
        default:
                break;
        }
        fputc('\n', f);
}

/* Whether a restore now at phase now went through the earlier phase p: the phases of the way
 * forward while it is on it (a dry run skips from staging to completed); rolling-back, on the
 * way to rolled-back or to a failed rollback. Where a failure struck is not known from here. */
static bool phase_passed(const RestoreInfo *r, RestorePhase p, RestorePhase now) {
        if (now <= RESTORE_COMPLETED)
                return !r->dry_run || p <= RESTORE_STAGING;
        if (p == RESTORE_ROLLING_BACK)
                return now == RESTORE_ROLLED_BACK || rollback_failed(r);
        return false;
}

int restore_stage(const void *info) {
        return MAX((int) restore_info_phase(info), -1);
}

void restore_stage_lines(const void *info, int shown, FILE *f) {
        const RestoreInfo *r = info;
        RestorePhase now = restore_info_phase(r);

        if (now < 0)
                return;
        if (shown < 0 && !isempty(r->backup))
                fprintf(f, "Restore %s of backup %s%s:\n", strna(r->id), r->backup, r->dry_run ? " (dry run)" : "");
        else if (shown < 0 && streq_ptr(r->kind, "stop"))
                fprintf(f, "Stop %s of the control plane and etcd:\n", strna(r->id));
        else if (shown < 0 && streq_ptr(r->kind, "rejoin"))
                fprintf(f, "Rejoin %s of the cluster at %s:\n", strna(r->id), strna(r->endpoint));
        else if (shown < 0)
                fprintf(f, "%s %s:\n", strna(r->kind), strna(r->id));
        for (int p = MAX(shown + 1, 0); p < (int) now; p++)
                if (phase_passed(r, p, now))
                        phase_line(r, p, f);
        phase_line(r, now, f);
}

bool restore_progress_line(const void *info, char *buf, size_t size) {
        const RestoreInfo *r = info;

        if (restore_phase_is_final(restore_info_phase(r)) || !r->phase)
                return false;
        if (streq_ptr(r->kind, "rejoin"))
                snprintf(buf, size, "Rejoining %s: %s, %" PRIu32 "%%", strna(r->endpoint), r->phase, r->progress);
        else if (streq_ptr(r->kind, "stop"))
                snprintf(buf, size, "Stopping the control plane: %s, %" PRIu32 "%%", r->phase, r->progress);
        else
                snprintf(buf, size, "Restoring backup %s: %s, %" PRIu32 "%%", strna(r->backup), r->phase, r->progress);
        return true;
}

static void row(FILE *f, const char *label, const char *format, ...) _printf_(3, 4);
static void row(FILE *f, const char *label, const char *format, ...) {
        va_list ap;

        fprintf(f, "%15s: ", label);
        va_start(ap, format);
        vfprintf(f, format, ap);
        va_end(ap);
        fputc('\n', f);
}

void restore_print_status(const RestoreInfo *r, bool full, FILE *f) {
        RestorePhase p = restore_info_phase(r);
        char t[FORMAT_TIMESTAMP_MAX], d[FORMAT_SECONDS_MAX];

        if (full) {
                row(f, "Id", "%s", strna(r->id));
                row(f, "Kind", "%s", strna(r->kind));
        }
        if (!isempty(r->backup))
                row(f, "Backup", "%s (revision %" PRIi64 ")", r->backup, r->revision);
        if (!isempty(r->endpoint))
                row(f, "Endpoint", "%s", r->endpoint);
        if (r->cluster_id > 0)
                row(f, "Cluster", "%" PRIx64 "%s", r->cluster_id, streq_ptr(r->kind, "stop") ? " (the one it was stopped out of)" : "");
        if (r->member_id > 0)
                row(f, "Member", "%" PRIx64, r->member_id);
        if (restore_phase_is_final(p) || p < 0)
                row(f, "Phase", "%s%s", strna(r->phase), r->dry_run ? " (dry run)" : "");
        else
                row(f, "Phase", "%s, %" PRIu32 "%%%s", r->phase, r->progress, r->dry_run ? " (dry run)" : "");
        if (full) {
                row(f, "Started", "%s", format_time(t, sizeof(t), r->started) ?: "-");
                row(f, "Finished", "%s", format_time(t, sizeof(t), r->finished) ?: "-");
        }

        if (r->downtime_usec > 0)
                row(f, "Downtime", "%s", format_seconds(d, sizeof(d), r->downtime_usec));
        else if (nothing_stopped(r))
                row(f, "Downtime", "none, nothing was stopped");
        else if (rollback_failed(r))
                row(f, "Downtime", "not over: the control plane may be down");
        else
                row(f, "Downtime", "under way");

        if (r->revision_bump > 0 && p == RESTORE_COMPLETED && !r->dry_run)
                row(f, "Revision bump", "%" PRIu64 " (etcd serves revision %" PRIi64 " and later; older ones are compacted)",
                    r->revision_bump, r->revision + (int64_t) r->revision_bump);
        else if (r->revision_bump > 0)
                row(f, "Revision bump", "%" PRIu64, r->revision_bump);
        else if (p == RESTORE_COMPLETED || (p > RESTORE_STAGING && !nothing_stopped(r)))
                row(f, "Revision bump", "none");
        row(f, "Previous data", "%s", isempty(r->previous_data) ? "-" : r->previous_data);

        if (full) {
                _cleanup_free_ char *units = join_units(r->units, ", ", /* reversed= */ false);

                row(f, "Data dir", "%s", isempty(r->data_dir) ? "-" : r->data_dir);
                row(f, "Etcd unit", "%s", isempty(r->etcd_unit) ? "-" : r->etcd_unit);
                row(f, "Control plane", "%s", isempty(units) ? "-" : units);
                row(f, "Member", "%s", isempty(r->name) ? "-" : r->name);
                row(f, "Initial cluster", "%s", isempty(r->initial_cluster) ? "-" : r->initial_cluster);
        }
        if (r->resumed)
                row(f, "Resumed", "yes, by an agent started after the restore began");
        if (!isempty(r->error))
                row(f, "Error", "%s", r->error);
        if (!isempty(r->error_name))
                row(f, "Error name", "%s", short_error_name(r->error_name));
}

/* After a stop or a rejoin: what is next in the procedure (README, "Restoring a cluster of
 * several members"). true if that was said. */
static bool cluster_hint(const RestoreInfo *r, FILE *f) {
        bool stop = streq_ptr(r->kind, "stop");

        if (!stop && !streq_ptr(r->kind, "rejoin"))
                return false;
        switch (restore_info_phase(r)) {
        case RESTORE_COMPLETED:
                if (stop)
                        fputs("etcd and the control plane are stopped, and kept stopped across reboots. Next: restore\n"
                              "the backup on the recovery node, as a cluster of that one member:\n"
                              "  etcd-backupctl restore ID --initial-cluster=NAME=PEER_URL\n"
                              "then, here and on each other node in turn:\n"
                              "  etcd-backupctl rejoin --endpoint=RECOVERY_NODE_CLIENT_URL\n", f);
                else
                        fprintf(f, "This node's etcd is member %" PRIx64 " of cluster %" PRIx64 ", and its control plane runs.\n"
                                   "The data of its old member is kept in %s;\n"
                                   "once the cluster is checked it can be removed. Rejoin the next node now.\n",
                                r->member_id, r->cluster_id, strna(r->previous_data));
                return true;
        case RESTORE_ROLLED_BACK:
                if (stop)
                        fprintf(f, "The stop was rolled back: %s\netcd and the control plane run again.\n", strna(r->error));
                else
                        fprintf(f, "The rejoin was rolled back: %s\n"
                                   "This node is no member of the cluster; etcd and the control plane are kept stopped, the\n"
                                   "old member data is in place. Once the reason is dealt with, run the rejoin again.\n"
                                   "Each step is in the journal: journalctl RESTORE_ID=%s\n",
                                strna(r->error), strna(r->id));
                return true;
        default:
                return false;
        }
}

void restore_print_hint(const RestoreInfo *r, FILE *f) {
        const char *id = strna(r->id);

        if (cluster_hint(r, f))
                return;

        switch (restore_info_phase(r)) {
        case RESTORE_VERIFYING:
        case RESTORE_STAGING:
                fprintf(f, "Nothing is stopped yet; until the control plane is, the restore can be cancelled:\n"
                           "  etcd-backupctl cancel-restore %s\n", id);
                return;
        case RESTORE_COMPLETED:
                if (r->dry_run)
                        fprintf(f, "A dry run: nothing was stopped and the staged data was removed. To restore the backup:\n"
                                   "  etcd-backupctl restore %s\n", strna(r->backup));
                else if (streq_ptr(r->kind, "restore")) {
                        fputs("Next, as the Kubernetes documentation asks after every etcd restore: restart\n"
                              "kube-controller-manager, kube-scheduler and the kubelet on every control-plane node\n"
                              "(and the kubelet on the other nodes), so that none of them goes on from what it\n"
                              "cached before the restore.\n", f);
                        if (!isempty(r->previous_data))
                                fprintf(f, "The data etcd ran on before is kept, until the next restore, in\n"
                                           "  %s\n"
                                           "Once the cluster is checked, it can be removed: rm -rf %s\n",
                                        r->previous_data, r->previous_data);
                }
                return;
        case RESTORE_ROLLED_BACK:
                fprintf(f, "The restore was rolled back: %s\n"
                           "etcd and the control plane run on the data they had before the restore.\n"
                           "Each step is in the journal: journalctl RESTORE_ID=%s\n",
                        strna(r->error), id);
                return;
        case RESTORE_FAILED:
                if (rollback_failed(r)) {
                        _cleanup_free_ char *units = join_units(r->units, " ", /* reversed= */ false);
                        fprintf(f, "ROLLING BACK FAILED: the control plane of this node may be down, and etcd stopped or\n"
                                   "running on either data directory. What happened, and where each member directory\n"
                                   "is, is in the journal:\n"
                                   "  journalctl RESTORE_ID=%s\n"
                                   "  systemctl status %s%s%s\n",
                                id, isempty(r->etcd_unit) ? "etcd.service" : r->etcd_unit, isempty(units) ? "" : " ",
                                strempty(units));
                } else if (streq_ptr(r->error_name, AGENT_ERROR_CANCELLED))
                        fputs("The restore was cancelled; nothing was stopped, etcd and the control plane were not touched.\n",
                              f);
                else
                        fprintf(f, "Nothing was stopped: etcd and the control plane were not touched.\n"
                                   "Each step is in the journal: journalctl RESTORE_ID=%s\n",
                                id);
                return;
        default:
                fprintf(f, "The control plane was stopped for it: it cannot be cancelled now, and ends completed or\n"
                           "rolled back. Follow it: etcd-backupctl restore-status %s\n",
                        id);
                return;
        }
}

int restore_print_table(const RestoreInfo *restores, size_t n, const TableStyle *style, FILE *f) {
        _cleanup_(table_freep) Table *t = NULL;
        int r;

        t = table_new("ID", "KIND", "BACKUP", "STARTED", "PHASE", "DOWNTIME", "ERROR", NULL);
        if (!t)
                return -ENOMEM;
        table_set_align_right(t, 5);
        table_set_color(t, 4, color_of_state);
        table_set_ellipsize(t, 6, 100);
        table_set_width(t, style->width);
        for (size_t i = 0; i < n; i++) {
                const RestoreInfo *x = &restores[i];
                char started[FORMAT_TIME_HUMAN_MAX], downtime[FORMAT_SECONDS_MAX], kind[64];

                snprintf(kind, sizeof(kind), "%s%s", strna(x->kind), x->dry_run ? " (dry run)" : "");
                r = table_add_row(t, x->id, kind, isempty(x->backup) ? NULL : x->backup,
                                  format_time_human(started, sizeof(started), x->started, style->now), x->phase,
                                  x->downtime_usec > 0 ? format_seconds(downtime, sizeof(downtime), x->downtime_usec) : NULL,
                                  isempty(x->error_name) ? NULL : short_error_name(x->error_name));
                if (r < 0)
                        return r;
        }
        if (n > 0) {
                r = table_print(t, f, style->legend);
                if (r < 0)
                        return r;
        }
        if (style->legend)
                fprintf(f, "%s%zu restore%s listed.\n", n > 0 ? "\n" : "", n, n == 1 ? "" : "s");
        return 0;
}
