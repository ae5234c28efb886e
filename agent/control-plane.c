/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Stopping and starting the control plane and etcd for a restore: a list of units worked
 * through one job at a time, each judged by systemd-jobs.c (a stop must leave the unit
 * inactive with nothing starting it again, a start must leave it active). The order is the
 * point: kube-apiserver goes before etcd, so that it never serves from an etcd about to change
 * under it, and comes back after etcd is healthy. Non-logging: the restore reports.
 */

#include <stdio.h>

#include "control-plane.h"
#include "string-util.h"

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
        SystemdCall *call;
        sd_event_source *defer;
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
        strv_free(op->units);
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

static int op_next(sd_event_source *s, void *userdata);

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

        op->next++;
        if (op->error < 0 && !op->keep_going)
                op->next = strv_length(op->units);
        /* From the loop, not from within the client's callback. */
        (void) sd_event_source_set_enabled(op->defer, SD_EVENT_ONESHOT);
}

static int op_next(sd_event_source *s, void *userdata) {
        ControlPlaneOp *op = userdata;
        int r;

        while (op->units[op->next]) {
                const char *unit = op->units[op->next];

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
                op->next = op->keep_going ? op->next + 1 : strv_length(op->units);
        }
        op->done(op, op->error, op->error < 0 ? op->message : NULL, op->userdata);
        control_plane_op_free(op);
        return 0;
}

static int op_new(SystemdClient *c, OpKind kind, const ControlPlaneSpec *spec, control_plane_unit_t each,
                  control_plane_done_t done, void *userdata, ControlPlaneOp **ret) {
        _cleanup_(control_plane_op_freep) ControlPlaneOp *op = NULL;
        size_t n = strv_length(spec->units);
        int r = 0;

        op = new0(ControlPlaneOp, 1);
        if (!op)
                return -ENOMEM;
        op->client = c;
        op->kind = kind;
        op->timeout = spec->timeout;
        op->keep_going = spec->keep_going;
        op->each = each;
        op->done = done;
        op->userdata = userdata;
        op->units = new0(char *, n + 2);
        if (!op->units)
                return -ENOMEM;

        size_t k = 0;
        if (kind == OP_START && spec->etcd_unit && !(op->units[k++] = strdup(spec->etcd_unit)))
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (!(op->units[k++] = strdup(spec->units[kind == OP_START ? n - 1 - i : i])))
                        return -ENOMEM;
        if (kind != OP_START && spec->etcd_unit && !(op->units[k++] = strdup(spec->etcd_unit)))
                return -ENOMEM;

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
