/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A worker thread bridged to the event loop. Long blocking work (an etcd stream, reading a
 * backup end to end) runs on the thread; the thread never touches sd-bus or any loop object and
 * only wakes the loop through an eventfd, where notify() then runs. The loop owns the Worker and
 * freeing it cancels and joins the thread.
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "macro.h"

typedef struct Worker Worker;

/* Runs on the thread; its return value reaches notify() as result. */
typedef int (*worker_run_t)(Worker *w, void *userdata);
/* Runs on the loop, after worker_wake() (finished=false) and once after run() returned
 * (finished=true, the thread already joined). */
typedef void (*worker_notify_t)(Worker *w, bool finished, int result, void *userdata);

int worker_start(sd_event *e, const char *name, worker_run_t run, worker_notify_t notify, void *userdata, Worker **ret);
/* Loop side: asks run() to stop at its next check. */
void worker_cancel(Worker *w);
/* Thread side. */
void worker_wake(Worker *w);
const atomic_bool *worker_cancel_flag(Worker *w);

Worker *worker_free(Worker *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(Worker *, worker_free);
