/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The systemd timers of the backup configurations: for each enabled one, etcd-backup@NAME.timer
 * (an instance of the installed template), its OnCalendar= in a drop-in in the service
 * manager's control directory (/etc/systemd/system.control for the system manager), enabled so
 * that it starts at boot, and running; for any other, none. Everything goes through the
 * manager's D-Bus API, and the configurations' NextRun follows what the timers report.
 */

#include "manager.h"

#define TIMER_DROPIN_NAME "50-etcd-backup.conf"

typedef struct Timers Timers;

/* r is 0 when every timer the pass covered is as its configuration says, -EREMOTEIO if not
 * (the reasons are in the log). */
typedef void (*timers_done_t)(Timers *t, int r, void *userdata);

int timers_new(Manager *m, Timers **ret);
Timers *timers_free(Timers *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Timers *, timers_free);

/* Makes the timer of configuration `config` (NULL: of every configuration, and removes stray
 * ones) match it, soon and without waiting: passes never overlap, a request during one brings
 * another after it. */
void timers_reconcile(Timers *t, const char *config);
/* The same, replying to m (with object path, if not NULL) once the pass that covers the
 * change is over: a method that changed configuration `config` returns when systemd has its
 * timer, or with TimerFailed and the reason when systemd refused that timer. */
int timers_reconcile_and_reply(Timers *t, sd_bus_message *m, const char *config, const char *path);
/* The same for the agent itself (start, reload), over every timer: done once they are in
 * place. */
int timers_reconcile_then(Timers *t, timers_done_t done, void *userdata);
bool timers_busy(Timers *t);
