/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Stopping and starting the control plane and etcd for a restore: a list of units worked
 * through one job at a time, each judged by systemd-jobs.c (a stop must leave the unit
 * inactive with nothing starting it again, a start must leave it active). The order is the
 * point: kube-apiserver goes before etcd, so that it never serves from an etcd about to change
 * under it, and comes back after etcd is healthy. Non-logging: the restore reports.
 */

#include <arpa/inet.h>
#include <inttypes.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bbolt.h"
#include "control-plane.h"
#include "fs-util.h"
#include "static-pod.h"
#include "string-util.h"
#include "time-util.h"

/* How often a pod's stop or start is looked at while waited for: each look is one open() and
 * flock() or one loopback connect(), never blocking. */
#define POD_POLL_USEC (200 * USEC_PER_MSEC)
#define APISERVER_PORT_DEFAULT 6443

typedef enum OpKind {
        OP_STOP,
        OP_START,
        OP_CHECK,
} OpKind;

struct ControlPlaneOp {
        SystemdClient *client;
        OpKind kind;
        char **units; /* in the order they are worked through */
        size_t next;
        usec_t timeout;
        bool keep_going;
        bool hidden_ok;
        SystemdCall *call;
        sd_event_source *defer;
        /* Static pods */
        char *etcd_pod;
        char *manifest_dir;
        char *data_dir;
        control_plane_move_t move;
        control_plane_manifest_t manifest;
        sd_event_source *poll;
        usec_t deadline;
        unsigned port; /* the pod being waited for answers there; 0: it is etcd */
        int error;
        char *message;
        control_plane_unit_t each;
        control_plane_done_t done;
        void *userdata;
};

ControlPlaneOp *control_plane_op_free(ControlPlaneOp *op) {
        if (!op)
                return NULL;
        systemd_call_free(op->call);
        sd_event_source_disable_unref(op->defer);
        sd_event_source_disable_unref(op->poll);
        strv_free(op->units);
        free(op->etcd_pod);
        free(op->manifest_dir);
        free(op->data_dir);
        free(op->message);
        free(op);
        return NULL;
}

static void op_fail(ControlPlaneOp *op, int error, const char *message) {
        if (op->error < 0)
                return; /* the first failure is the one reported */
        op->error = error;
        free(op->message);
        op->message = strdup(message ?: "");
}

/* Past the component just handled; after a failure, to the end unless keep_going. */
static void op_advance(ControlPlaneOp *op) {
        op->next++;
        if (op->error < 0 && !op->keep_going)
                op->next = strv_length(op->units);
}

static void on_unit_done(SystemdCall *call, const SystemdResult *result, void *userdata) {
        ControlPlaneOp *op = userdata;
        const char *unit = op->units[op->next];
        char buf[512];
        int r = result->error;

        op->call = NULL; /* the client frees it after this callback */
        if (op->kind == OP_CHECK && r >= 0 && result->unit && !streq_ptr(result->unit->load_state, "loaded")) {
                snprintf(buf, sizeof(buf), "Unit %s is %s%s%s; the restore would not be able to start it again", unit,
                         strna(result->unit->load_state), result->unit->load_error ? ": " : "",
                         strempty(result->unit->load_error));
                op_fail(op, -ENOENT, buf);
        } else if (r < 0) {
                snprintf(buf, sizeof(buf), "Cannot %s %s: %s", op->kind == OP_STOP ? "stop" : op->kind == OP_START ? "start" : "look at",
                         unit, result->message ?: strerror(-r));
                op_fail(op, r, buf);
        } else if (op->each)
                op->each(op, unit, op->userdata);

        op_advance(op);
        /* From the loop, not from within the client's callback. */
        (void) sd_event_source_set_enabled(op->defer, SD_EVENT_ONESHOT);
}


static const char *pod_name(const char *component) {
        return startswith(component, CONTROL_PLANE_POD_PREFIX);
}

/* The port the pod answers on: kube-apiserver's --secure-port (any container of the pod),
 * read from the manifest wherever it is now. 0 for etcd, whose stop is told by its lock. */
static int pod_port(ControlPlaneOp *op, const char *pod, unsigned *ret, char **ret_message) {
        _cleanup_(static_pod_done) StaticPod p = {};
        _cleanup_free_ char *visible = NULL, *hidden = NULL, *error = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        int r;

        *ret = 0;
        if (streq_ptr(pod, op->etcd_pod))
                return 0;
        if (asprintf(&visible, "%s.yaml", pod) < 0 || asprintf(&hidden, "." STATIC_POD_HIDDEN_FORMAT, pod) < 0)
                return -ENOMEM;
        dir_fd = open(op->manifest_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return set_message(ret_message, -errno, "Cannot open the manifest directory %s: %m", op->manifest_dir);
        r = static_pod_load(dir_fd, visible, &p, &error);
        if (r == -ENOENT && (op->kind != OP_CHECK || op->hidden_ok))
                r = static_pod_load(dir_fd, hidden, &p, &error);
        if (r < 0)
                return set_message(ret_message, r, "Cannot read the manifest of static pod %s in %s: %s", pod, op->manifest_dir,
                                   error ?: strerror(-r));
        unsigned port = APISERVER_PORT_DEFAULT;
        for (size_t i = 0; i < p.n_containers; i++) {
                const char *v = static_pod_flag(p.containers[i].argv, "secure-port");
                if (v && (safe_atou(v, &port) < 0 || port == 0 || port > 65535))
                        return set_message(ret_message, -EBADMSG, "Static pod %s has an invalid --secure-port \"%s\"", pod, v);
        }
        *ret = port;
        return 0;
}

/* 1 if something accepts a connection on 127.0.0.1:port, 0 if it is refused, -EAGAIN if that
 * cannot be told yet. Never blocks: a non-blocking connect() on the loopback is in progress when
 * it returns, and settled (accepted or reset) by the time a poll() without a timeout looks. */
static int port_answers(unsigned port) {
        struct sockaddr_in sa = {
                .sin_family = AF_INET,
                .sin_port = htons((uint16_t) port),
                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
        };
        _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        int error = 0;
        socklen_t len = sizeof(error);

        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) >= 0)
                return 1;
        if (errno == ECONNREFUSED)
                return 0;
        if (errno != EINPROGRESS || poll(&p, 1, 0) <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
                return -EAGAIN;
        return error == 0 ? 1 : error == ECONNREFUSED ? 0 : -EAGAIN;
}

/* 1 while a process (etcd) holds bbolt's lock on the member's database. */
static int etcd_holds_data(ControlPlaneOp *op) {
        _cleanup_free_ char *db = NULL;
        _cleanup_close_ int fd = -EBADF;

        if (!op->data_dir)
                return 0;
        if (asprintf(&db, "%s/member/snap/db", op->data_dir) < 0)
                return -ENOMEM;
        fd = open(db, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        return bbolt_lock_held(fd);
}

static void pod_done(ControlPlaneOp *op, int error, const char *message) {
        const char *component = op->units[op->next];

        op->poll = sd_event_source_disable_unref(op->poll);
        if (error < 0)
                op_fail(op, error, message);
        else if (op->each)
                op->each(op, component, op->userdata);
        op_advance(op);
        (void) sd_event_source_set_enabled(op->defer, SD_EVENT_ONESHOT);
}

static int on_pod_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        ControlPlaneOp *op = userdata;
        const char *pod = pod_name(op->units[op->next]);
        _cleanup_free_ char *message = NULL;
        bool stop = op->kind == OP_STOP;
        int r;

        if (op->port > 0) {
                r = port_answers(op->port);
                if (r >= 0 && r == !stop)
                        return pod_done(op, 0, NULL), 0;
        } else {
                r = etcd_holds_data(op);
                if (r == 0)
                        return pod_done(op, 0, NULL), 0;
        }
        if (usec < op->deadline) {
                if (sd_event_source_set_time(s, usec + POD_POLL_USEC) < 0 || sd_event_source_set_enabled(s, SD_EVENT_ONESHOT) < 0)
                        pod_done(op, -ENOMEM, "Cannot wait for a static pod: out of resources");
                return 0;
        }

        if (stop && op->port > 0)
                message = strdup_printf("Static pod %s did not stop within %" PRIu64 " s of its manifest being moved to %s/."
                                        STATIC_POD_HIDDEN_FORMAT ": port %u still answers",
                                        pod, op->timeout / USEC_PER_SEC, op->manifest_dir, pod, op->port);
        else if (stop)
                message = strdup_printf("Static pod %s did not stop within %" PRIu64 " s of its manifest being moved to %s/."
                                        STATIC_POD_HIDDEN_FORMAT ": %s/member/snap/db is still locked (%s)",
                                        pod, op->timeout / USEC_PER_SEC, op->manifest_dir, pod, op->data_dir,
                                        r < 0 ? strerror(-r) : "held by a process");
        else
                message = strdup_printf("Static pod %s did not come back within %" PRIu64 " s of its manifest being put back "
                                        "as %s/%s.yaml (nothing answers on port %u): the kubelet did not start it again; "
                                        "touch %s/%s.yaml or restart the kubelet (systemctl restart kubelet)",
                                        pod, op->timeout / USEC_PER_SEC, op->manifest_dir, pod, op->port, op->manifest_dir, pod);
        pod_done(op, -ETIMEDOUT, message ?: "A static pod did not stop or start in time");
        return 0;
}

static void on_pod_moved(SystemdCall *call, const SystemdResult *result, void *userdata) {
        ControlPlaneOp *op = userdata;
        const char *component = op->units[op->next];
        const char *pod = pod_name(component);
        _cleanup_free_ char *message = NULL;
        bool stop = op->kind == OP_STOP;
        int r;

        op->call = NULL;
        if (result->error < 0) {
                message = strdup_printf("Cannot move the manifest of static pod %s %s: %s", pod,
                                        stop ? "out of the kubelet's sight" : "back", result->message ?: strerror(-result->error));
                return pod_done(op, result->error, message ?: "Cannot move a manifest");
        }
        if (!stop && op->manifest)
                op->manifest(op, component, false, op->userdata);
        /* A started etcd is judged by the restore's health check. */
        if (!stop && op->port == 0)
                return pod_done(op, 0, NULL);

        op->deadline = now(CLOCK_MONOTONIC) + op->timeout;
        r = sd_event_add_time(systemd_client_event(op->client), &op->poll, CLOCK_MONOTONIC, 0, 0, on_pod_poll, op);
        if (r < 0)
                pod_done(op, r, "Cannot wait for a static pod: out of resources");
}

/* One pod: checked, or its manifest moved (journaled before a hide), then waited for. */
static int pod_next(ControlPlaneOp *op, const char *component) {
        const char *pod = pod_name(component);
        _cleanup_free_ char *message = NULL;
        int r;

        r = pod_port(op, pod, &op->port, &message);
        if (r < 0) {
                op_fail(op, r, message ?: "Cannot read a static pod's manifest");
                return r;
        }
        if (op->kind == OP_CHECK) {
                if (!op->move) {
                        op_fail(op, -EOPNOTSUPP, "Static pods cannot be moved here");
                        return -EOPNOTSUPP;
                }
                pod_done(op, 0, NULL);
                return 0;
        }
        if (op->kind == OP_STOP && op->manifest)
                op->manifest(op, component, true, op->userdata);
        r = op->move(pod, op->kind == OP_STOP, on_pod_moved, op, op->userdata, &op->call);
        if (r < 0) {
                message = strdup_printf("Cannot move the manifest of static pod %s: %s", pod, strerror(-r));
                op_fail(op, r, message ?: "Cannot move a manifest");
        }
        return r;
}

static int op_next(sd_event_source *s, void *userdata) {
        ControlPlaneOp *op = userdata;
        int r;

        while (op->units[op->next]) {
                const char *unit = op->units[op->next];

                if (pod_name(unit)) {
                        if (pod_next(op, unit) >= 0)
                                return 0;
                        op_advance(op);
                        continue;
                }
                if (op->kind == OP_CHECK)
                        r = systemd_unit_state(op->client, unit, on_unit_done, op, &op->call);
                else
                        r = systemd_job(op->client, op->kind == OP_STOP ? SYSTEMD_JOB_STOP : SYSTEMD_JOB_START, unit,
                                        op->timeout, on_unit_done, op, &op->call);
                if (r >= 0)
                        return 0;
                char buf[256];
                snprintf(buf, sizeof(buf), "Cannot ask systemd about %s: %s", unit, strerror(-r));
                op_fail(op, r, buf);
                op_advance(op);
        }
        op->done(op, op->error, op->error < 0 ? op->message : NULL, op->userdata);
        control_plane_op_free(op);
        return 0;
}

static int strv_extend_pod(char ***l, const char *pod) {
        _cleanup_free_ char *s = strdup_printf(CONTROL_PLANE_POD_PREFIX "%s", pod);
        return s ? strv_extend(l, s) : -ENOMEM;
}

static int op_new(SystemdClient *c, OpKind kind, const ControlPlaneSpec *spec, control_plane_unit_t each,
                  control_plane_done_t done, void *userdata, ControlPlaneOp **ret) {
        _cleanup_(control_plane_op_freep) ControlPlaneOp *op = NULL;
        size_t n_units = strv_length(spec->units), n_pods = strv_length(spec->static_pods);
        int r = 0;

        op = new0(ControlPlaneOp, 1);
        if (!op)
                return -ENOMEM;
        op->client = c;
        op->kind = kind;
        op->timeout = spec->timeout;
        op->keep_going = spec->keep_going;
        op->hidden_ok = spec->hidden_ok;
        op->each = each;
        op->done = done;
        op->userdata = userdata;
        op->move = spec->move;
        op->manifest = spec->manifest;
        if (free_and_strdup(&op->etcd_pod, spec->etcd_static_pod) < 0 ||
            free_and_strdup(&op->manifest_dir, spec->manifest_dir) < 0 || free_and_strdup(&op->data_dir, spec->data_dir) < 0)
                return -ENOMEM;
        /* In stop order: the units, the pods, etcd; a start goes through it backwards. */
        _cleanup_strv_free_ char **order = new0(char *, 1);
        if (!order)
                return -ENOMEM;
        for (size_t i = 0; i < n_units; i++)
                if (strv_extend(&order, spec->units[i]) < 0)
                        return -ENOMEM;
        for (size_t i = 0; i < n_pods; i++)
                if (strv_extend_pod(&order, spec->static_pods[i]) < 0)
                        return -ENOMEM;
        if (spec->etcd_static_pod && strv_extend_pod(&order, spec->etcd_static_pod) < 0)
                return -ENOMEM;
        else if (!spec->etcd_static_pod && spec->etcd_unit && strv_extend(&order, spec->etcd_unit) < 0)
                return -ENOMEM;
        if ((n_pods > 0 || spec->etcd_static_pod) && !spec->manifest_dir)
                return -EINVAL;

        size_t n = strv_length(order);
        if (kind == OP_START)
                for (size_t i = 0; i < n / 2; i++) {
                        char *t = order[i];
                        order[i] = order[n - 1 - i];
                        order[n - 1 - i] = t;
                }
        op->units = TAKE_PTR(order);

        r = sd_event_add_defer(systemd_client_event(c), &op->defer, op_next, op);
        if (r < 0)
                return r;
        if (ret)
                *ret = op;
        TAKE_PTR(op);
        return 0;
}

int control_plane_stop(SystemdClient *c, const ControlPlaneSpec *spec, control_plane_unit_t each,
                       control_plane_done_t done, void *userdata, ControlPlaneOp **ret) {
        return op_new(c, OP_STOP, spec, each, done, userdata, ret);
}

int control_plane_start(SystemdClient *c, const ControlPlaneSpec *spec, control_plane_unit_t each,
                        control_plane_done_t done, void *userdata, ControlPlaneOp **ret) {
        return op_new(c, OP_START, spec, each, done, userdata, ret);
}

int control_plane_check(SystemdClient *c, const ControlPlaneSpec *spec, control_plane_done_t done, void *userdata,
                        ControlPlaneOp **ret) {
        return op_new(c, OP_CHECK, spec, NULL, done, userdata, ret);
}
