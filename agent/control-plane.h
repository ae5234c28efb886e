/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The components a restore takes down and brings back: the [ControlPlane] Units= and etcd's
 * unit, frozen into the restore when it began. Stopping goes through the list in order and
 * etcd last; starting goes through it in reverse, after etcd. Each unit is one systemd job,
 * followed to its end and judged against the unit's state (systemd-jobs.h), one after the
 * other, never waiting on the loop.
 *
 * Static pods (kubeadm's /etc/kubernetes/manifests) are the second kind of component, behind
 * the same calls and named "pod:NAME" to the callbacks: the kubelet runs what its manifest
 * directory holds, so a pod is stopped by moving NAME.yaml out of its sight
 * (STATIC_POD_HIDDEN_FORMAT, a dotfile in the same directory) and started by moving it back,
 * byte for byte. The rename is the caller's (spec->move: the agent's unit cannot write the
 * manifest directory, a helper step does, as for the data dir swap). Then the op waits, with
 * a deadline and without sleeping on the loop, for what proves it: etcd is stopped once no
 * process holds bbolt's lock on DATA_DIR/member/snap/db; kube-apiserver once a connect() to
 * 127.0.0.1 on its --secure-port (from the manifest, 6443 by default) is refused, and it is
 * up once one is accepted. A started etcd pod is not waited for here: the restore checks its
 * health as it does for a unit.
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

/* Moves pod's manifest out of the kubelet's sight (hide) or back, calling done (from the loop)
 * when that is over; result->error < 0 and result->message if it failed. */
typedef int (*control_plane_move_t)(const char *pod, bool hide, systemd_done_t done, void *done_userdata, void *userdata,
                                    SystemdCall **ret);
/* Before a manifest is hidden (hidden true) and after it is back (false): the restore journals
 * where each manifest is (the journal's "hidden" list), so that a crash leaves none hidden. */
typedef void (*control_plane_manifest_t)(ControlPlaneOp *op, const char *component, bool hidden, void *userdata);

#define CONTROL_PLANE_POD_PREFIX "pod:"

typedef struct ControlPlaneSpec {
        char * const *units;   /* [ControlPlane] Units=, in stop order */
        const char *etcd_unit; /* NULL: the control plane only (or etcd is etcd_static_pod) */
        usec_t timeout;        /* per unit */
        bool keep_going;       /* go on past a failure */
        bool hidden_ok;        /* check: a hidden manifest will do (a node stopped before) */
        /* Static pods: stopped after the units, started before them. */
        char * const *static_pods;   /* [ControlPlane] StaticPods=, in stop order */
        const char *etcd_static_pod; /* [Etcd] StaticPod=, with etcd: instead of etcd_unit */
        const char *manifest_dir;    /* [ControlPlane] ManifestDirectory= */
        const char *data_dir;        /* etcd's, for the lock that tells a stopped etcd pod */
        control_plane_move_t move;   /* needed when there is a pod */
        control_plane_manifest_t manifest;
} ControlPlaneSpec;

/* The units in order, the static pods in order, then etcd. */
int control_plane_stop(SystemdClient *c, const ControlPlaneSpec *spec, control_plane_unit_t each,
                       control_plane_done_t done, void *userdata, ControlPlaneOp **ret);
/* etcd (if given), then the static pods and the units in reverse order. */
int control_plane_start(SystemdClient *c, const ControlPlaneSpec *spec, control_plane_unit_t each,
                        control_plane_done_t done, void *userdata, ControlPlaneOp **ret);
/* Every unit is known to systemd and can be started (LoadState loaded), every pod's manifest is
 * in the manifest directory and can be read: a restore must not take etcd down for a control
 * plane it cannot bring back. */
int control_plane_check(SystemdClient *c, const ControlPlaneSpec *spec, control_plane_done_t done, void *userdata,
                        ControlPlaneOp **ret);

/* Cancels: the job being waited for is no longer followed, the later units are not touched. */
ControlPlaneOp *control_plane_op_free(ControlPlaneOp *op);
DEFINE_TRIVIAL_CLEANUP_FUNC(ControlPlaneOp *, control_plane_op_free);
