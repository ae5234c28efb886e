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

int timers_new(Manager *m, Timers **ret);
Timers *timers_free(Timers *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Timers *, timers_free);

/* Makes the timers match the configurations, soon and without waiting: passes never overlap, a
 * request during one brings another after it. */
void timers_reconcile(Timers *t);
/* The same, replying to m (with object path, if not NULL) once the timers match: a method that
 * changed a configuration returns when systemd has its timer. */
int timers_reconcile_and_reply(Timers *t, sd_bus_message *m, const char *path);
bool timers_busy(Timers *t);
