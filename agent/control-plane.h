/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The components a restore takes down and brings back: the [ControlPlane] Units= and etcd's
 * unit, frozen into the restore when it began. Stopping goes through the list in order and
 * etcd last; starting goes through it in reverse, after etcd. Each unit is one systemd job,
 * followed to its end and judged against the unit's state (systemd-jobs.h), one after the
 * other, never waiting on the loop. Issue 14 adds static pods behind the same calls.
 */

#include "systemd-jobs.h"

typedef struct ControlPlaneOp ControlPlaneOp;

/* After each unit that is where the operation was to take it: the restore records it (the
 * journal's "stopped" list) before the next one is touched. */
typedef void (*control_plane_unit_t)(ControlPlaneOp *op, const char *unit, void *userdata);
/* Once, at the end: error 0, or the first failure with a sentence naming the unit. With
 * keep_going, the later units were still tried (a rollback brings back what it can). The op
 * is freed right after: forget the pointer here, do not free it. */
typedef void (*control_plane_done_t)(ControlPlaneOp *op, int error, const char *message, void *userdata);

typedef struct ControlPlaneSpec {
        char * const *units;   /* [ControlPlane] Units=, in stop order */
        const char *etcd_unit; /* NULL: the control plane only */
        usec_t timeout;        /* per unit */
        bool keep_going;       /* go on past a failure */
} ControlPlaneSpec;

/* The units in order, then etcd. */
int control_plane_stop(SystemdClient *c, const ControlPlaneSpec *spec, control_plane_unit_t each,
                       control_plane_done_t done, void *userdata, ControlPlaneOp **ret);
/* etcd (if given), then the units in reverse order. */
int control_plane_start(SystemdClient *c, const ControlPlaneSpec *spec, control_plane_unit_t each,
                        control_plane_done_t done, void *userdata, ControlPlaneOp **ret);
/* Every unit is known to systemd and can be started (LoadState loaded): a restore must not
 * take etcd down for a control plane it cannot bring back. */
int control_plane_check(SystemdClient *c, const ControlPlaneSpec *spec, control_plane_done_t done, void *userdata,
                        ControlPlaneOp **ret);

/* Cancels: the job being waited for is no longer followed, the later units are not touched. */
ControlPlaneOp *control_plane_op_free(ControlPlaneOp *op);
DEFINE_TRIVIAL_CLEANUP_FUNC(ControlPlaneOp *, control_plane_op_free);
