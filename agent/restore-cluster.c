/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The two other kinds of Restore object, for a cluster of several members restored through one
 * of them (INTERFACE.md, "Multi-member clusters"; research/restore.md section 2.3): a stop
 * (Manager.StopControlPlane) on every member but the recovery node, and a rejoin
 * (Manager.Rejoin) on each of them once the recovery node serves the restored cluster. They run
 * on the restore's machinery (restore.c: the journal written before each phase acts, the helper
 * steps in transient units, the crash resume) through phases of the same names:
 *
 *   stop     verifying  the components exist; the local member's cluster and member id noted
 *            stopping   a drop-in that keeps each unit stopped (a failing condition, in the
 *                       persistent control directory: a reboot or a timer cannot start it),
 *                       then the control plane and etcd stopped (a static pod's manifest stays
 *                       hidden, which holds it as well); then completed
 *   rejoin   verifying  the endpoint serves a healthy cluster this node is no member of, with
 *                       no other member joining; nothing is stopped before this passed
 *            stopping   as a stop (nothing to do on a node stopped before)
 *            swapping   the old member dir set aside (helper step aside: old WAL must never meet
 *                       the new cluster), then MemberAdd as a learner through the endpoint
 *            starting-etcd  etcd started once with the membership the cluster answered and
 *                       --initial-cluster-state=existing (a runtime drop-in on its ExecStart=),
 *                       promoted once in sync, the member list and HashKV checked against the
 *                       cluster, the drop-in removed (the flags only matter at a first start)
 *            starting-control-plane, completed
 * A failure before anything stopped ends failed, with nothing changed. A rejoin's failure after
 * rolls back to where the node was: the learner removed, etcd stopped, the old member dir put
 * back, every unit held stopped (never started on the old data: it belongs to the old cluster).
 * A stop's failure starts again what it had stopped. After a crash a stop carries on; a rejoin
 * carries on once etcd is being started, and rolls back before.
 */

#include <fcntl.h>
#include <grpc/grpc.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus-util.h"
#include "errors.h"
#include "fs-util.h"
#include "log.h"
#include "polkit.h"
#include "restore.h"
#include "string-util.h"
#include "time-util.h"

#define CHECK_TIMEOUT (10 * USEC_PER_SEC)
#define CHANGE_TIMEOUT (30 * USEC_PER_SEC)
#define RETRY_PAUSE_USEC (500 * USEC_PER_MSEC)
/* How long a rollback tries to remove the learner: etcd refuses membership changes for 5 s
 * after a member (re)connects. */
#define REMOVE_DEADLINE (60 * USEC_PER_SEC)
#define REJOIN_START_TIMEOUT_DEFAULT (120 * USEC_PER_SEC)

struct RestoreCluster {
        EtcdEndpoint remote;      /* rejoin: the Endpoint, with the local client TLS files */
        uint64_t expect_cluster;  /* rejoin: the ClusterID option, 0 if not given */
        char *exec_path;          /* etcd's ExecStart=, read before the rejoin's drop-in */
        char **exec_argv;
        bool exec_ignore_failure;
        /* A worker's: set on the loop before it starts, read after it is joined. */
        const char *work_error_name;
        char *work_message;
};

static RestoreCluster *cluster_of(Restore *r) {
        if (!r->cluster) {
                r->cluster = new0(RestoreCluster, 1);
                if (!r->cluster)
                        return NULL;
        }
        return r->cluster;
}

void restore_cluster_free(Restore *r) {
        RestoreCluster *c = r->cluster;

        if (!c)
                return;
        etcd_endpoint_done(&c->remote);
        free(c->exec_path);
        strv_free(c->exec_argv);
        free(c->work_message);
        r->cluster = mfree(c);
}

static bool is_rejoin(Restore *r) {
        return streq(r->j.kind, RESTORE_KIND_REJOIN);
}

/* The units a stop holds: the control plane's, and etcd's unless it is a static pod. */
static int held_units(Restore *r, bool with_etcd, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;

        if (strv_extend_strv(&l, r->j.units) < 0 ||
            (with_etcd && !r->j.etcd_static_pod && r->j.etcd_unit && strv_extend(&l, r->j.etcd_unit) < 0))
                return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

/* ---- the drop-ins that keep units stopped ------------------------------------------------- */

static int hold_paths(Restore *r, const char *unit, char **ret_dir, char **ret_file) {
        if (!r->persistent_control_dir)
                return -ENOENT;
        if (asprintf(ret_dir, "%s/%s.d", r->persistent_control_dir, unit) < 0 ||
            asprintf(ret_file, "%s/" RESTORE_HOLD_DROPIN_NAME, *ret_dir) < 0)
                return -ENOMEM;
        return 0;
}

static void held_set(Restore *r, const char *unit, bool held) {
        if (held == strv_contains(r->j.held, unit))
                return;
        if (held)
                (void) strv_extend(&r->j.held, unit);
        else {
                size_t k = 0;
                for (size_t i = 0; r->j.held[i]; i++)
                        if (streq(r->j.held[i], unit))
                                free(r->j.held[i]);
                        else
                                r->j.held[k++] = r->j.held[i];
                r->j.held[k] = NULL;
                if (k == 0)
                        r->j.held = strv_free(r->j.held);
        }
        (void) restore_save(r);
}

/* A condition on the drop-in's own existence: the unit cannot start while it is there, and
 * `systemctl status` names the file that says why. */
static int hold_write(Restore *r, const char *unit) {
        _cleanup_free_ char *dir = NULL, *file = NULL, *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        int k;

        k = hold_paths(r, unit, &dir, &file);
        if (k < 0)
                return k;
        text = strdup_printf("# Written by etcd-backupd (%s %s): %s is kept stopped while its etcd cluster is restored.\n"
                             "# etcd-backupctl rejoin removes this file; to start it by hand, remove it and run\n"
                             "# systemctl daemon-reload.\n"
                             "[Unit]\nConditionPathExists=!%s\n",
                             r->j.kind, r->j.id, unit, file);
        if (!text)
                return -ENOMEM;
        held_set(r, unit, true); /* in the journal before the file exists */
        k = mkdir_p(dir, 0755);
        if (k >= 0) {
                fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                k = fd < 0 ? -errno : write_file_atomic_at(fd, RESTORE_HOLD_DROPIN_NAME, text, strlen(text), 0644);
        }
        return k;
}

static int hold_remove(Restore *r, const char *unit) {
        _cleanup_free_ char *dir = NULL, *file = NULL;
        int k;

        k = hold_paths(r, unit, &dir, &file);
        if (k < 0)
                return k;
        if (unlink(file) < 0 && errno != ENOENT)
                return -errno;
        (void) rmdir(dir);
        held_set(r, unit, false);
        return 0;
}

int restore_cluster_held(Restore *r, char **ret_file) {
        _cleanup_strv_free_ char **units = NULL;
        int k;

        k = held_units(r, true, &units);
        if (k < 0)
                return k;
        STRV_FOREACH(u, units) {
                _cleanup_free_ char *dir = NULL, *file = NULL;
                if (hold_paths(r, *u, &dir, &file) >= 0 && access(file, F_OK) >= 0) {
                        *ret_file = TAKE_PTR(file);
                        return 1;
                }
        }
        return 0;
}

/* Every unit of the list held (or let go); the first failure logged and returned. */
static int holds_apply(Restore *r, bool hold, bool with_etcd) {
        _cleanup_strv_free_ char **units = NULL;
        int k, ret = 0;

        if (held_units(r, with_etcd, &units) < 0)
                return -ENOMEM;
        STRV_FOREACH(u, units) {
                k = hold ? hold_write(r, *u) : hold_remove(r, *u);
                if (k < 0 && ret == 0) {
                        log_restore(r, LOG_ERR, k, MESSAGE_ID_RESTORE_PHASE, "%s %s: cannot %s the drop-in that keeps %s stopped "
                                    "(in %s): %m", r->j.kind, r->j.id, hold ? "write" : "remove", *u,
                                    strna(r->persistent_control_dir));
                        ret = k;
                }
        }
        return ret;
}

/* ---- the rejoin's runtime drop-in on etcd's ExecStart= ----------------------------------- */

static void on_exec_start(SystemdCall *call, const SystemdResult *result, void *userdata) {
        Restore *r = userdata;
        RestoreCluster *c = r->cluster;
        const char *path;
        int ignore, k;

        r->call = NULL;
        c->exec_path = mfree(c->exec_path);
        c->exec_argv = strv_free(c->exec_argv);
        k = result->error;
        if (k >= 0)
                k = sd_bus_message_enter_container(result->reply, 'v', "a(sasbttttuii)");
        if (k >= 0)
                k = sd_bus_message_enter_container(result->reply, 'a', "(sasbttttuii)");
        if (k >= 0)
                k = sd_bus_message_enter_container(result->reply, 'r', "sasbttttuii");
        if (k > 0)
                k = sd_bus_message_read(result->reply, "s", &path);
        if (k > 0)
                k = sd_bus_message_read_strv(result->reply, &c->exec_argv);
        if (k > 0)
                k = sd_bus_message_read(result->reply, "b", &ignore);
        if (k > 0 && strv_length(c->exec_argv) > 0 && (c->exec_path = strdup(path))) {
                c->exec_ignore_failure = ignore;
                return restore_next(r);
        }
        _cleanup_free_ char *message = strdup_printf("Cannot read ExecStart= of %s: %s", r->j.etcd_unit,
                                                     k < 0 ? (result->message ?: strerror(-k)) : "it has none");
        restore_fail(r, k < 0 ? k : -ENOEXEC, AGENT_ERROR_UNIT_FAILED, message ?: "Cannot read etcd's ExecStart=");
}

static int ask_exec_start(Restore *r) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *path = NULL;
        int k;

        k = systemd_unit_path(r->j.etcd_unit, &path);
        if (k >= 0)
                k = sd_bus_message_new_method_call(systemd_client_bus(r->manager->systemd), &m, SYSTEMD_SERVICE, path,
                                                   DBUS_PROPERTIES_INTERFACE, "Get");
        if (k >= 0)
                k = sd_bus_message_append(m, "ss", "org.freedesktop.systemd1.Service", "ExecStart");
        if (k >= 0)
                k = systemd_call(r->manager->systemd, m, on_exec_start, r, &r->call);
        return k;
}

/* One word of a command line as systemd reads it back: quoted, with its specifiers escaped
 * (systemd resolved them when it loaded the unit; "$VAR" stays, it is expanded at exec). */
static char *quote_word(const char *word) {
        char *q = malloc(strlen(word) * 2 + 3), *p = q;

        if (!q)
                return NULL;
        *p++ = '"';
        for (const char *w = word; *w; w++) {
                if (*w == '"' || *w == '\\')
                        *p++ = '\\';
                else if (*w == '%')
                        *p++ = '%';
                *p++ = *w == '\n' ? ' ' : *w;
        }
        *p++ = '"';
        *p = 0;
        return q;
}

/* "[-]@PATH ARGV0 ARGS... --initial-cluster=... --initial-cluster-state=existing" */
static char *exec_line(RestoreCluster *c, const char *initial_cluster) {
        _cleanup_free_ char *line = NULL, *flag = strdup_printf("--initial-cluster=%s", initial_cluster);
        _cleanup_strv_free_ char **words = NULL;

        if (!flag || strv_extend(&words, c->exec_path) < 0 || strv_extend_strv(&words, c->exec_argv) < 0 ||
            strv_extend(&words, flag) < 0 || strv_extend(&words, "--initial-cluster-state=existing") < 0)
                return NULL;
        line = strdup(c->exec_ignore_failure ? "-@" : "@");
        STRV_FOREACH(w, words) {
                _cleanup_free_ char *q = quote_word(*w);
                char *joined = q && line ? strdup_printf("%s%s%s", line, w == words ? "" : " ", q) : NULL;
                free(line);
                line = joined;
                if (!line)
                        return NULL;
        }
        return TAKE_PTR(line);
}

/* etcd's first start as the new member: its own command line, and the membership last (Go's
 * flag package takes the last of a flag given twice; the variables of an EnvironmentFile= that
 * would shadow the flags, which etcd refuses, are unset). */
static int rejoin_write_dropin(Restore *r) {
        _cleanup_free_ char *dir = NULL, *file = NULL, *line = NULL, *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        int k;

        k = restore_dropin_paths(r, &dir, &file);
        if (k < 0)
                return k;
        line = exec_line(r->cluster, r->j.initial_cluster);
        if (!line)
                return -ENOMEM;
        text = strdup_printf("# Written by etcd-backupd for rejoin %s: etcd's first start as a new member of the cluster\n"
                             "# at %s. Removed once the member is in.\n"
                             "[Service]\nTimeoutStartSec=%" PRIu64 "us\n"
                             "UnsetEnvironment=ETCD_INITIAL_CLUSTER ETCD_INITIAL_CLUSTER_STATE\n"
                             "ExecStart=\nExecStart=%s\n",
                             r->j.id, r->j.endpoint, r->j.start_timeout_usec, line);
        if (!text)
                return -ENOMEM;
        k = mkdir_p(dir, 0755);
        if (k >= 0) {
                fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                k = fd < 0 ? -errno : write_file_atomic_at(fd, RESTORE_DROPIN_NAME, text, strlen(text), 0644);
        }
        if (k < 0)
                log_restore(r, LOG_ERR, k, MESSAGE_ID_RESTORE_PHASE, "Rejoin %s: cannot write %s: %m", r->j.id, file);
        return k;
}

/* ---- the rejoin's flags in a static pod's manifest ----------------------------------------- */

static void on_manifest_done(SystemdCall *call, const SystemdResult *result, void *userdata) {
        Restore *r = userdata;

        r->call = NULL;
        if (result->error >= 0)
                return restore_next(r);
        _cleanup_free_ char *message = strdup_printf(
                        "The helper could not write etcd's manifest for its first start as a member: %s (journalctl -u "
                        "etcd-backup-restore-%s-manifest-%s.service)",
                        strna(result->message), r->j.id, r->j.etcd_static_pod);
        if (r->j.phase == RESTORE_ROLLING_BACK)
                return restore_rollback_failed(r, message ?: "the helper could not hide etcd's manifest");
        restore_fail(r, result->error, AGENT_ERROR_RESTORE_HELPER, message ?: "The helper could not write etcd's manifest");
}

static void note_etcd_pod_hidden(Restore *r, bool hidden) {
        _cleanup_free_ char *component = strdup_printf(CONTROL_PLANE_POD_PREFIX "%s", r->j.etcd_static_pod);
        if (component)
                restore_on_manifest_moving(NULL, component, hidden, r);
}

/* etcd's manifest as the helper derives it from the hidden original, with the membership set
 * (to: "visible"), removed again (to: "hidden"), or made the pod's own (to: NULL, the original
 * dropped: changing the manifest once more would restart the member, so the flags stay, which
 * etcd ignores once its data dir exists). The same flags each time: that is how the helper
 * tells its own manifest from someone else's. */
static int rejoin_manifest(Restore *r, const char *to) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *unit = NULL, *cluster = strdup_printf("initial-cluster=%s", r->j.initial_cluster);
        int k;

        if (!cluster || asprintf(&unit, "etcd-backup-restore-%s-manifest-%s.service", r->j.id, r->j.etcd_static_pod) < 0)
                return -ENOMEM;
        char **argv = to ? STRV_MAKE(RESTORE_HELPER_PATH, "manifest", "--dir", r->j.manifest_dir, "--pod", r->j.etcd_static_pod,
                                     "--to", to, "--set-flag", cluster, "--set-flag", "initial-cluster-state=existing")
                         : STRV_MAKE(RESTORE_HELPER_PATH, "manifest", "--dir", r->j.manifest_dir, "--pod", r->j.etcd_static_pod,
                                     "--drop-hidden", "--set-flag", cluster, "--set-flag", "initial-cluster-state=existing");
        k = restore_helper_message_rw(r, unit, argv, r->j.manifest_dir, &m);
        if (k < 0)
                return k;
        return systemd_start_transient_unit(r->manager->systemd, unit, m, RESTORE_HELPER_TIMEOUT, on_manifest_done, r, &r->call);
}

/* ---- workers ----------------------------------------------------------------------------- */

static void on_worker(Worker *w, bool finished, int result, void *userdata) {
        Restore *r = userdata;
        RestoreCluster *c = r->cluster;
        _cleanup_free_ char *message = NULL;

        if (!finished)
                return;
        r->worker = worker_free(r->worker);
        message = TAKE_PTR(c->work_message);
        if (result >= 0)
                return restore_next(r);
        if (r->j.phase == RESTORE_ROLLING_BACK)
                return restore_rollback_failed(r, message ?: strerror(-result));
        if (r->cancel_requested && r->j.phase < RESTORE_STOPPING)
                return restore_fail(r, -ECANCELED, AGENT_ERROR_CANCELLED, "Cancelled on request");
        restore_fail(r, result, c->work_error_name ?: agent_error_from_errno(result), message ?: strerror(-result));
}

static int start_worker(Restore *r, const char *name, worker_run_t run) {
        RestoreCluster *c = cluster_of(r);

        if (!c)
                return -ENOMEM;
        c->work_message = mfree(c->work_message);
        c->work_error_name = NULL;
        return worker_start(r->manager->event, name, run, on_worker, r, &r->worker);
}

static void pause_or_cancel(const atomic_bool *cancel) {
        for (usec_t t = 0; t < RETRY_PAUSE_USEC && !atomic_load(cancel); t += 50 * USEC_PER_MSEC)
                (void) usleep(50 * 1000);
}

static bool peer_urls_overlap(const EtcdMember *m, char * const *ours) {
        STRV_FOREACH(u, m->peer_urls)
                if (strv_contains(ours, *u))
                        return true;
        return false;
}

static int split_urls(const char *s, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *copy = strdup(strempty(s));
        char *p = copy;

        if (!copy)
                return -ENOMEM;
        for (char *w; (w = strsep(&p, ","));)
                if (*w && strv_extend(&l, w) < 0)
                        return -ENOMEM;
        if (strv_length(l) == 0)
                return -EINVAL;
        *ret = TAKE_PTR(l);
        return 0;
}

/* A stop's note of what the member was (best effort: etcd may be down already). */
static int stop_status_run(Worker *w, void *userdata) {
        Restore *r = userdata;
        _cleanup_(etcd_client_freep) EtcdClient *client = NULL;
        _cleanup_free_ char *message = NULL;
        EtcdStatus st = {};

        grpc_init();
        if (etcd_client_new(&r->endpoint, &client, &message) >= 0 &&
            etcd_client_status(client, 5 * USEC_PER_SEC, worker_cancel_flag(w), &st, &message) >= 0) {
                r->j.cluster_id = st.cluster_id;
                r->j.member_id = st.member_id;
        }
        etcd_status_done(&st);
        client = etcd_client_free(client);
        grpc_shutdown();
        return 0;
}

/* The endpoint serves a healthy cluster, the right one: before anything stops. */
static int rejoin_check_run(Worker *w, void *userdata) {
        Restore *r = userdata;
        RestoreCluster *c = r->cluster;
        const atomic_bool *cancel = worker_cancel_flag(w);
        _cleanup_(etcd_client_freep) EtcdClient *remote = NULL;
        _cleanup_(etcd_member_list_done) EtcdMemberList l = {};
        _cleanup_strv_free_ char **ours = NULL;
        _cleanup_free_ char *message = NULL;
        EtcdStatus st = {};
        int k;

        grpc_init();
        c->work_error_name = AGENT_ERROR_ETCD_UNAVAILABLE;
        k = split_urls(r->j.initial_advertise_peer_urls, &ours);
        if (k < 0) {
                c->work_error_name = AGENT_ERROR_BAD_AGENT_CONFIG;
                k = set_message(&c->work_message, k, "[Etcd] InitialAdvertisePeerURLs= names no peer URL");
                goto finish;
        }
        k = etcd_client_new(&c->remote, &remote, &message);
        if (k >= 0)
                k = etcd_client_status(remote, CHECK_TIMEOUT, cancel, &st, &message);
        if (k < 0) {
                k = set_message(&c->work_message, k, "The cluster at %s does not answer: %s", r->j.endpoint, strna(message));
                goto finish;
        }
        if (st.leader == 0 || st.errors) {
                k = set_message(&c->work_message, st.leader == 0 ? -ENOTCONN : -EUCLEAN, "The cluster at %s is not healthy: %s",
                                r->j.endpoint, st.leader == 0 ? "it has no leader" : st.errors);
                goto finish;
        }
        c->work_error_name = AGENT_ERROR_WRONG_CLUSTER;
        if (c->expect_cluster != 0 && st.cluster_id != c->expect_cluster) {
                k = set_message(&c->work_message, -EXDEV, "%s serves cluster %" PRIx64 ", not %" PRIx64 " as asked",
                                r->j.endpoint, st.cluster_id, c->expect_cluster);
                goto finish;
        }
        c->work_error_name = AGENT_ERROR_ETCD_UNAVAILABLE;
        k = etcd_client_member_list(remote, true, CHECK_TIMEOUT, cancel, &l, &message);
        if (k < 0) {
                k = set_message(&c->work_message, k, "Cannot list the members of the cluster at %s: %s", r->j.endpoint,
                                strna(message));
                goto finish;
        }
        for (size_t i = 0; i < l.n_members; i++) {
                const EtcdMember *e = l.members + i;
                if (peer_urls_overlap(e, ours)) {
                        c->work_error_name = AGENT_ERROR_WRONG_CLUSTER;
                        k = set_message(&c->work_message, -EXDEV,
                                        "This node (peer URL %s) is a member of the cluster at %s already (member %s, id "
                                        "%" PRIx64 "%s): that is not a cluster to rejoin; %s",
                                        ours[0], r->j.endpoint, *e->name ? e->name : "(not started)", e->id,
                                        e->is_learner ? ", a learner" : "",
                                        *e->name ? "point --endpoint at the restored cluster"
                                                 : "remove that member first (etcdctl member remove)");
                        goto finish;
                }
                if (e->is_learner || !*e->name) {
                        c->work_error_name = AGENT_ERROR_BUSY;
                        k = set_message(&c->work_message, -EBUSY,
                                        "Member %" PRIx64 " (%s) of the cluster at %s is still joining: one member joins at a "
                                        "time; rejoin when it is a started voting member",
                                        e->id, *e->name ? e->name : "not started", r->j.endpoint);
                        goto finish;
                }
        }
        r->j.cluster_id = st.cluster_id;
        k = 0;
finish:
        etcd_status_done(&st);
        remote = etcd_client_free(remote);
        grpc_shutdown();
        return k;
}

/* MemberAdd as a learner; the membership it answers is what etcd starts with. */
static int rejoin_add_run(Worker *w, void *userdata) {
        Restore *r = userdata;
        RestoreCluster *c = r->cluster;
        _cleanup_(etcd_client_freep) EtcdClient *remote = NULL;
        _cleanup_(etcd_member_list_done) EtcdMemberList l = {};
        _cleanup_strv_free_ char **ours = NULL;
        _cleanup_free_ char *message = NULL, *initial = NULL;
        uint64_t id = 0;
        int k;

        grpc_init();
        k = split_urls(r->j.initial_advertise_peer_urls, &ours);
        if (k >= 0)
                k = etcd_client_new(&c->remote, &remote, &message);
        if (k >= 0)
                k = etcd_client_member_add(remote, ours, true, CHANGE_TIMEOUT, worker_cancel_flag(w), &id, &l, &message);
        if (k >= 0) {
                /* In the journal at once: a rollback removes it by this id. */
                r->j.member_id = id;
                k = etcd_member_list_initial_cluster(&l, id, r->j.name, &initial, &message);
        }
        if (k >= 0) {
                free(r->j.initial_cluster);
                r->j.initial_cluster = TAKE_PTR(initial);
        } else
                k = set_message(&c->work_message, k, "Cannot add this node to the cluster at %s as a learner: %s",
                                r->j.endpoint, strna(message));
        remote = etcd_client_free(remote);
        grpc_shutdown();
        return k;
}

/* HashKV of both members at one revision: the cluster's newest, or, when that is the one a
 * restore marked compacted (no write since), the newest of each, which must then be that same
 * revision. -ERANGE while this member has not applied it yet. */
static int hash_both(EtcdClient *remote, EtcdClient *local, int64_t revision, const atomic_bool *cancel, EtcdHashKV *ret_theirs,
                     EtcdHashKV *ret_ours, char **message) {
        int k;

        k = etcd_client_hash_kv(remote, revision, CHECK_TIMEOUT, cancel, ret_theirs, message);
        if (k == -ESTALE) {
                revision = 0;
                k = etcd_client_hash_kv(remote, 0, CHECK_TIMEOUT, cancel, ret_theirs, message);
        }
        if (k >= 0)
                k = etcd_client_hash_kv(local, revision, CHECK_TIMEOUT, cancel, ret_ours, message);
        if (k >= 0 && revision == 0 && ret_ours->header.revision != ret_theirs->header.revision)
                k = set_message(message, -ERANGE, "this member is at revision %" PRIi64 ", the cluster at %" PRIi64,
                                ret_ours->header.revision, ret_theirs->header.revision);
        return k;
}

/* Once etcd runs: promoted when in sync, then its view and its data checked against the
 * cluster's. */
static int rejoin_sync_run(Worker *w, void *userdata) {
        Restore *r = userdata;
        RestoreCluster *c = r->cluster;
        const atomic_bool *cancel = worker_cancel_flag(w);
        _cleanup_(etcd_client_freep) EtcdClient *remote = NULL, *local = NULL;
        _cleanup_free_ char *message = NULL;
        usec_t deadline = now(CLOCK_MONOTONIC) + r->j.start_timeout_usec;
        int k;

        grpc_init();
        c->work_error_name = AGENT_ERROR_ETCD_UNHEALTHY;
        k = etcd_client_new(&c->remote, &remote, &message);
        if (k >= 0)
                k = etcd_client_new(&r->endpoint, &local, &message);
        if (k < 0)
                goto fail;

        /* Promoted: etcd refuses until the learner has caught up with the leader. */
        for (;;) {
                message = mfree(message);
                k = etcd_client_member_promote(remote, r->j.member_id, CHANGE_TIMEOUT, cancel, NULL, &message);
                if (k >= 0 || k == -EALREADY)
                        break;
                if (!IN_SET(-k, EAGAIN, EHOSTUNREACH, ETIMEDOUT, ENOTCONN) || now(CLOCK_MONOTONIC) >= deadline ||
                    atomic_load(cancel))
                        goto fail;
                pause_or_cancel(cancel);
        }
        log_debug("Rejoin %s: member %" PRIx64 " promoted.", r->j.id, r->j.member_id);

        /* Both sides agree on the membership and on the data, at one revision. */
        for (;;) {
                _cleanup_(etcd_member_list_done) EtcdMemberList l = {};
                EtcdStatus st = {};
                EtcdHashKV ours = {}, theirs = {};
                const EtcdMember *self;

                message = mfree(message);
                k = etcd_client_member_list(local, false, CHECK_TIMEOUT, cancel, &l, &message);
                if (k >= 0 && l.header.cluster_id != r->j.cluster_id)
                        k = set_message(&message, -EXDEV, "the local member is in cluster %" PRIx64 ", not %" PRIx64,
                                        l.header.cluster_id, r->j.cluster_id);
                self = k >= 0 ? etcd_member_list_find(&l, r->j.member_id) : NULL;
                if (k >= 0 && (!self || self->is_learner || !streq(self->name, r->j.name)))
                        k = set_message(&message, -EAGAIN, "the member list does not show member %" PRIx64 " as %s, a started voting member yet",
                                        r->j.member_id, r->j.name);
                if (k >= 0)
                        k = etcd_client_status(remote, CHECK_TIMEOUT, cancel, &st, &message);
                if (k >= 0)
                        k = hash_both(remote, local, st.revision, cancel, &theirs, &ours, &message);
                if (k >= 0 && ours.hash != theirs.hash)
                        k = set_message(&message, -EAGAIN, "HashKV at revision %" PRIi64 " is %08x here and %08x at %s",
                                        st.revision, ours.hash, theirs.hash, r->j.endpoint);
                if (k >= 0)
                        r->j.staged_revision = (uint64_t) st.revision;
                etcd_status_done(&st);
                if (k >= 0)
                        break;
                /* -ERANGE: this member has not applied that revision yet. */
                if (!IN_SET(-k, EAGAIN, ERANGE, EHOSTUNREACH, ETIMEDOUT, ENOTCONN) || now(CLOCK_MONOTONIC) >= deadline ||
                    atomic_load(cancel))
                        goto fail;
                pause_or_cancel(cancel);
        }
        k = 0;
        goto finish;
fail:
        k = set_message(&c->work_message, k, "etcd did not become a voting member in sync with the cluster at %s within %" PRIu64
                        " s: %s", r->j.endpoint, r->j.start_timeout_usec / USEC_PER_SEC, strna(message));
finish:
        local = etcd_client_free(local);
        remote = etcd_client_free(remote);
        grpc_shutdown();
        return k;
}

/* The undo of MemberAdd: by the id it gave, or (a crash before the journal had it) by this
 * node's peer URL on a member that never started. */
static int rejoin_remove_run(Worker *w, void *userdata) {
        Restore *r = userdata;
        RestoreCluster *c = r->cluster;
        const atomic_bool *cancel = worker_cancel_flag(w);
        _cleanup_(etcd_client_freep) EtcdClient *remote = NULL;
        _cleanup_strv_free_ char **ours = NULL;
        _cleanup_free_ char *message = NULL;
        usec_t deadline = now(CLOCK_MONOTONIC) + REMOVE_DEADLINE;
        uint64_t id = r->j.member_id;
        int k;

        grpc_init();
        k = split_urls(r->j.initial_advertise_peer_urls, &ours);
        if (k >= 0)
                k = etcd_client_new(&c->remote, &remote, &message);
        if (k >= 0 && id == 0) {
                _cleanup_(etcd_member_list_done) EtcdMemberList l = {};
                k = etcd_client_member_list(remote, true, CHECK_TIMEOUT, cancel, &l, &message);
                for (size_t i = 0; k >= 0 && i < l.n_members; i++)
                        if (peer_urls_overlap(l.members + i, ours) && (!*l.members[i].name || l.members[i].is_learner))
                                id = l.members[i].id;
        }
        while (k >= 0 && id != 0) {
                message = mfree(message);
                k = etcd_client_member_remove(remote, id, CHANGE_TIMEOUT, cancel, NULL, &message);
                if (k >= 0 || k == -ENOENT) {
                        k = 0;
                        break;
                }
                if (!IN_SET(-k, EHOSTUNREACH, ETIMEDOUT, ENOTCONN, EHOSTDOWN) || now(CLOCK_MONOTONIC) >= deadline ||
                    atomic_load(cancel))
                        break;
                pause_or_cancel(cancel);
                k = 0;
        }
        if (k < 0)
                (void) set_message(&c->work_message, k,
                                   "cannot remove member %" PRIx64 " from the cluster at %s (etcdctl member remove %" PRIx64 "): %s",
                                   id, r->j.endpoint, id, strna(message));
        else if (id != 0)
                log_info("Rejoin %s: member %" PRIx64 " removed from the cluster at %s again.", r->j.id, id, r->j.endpoint);
        remote = etcd_client_free(remote);
        grpc_shutdown();
        return k;
}

/* ---- the phases ------------------------------------------------------------------------ */

static void fail_oom(Restore *r) {
        restore_fail(r, -ENOMEM, AGENT_ERROR_FAILED, "Out of memory");
}

static void cluster_verifying(Restore *r) {
        int k = 0;

        switch (r->step) {
        case 0: {
                ControlPlaneSpec spec = restore_spec(r, true, 0, false);
                spec.hidden_ok = true; /* stopped before, by a stop */
                k = control_plane_check(r->manager->systemd, &spec, restore_on_control_plane_done, r, &r->cp);
                break;
        }
        case 1:
                k = restore_ask_unit_path(r);
                break;
        case 2: {
                _cleanup_strv_free_ char **units = NULL;
                if (held_units(r, true, &units) < 0)
                        return fail_oom(r);
                if (!r->persistent_control_dir && units)
                        return restore_fail(r, -ENOENT, AGENT_ERROR_FAILED,
                                            "The service manager names no control directory: nothing could keep the units "
                                            "stopped");
                k = is_rejoin(r) ? start_worker(r, "rejoin-check", rejoin_check_run) : start_worker(r, "stop-status", stop_status_run);
                break;
        }
        default:
                (void) restore_save(r);
                return restore_enter(r, RESTORE_STOPPING);
        }
        if (k < 0)
                fail_oom(r);
}

static void cluster_stopping(Restore *r) {
        switch (r->step) {
        case 0:
                if (holds_apply(r, true, true) < 0)
                        return restore_fail(r, -EIO, AGENT_ERROR_IO, "Cannot write the drop-ins that keep the units stopped");
                return restore_reload(r, true);
        case 1: {
                ControlPlaneSpec spec = restore_spec(r, true, RESTORE_STOP_TIMEOUT, false);
                if (control_plane_stop(r->manager->systemd, &spec, restore_on_unit_stopped, restore_on_control_plane_done, r,
                                       &r->cp) < 0)
                        fail_oom(r);
                return;
        }
        default:
                if (!is_rejoin(r))
                        return restore_finish(r, RESTORE_COMPLETED);
                return restore_enter(r, RESTORE_SWAPPING);
        }
}

static void helper_aside(Restore *r, const char *to) {
        restore_helper(r, streq(to, "aside") ? "aside" : "back", RESTORE_HELPER_TIMEOUT,
                       STRV_MAKE("aside", "--data-dir", r->j.data_dir, "--id", r->j.id, "--to", to));
}

static void rejoin_swapping(Restore *r) {
        switch (r->step) {
        case 0:
                return helper_aside(r, "aside");
        case 1:
                free(r->j.previous_data);
                r->j.previous_data = strdup_printf("%s/member.before-rejoin-%s", r->j.data_dir, r->j.id);
                r->j.swapped = true;
                (void) restore_save(r);
                if (start_worker(r, "rejoin-add", rejoin_add_run) < 0)
                        fail_oom(r);
                return;
        default:
                log_restore(r, LOG_INFO, 0, MESSAGE_ID_RESTORE_PHASE, "Rejoin %s: added as learner %" PRIx64 " of cluster %" PRIx64
                            "; etcd starts with --initial-cluster=%s.", r->j.id, r->j.member_id, r->j.cluster_id,
                            r->j.initial_cluster);
                return restore_enter(r, RESTORE_STARTING_ETCD);
        }
}

static void on_etcd_started(SystemdCall *call, const SystemdResult *result, void *userdata) {
        Restore *r = userdata;

        r->call = NULL;
        if (result->error < 0) {
                _cleanup_free_ char *message = strdup_printf("etcd did not start as the new member: %s",
                                                             result->message ?: strerror(-result->error));
                return restore_fail(r, result->error, AGENT_ERROR_ETCD_UNHEALTHY, message ?: "etcd did not start");
        }
        restore_next(r);
}

static void rejoin_starting_etcd(Restore *r) {
        bool reload;

        switch (r->step) {
        case 0:
                if (r->control_dir || restore_ask_unit_path(r) < 0)
                        restore_next(r);
                return;
        case 1:
                /* etcd's own command line, without a drop-in of an earlier attempt; and free to
                 * start. */
                reload = restore_remove_dropin(r);
                if (!r->j.etcd_static_pod && hold_remove(r, r->j.etcd_unit) < 0)
                        return restore_fail(r, -EIO, AGENT_ERROR_IO, "Cannot remove the drop-in that keeps etcd stopped");
                return restore_reload(r, reload || !r->j.etcd_static_pod);
        case 2:
                if (r->j.etcd_static_pod)
                        return restore_next(r);
                if (ask_exec_start(r) < 0)
                        fail_oom(r);
                return;
        case 3:
                if (r->j.etcd_static_pod) {
                        /* Still listed hidden: the original is, until the member is in. */
                        note_etcd_pod_hidden(r, true);
                        if (rejoin_manifest(r, "visible") < 0)
                                fail_oom(r);
                        return;
                }
                if (rejoin_write_dropin(r) < 0)
                        return restore_fail(r, -EIO, AGENT_ERROR_IO, "Cannot write etcd's drop-in for its first start as a member");
                return restore_reload(r, true);
        case 4:
                /* A static pod: the kubelet starts it on seeing the manifest; the sync check
                 * that follows waits for it. */
                if (r->j.etcd_static_pod)
                        return restore_next(r);
                if (systemd_job(r->manager->systemd, SYSTEMD_JOB_START, r->j.etcd_unit, r->j.start_timeout_usec + 10 * USEC_PER_SEC,
                                on_etcd_started, r, &r->call) < 0)
                        fail_oom(r);
                return;
        case 5:
                if (start_worker(r, "rejoin-sync", rejoin_sync_run) < 0)
                        fail_oom(r);
                return;
        case 6:
                (void) restore_save(r);
                log_restore(r, LOG_INFO, 0, MESSAGE_ID_RESTORE_PHASE,
                            "Rejoin %s: member %" PRIx64 " is a voting member of cluster %" PRIx64 ", its data equal to the "
                            "cluster's at revision %" PRIu64 ".", r->j.id, r->j.member_id, r->j.cluster_id, r->j.staged_revision);
                if (r->j.etcd_static_pod) {
                        if (rejoin_manifest(r, NULL) < 0)
                                fail_oom(r);
                        return;
                }
                /* The membership flags only matter at a first start: the unit is etcd's own again
                 * (a daemon-reload does not restart it). */
                return restore_reload(r, restore_remove_dropin(r));
        case 7:
                if (r->j.etcd_static_pod)
                        note_etcd_pod_hidden(r, false);
                return restore_next(r);
        default:
                return restore_enter(r, RESTORE_STARTING_CONTROL_PLANE);
        }
}

static void rejoin_starting_control_plane(Restore *r) {
        switch (r->step) {
        case 0:
                if (holds_apply(r, false, true) < 0)
                        return restore_fail(r, -EIO, AGENT_ERROR_IO, "Cannot remove the drop-ins that keep the control plane stopped");
                return restore_reload(r, true);
        case 1: {
                ControlPlaneSpec spec = restore_spec(r, false, r->j.start_timeout_usec, false);
                if (control_plane_start(r->manager->systemd, &spec, NULL, restore_on_control_plane_done, r, &r->cp) < 0)
                        fail_oom(r);
                return;
        }
        default:
                if (r->j.downtime_start > 0 && r->j.downtime_usec == 0)
                        r->j.downtime_usec = now(CLOCK_REALTIME) - r->j.downtime_start;
                return restore_finish(r, RESTORE_COMPLETED);
        }
}

static void on_rollback_done(ControlPlaneOp *op, int error, const char *message, void *userdata) {
        Restore *r = userdata;

        r->cp = NULL;
        if (error < 0)
                return restore_rollback_failed(r, message);
        restore_next(r);
}

/* A stop: what it stopped runs again. */
static void stop_rolling_back(Restore *r) {
        switch (r->step) {
        case 0:
                if (holds_apply(r, false, true) < 0)
                        return restore_rollback_failed(r, "the drop-ins that keep the units stopped cannot be removed");
                return restore_reload(r, true);
        case 1: {
                ControlPlaneSpec spec = restore_spec(r, true, r->j.start_timeout_usec, true);
                if (control_plane_start(r->manager->systemd, &spec, NULL, on_rollback_done, r, &r->cp) < 0)
                        restore_rollback_failed(r, "cannot start the control plane");
                return;
        }
        default:
                if (r->j.downtime_start > 0 && r->j.downtime_usec == 0)
                        r->j.downtime_usec = now(CLOCK_REALTIME) - r->j.downtime_start;
                return restore_finish(r, RESTORE_ROLLED_BACK);
        }
}

static void on_rollback_helper(SystemdCall *call, const SystemdResult *result, void *userdata) {
        Restore *r = userdata;

        r->call = NULL;
        if (result->error < 0) {
                _cleanup_free_ char *what = strdup_printf("the helper could not put the old member data back (journalctl -u "
                                                          "etcd-backup-restore-%s-back.service): %s",
                                                          r->j.id, strna(result->message));
                return restore_rollback_failed(r, what ?: "the helper could not put the old member data back");
        }
        restore_next(r);
}

/* A rejoin: back to a stopped node with its old data, no member of the new cluster. */
static void rejoin_rolling_back(Restore *r) {
        switch (r->step) {
        case 0:
                /* The member goes first, while this etcd may still run: once promoted it is one of
                 * the voters, and stopped first it would take the quorum the removal needs. */
                if (start_worker(r, "rejoin-remove", rejoin_remove_run) < 0)
                        restore_rollback_failed(r, "out of memory");
                return;
        case 1:
                /* The manifest with the flags (if it was written); then the original is the
                 * hidden one, as the stop left it. */
                if (!r->j.etcd_static_pod || !r->j.initial_cluster)
                        return restore_next(r);
                note_etcd_pod_hidden(r, true);
                if (rejoin_manifest(r, "hidden") < 0)
                        restore_rollback_failed(r, "cannot run the helper to hide etcd's manifest");
                return;
        case 2: {
                ControlPlaneSpec spec = restore_spec(r, true, RESTORE_STOP_TIMEOUT, false);
                if (holds_apply(r, true, true) < 0)
                        return restore_rollback_failed(r, "the drop-ins that keep the units stopped cannot be written");
                if (control_plane_stop(r->manager->systemd, &spec, NULL, on_rollback_done, r, &r->cp) < 0)
                        restore_rollback_failed(r, "cannot stop etcd");
                return;
        }
        case 3: {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                _cleanup_free_ char *unit = NULL;
                if (!r->j.swapped)
                        return restore_next(r);
                /* Through restore_helper() a failure would fail the rollback's phase again. */
                char **argv = STRV_MAKE(RESTORE_HELPER_PATH, "aside", "--data-dir", r->j.data_dir, "--id", r->j.id, "--to", "back");
                if (asprintf(&unit, "etcd-backup-restore-%s-back.service", r->j.id) < 0 ||
                    restore_helper_message(r, unit, argv, &m) < 0 ||
                    systemd_start_transient_unit(r->manager->systemd, unit, m, RESTORE_HELPER_TIMEOUT, on_rollback_helper, r,
                                                 &r->call) < 0)
                        restore_rollback_failed(r, "cannot run the helper to put the old member data back");
                return;
        }
        case 4:
                r->j.swapped = false;
                r->j.previous_data = mfree(r->j.previous_data);
                (void) restore_save(r);
                (void) restore_remove_dropin(r);
                return restore_reload(r, true); /* the holds were written again */
        default:
                return restore_finish(r, RESTORE_ROLLED_BACK);
        }
}

void restore_cluster_step(Restore *r) {
        if (!cluster_of(r))
                return fail_oom(r);
        switch (r->j.phase) {
        case RESTORE_VERIFYING:
                return cluster_verifying(r);
        case RESTORE_STOPPING:
                return cluster_stopping(r);
        case RESTORE_SWAPPING:
                return rejoin_swapping(r);
        case RESTORE_STARTING_ETCD:
                return rejoin_starting_etcd(r);
        case RESTORE_STARTING_CONTROL_PLANE:
                return rejoin_starting_control_plane(r);
        case RESTORE_ROLLING_BACK:
                return is_rejoin(r) ? rejoin_rolling_back(r) : stop_rolling_back(r);
        default:
                return;
        }
}

/* The cluster's endpoint, reached with the local member's client TLS files (one CA signs the
 * members' certificates, as kubeadm sets them up). */
static int set_remote(Restore *r, const char *url) {
        RestoreCluster *c = cluster_of(r);

        if (!c || free_and_strdup(&c->remote.url, url) < 0 ||
            free_and_strdup(&c->remote.trusted_ca_file, r->endpoint.trusted_ca_file) < 0 ||
            free_and_strdup(&c->remote.cert_file, r->endpoint.cert_file) < 0 ||
            free_and_strdup(&c->remote.key_file, r->endpoint.key_file) < 0)
                return -ENOMEM;
        return 0;
}

/* After a crash, once the helper units that may have run are stopped. */
void restore_cluster_resume(Restore *r) {
        RestoreCluster *c = cluster_of(r);

        if (!c || (r->j.endpoint && set_remote(r, r->j.endpoint) < 0))
                return fail_oom(r);
        switch (r->j.phase) {
        case RESTORE_VERIFYING:
                return restore_fail(r, -EINTR, AGENT_ERROR_INTERRUPTED,
                                    "The agent was stopped before anything was stopped; nothing was changed");
        case RESTORE_STOPPING:
                if (!is_rejoin(r))
                        /* Stopping is what was asked for: on with it. */
                        return restore_enter(r, RESTORE_STOPPING);
                __attribute__((fallthrough));
        case RESTORE_SWAPPING:
                return restore_fail(r, -EINTR, AGENT_ERROR_INTERRUPTED,
                                    "The agent was stopped before the new member was started");
        case RESTORE_STARTING_ETCD:
        case RESTORE_STARTING_CONTROL_PLANE:
        case RESTORE_ROLLING_BACK:
                return restore_enter(r, r->j.phase);
        default:
                return restore_finish(r, r->j.phase);
        }
}

void restore_cluster_log_end(Restore *r, RestorePhase phase) {
        bool stop = !is_rejoin(r);

        switch (phase) {
        case RESTORE_COMPLETED:
                if (stop)
                        log_restore(r, LOG_NOTICE, 0, MESSAGE_ID_RESTORE_COMPLETED,
                                    "Stop %s completed: etcd (member %" PRIx64 " of cluster %" PRIx64 ") and the control plane "
                                    "are stopped and kept stopped; restore the backup on the recovery node, then run "
                                    "etcd-backupctl rejoin here.", r->j.id, r->j.member_id, r->j.cluster_id);
                else
                        log_restore(r, LOG_NOTICE, 0, MESSAGE_ID_RESTORE_COMPLETED,
                                    "Rejoin %s completed: etcd is member %" PRIx64 " of cluster %" PRIx64 " (through %s), in sync "
                                    "at revision %" PRIu64 "; the control plane runs; the old member data is in %s.",
                                    r->j.id, r->j.member_id, r->j.cluster_id, r->j.endpoint, r->j.staged_revision,
                                    strna(r->j.previous_data));
                break;
        case RESTORE_ROLLED_BACK:
                log_restore(r, LOG_WARNING, 0, MESSAGE_ID_RESTORE_ROLLED_BACK,
                            stop ? "Stop %s rolled back: the control plane runs again. Reason: %s"
                                 : "Rejoin %s rolled back: this node is no member of the cluster, etcd and the control plane "
                                   "are kept stopped, the old member data is in place. Reason: %s",
                            r->j.id, strna(r->j.error));
                break;
        default:
                log_restore(r, LOG_ERR, 0,
                            streq_ptr(r->j.error_name, AGENT_ERROR_ROLLBACK_FAILED) ? MESSAGE_ID_RESTORE_ROLLBACK_FAILED
                                                                                     : MESSAGE_ID_RESTORE_FAILED,
                            "%s %s failed: %s", stop ? "Stop" : "Rejoin", r->j.id, strna(r->j.error));
        }
}

/* ---- the bus methods ----------------------------------------------------------------------- */

/* What a stop and a rejoin freeze of agent.conf, as a restore does. */
static int cluster_new(Manager *m, const char *kind, uint32_t start_timeout_sec, Restore **ret) {
        _cleanup_(restore_freep) Restore *r = NULL;
        const AgentConfig *c = &m->config;
        char id[BACKUP_ID_STRING_MAX];
        int k;

        k = restore_new(m, &r);
        if (k < 0)
                return k;
        if (!cluster_of(r))
                return -ENOMEM;
        backup_id_generate(id);
        RestoreJournal *j = &r->j;
        j->phase = RESTORE_VERIFYING;
        j->started = now(CLOCK_REALTIME);
        j->start_timeout_usec = start_timeout_sec > 0 ? (usec_t) start_timeout_sec * USEC_PER_SEC : REJOIN_START_TIMEOUT_DEFAULT;
        if (free_and_strdup(&j->id, id) < 0 || free_and_strdup(&j->kind, kind) < 0 ||
            restore_freeze_node(j, c) < 0 || free_and_strdup(&j->name, c->etcd_name) < 0 ||
            free_and_strdup(&j->initial_advertise_peer_urls, c->initial_advertise_peer_urls) < 0 ||
            restore_set_local_endpoint(r, c) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(r);
        return 0;
}

int bus_manager_method_stop_control_plane(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        static const BusOption table[] = { {} };
        _cleanup_(restore_freep) Restore *r = NULL;
        uint64_t given = 0;
        int k;

        /* read */
        k = bus_read_options(msg, table, NULL, "option", &given, error);
        if (k < 0)
                return k;

        /* validate: there is something to stop */
        if (!m->config.etcd_unit && !m->config.etcd_static_pod)
                return sd_bus_error_setf(error, AGENT_ERROR_BAD_AGENT_CONFIG,
                                         "agent.conf names no etcd unit or static pod ([Etcd] Unit= or StaticPod=).");

        /* polkit */
        const char *details[] = { "operation", "stop-control-plane", NULL };
        k = polkit_check(msg, POLKIT_ACTION_RESTORE, details, m->checks, error);
        if (k <= 0)
                return k < 0 ? k : 1;

        /* busy */
        k = restore_check_idle(m, error);
        if (k < 0)
                return k;

        /* act, announce, reply */
        restore_prune(m);
        k = cluster_new(m, RESTORE_KIND_STOP, 0, &r);
        if (k >= 0)
                k = restore_begin(m, r);
        if (k < 0)
                return agent_error_setf(error, k, "Cannot start stopping the control plane: %m");
        Restore *started = TAKE_PTR(r);
        _cleanup_free_ char *what = strdup_printf("Stop %s of the control plane and etcd started", started->j.id);
        restore_announce_start(started, what ?: "Stop started");
        return sd_bus_reply_method_return(msg, "o", started->object_path);
}

typedef struct RejoinOptions {
        const char *endpoint;
        uint64_t cluster_id;
        uint32_t start_timeout_sec;
} RejoinOptions;

enum { OPTION_ENDPOINT, OPTION_CLUSTER_ID, OPTION_START_TIMEOUT };

int bus_manager_method_rejoin(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        static const BusOption table[] = {
                [OPTION_ENDPOINT] = { "Endpoint", 's', offsetof(RejoinOptions, endpoint) },
                [OPTION_CLUSTER_ID] = { "ClusterID", 't', offsetof(RejoinOptions, cluster_id) },
                [OPTION_START_TIMEOUT] = { "StartTimeoutSec", 'u', offsetof(RejoinOptions, start_timeout_sec) },
                {},
        };
        _cleanup_(restore_freep) Restore *r = NULL;
        _cleanup_free_ char *target = NULL;
        RejoinOptions o = {};
        uint64_t given = 0;
        bool tls;
        int k;

        /* read */
        k = bus_read_options(msg, table, &o, "option", &given, error);
        if (k < 0)
                return k;

        /* validate */
        if (!o.endpoint)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Option Endpoint is needed: a client URL of the restored cluster.");
        if (etcd_endpoint_parse_url(o.endpoint, &target, &tls) < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Endpoint '%s' is no etcd client URL (http://HOST:PORT or https://HOST:PORT).", o.endpoint);
        if ((given & (UINT64_C(1) << OPTION_START_TIMEOUT)) && o.start_timeout_sec == 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "StartTimeoutSec must be at least 1.");
        if (!m->config.etcd_name || !m->config.initial_advertise_peer_urls)
                return sd_bus_error_setf(error, AGENT_ERROR_BAD_AGENT_CONFIG,
                                         "agent.conf must name this member: [Etcd] Name= and InitialAdvertisePeerURLs=.");
        if (!m->config.etcd_unit && !m->config.etcd_static_pod)
                return sd_bus_error_setf(error, AGENT_ERROR_BAD_AGENT_CONFIG,
                                         "agent.conf names no etcd unit or static pod ([Etcd] Unit= or StaticPod=).");

        /* polkit */
        const char *details[] = { "operation", "rejoin", "endpoint", o.endpoint, NULL };
        k = polkit_check(msg, POLKIT_ACTION_RESTORE, details, m->checks, error);
        if (k <= 0)
                return k < 0 ? k : 1;

        /* busy */
        k = restore_check_idle(m, error);
        if (k < 0)
                return k;

        /* act, announce, reply */
        restore_prune(m);
        k = cluster_new(m, RESTORE_KIND_REJOIN, o.start_timeout_sec, &r);
        if (k >= 0 && (free_and_strdup(&r->j.endpoint, o.endpoint) < 0 || set_remote(r, o.endpoint) < 0))
                k = -ENOMEM;
        if (k < 0)
                return agent_error_setf(error, k, "Cannot start the rejoin: %m");
        r->cluster->expect_cluster = o.cluster_id;
        k = restore_begin(m, r);
        if (k < 0)
                return agent_error_setf(error, k, "Cannot start the rejoin: %m");
        Restore *started = TAKE_PTR(r);
        _cleanup_free_ char *what = strdup_printf("Rejoin %s of the cluster at %s started, as member %s (%s)", started->j.id,
                                                  o.endpoint, started->j.name, started->j.initial_advertise_peer_urls);
        restore_announce_start(started, what ?: "Rejoin started");
        return sd_bus_reply_method_return(msg, "o", started->object_path);
}
