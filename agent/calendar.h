/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Checking systemd calendar expressions with systemd's own parser: `systemd-analyze calendar`
 * runs as a child process whose exit the event loop watches, so the agent never waits for it.
 * libsystemd does not export the parser, and no D-Bus call offers it.
 */

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "macro.h"

typedef struct CalendarCheck CalendarCheck;

/* r >= 0: systemd accepts expr; r < 0: it does not (or the check failed), message says why. */
typedef void (*calendar_check_done_t)(CalendarCheck *c, int r, const char *message, void *userdata);

int calendar_check_start(sd_event *e, const char *expr, calendar_check_done_t done, void *userdata,
                         CalendarCheck **ret);
/* Forgets the check (done is not called) and kills the child if it still runs. */
CalendarCheck *calendar_check_free(CalendarCheck *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(CalendarCheck *, calendar_check_free);

/*
 * The same for a method handler, in the manner of polkit_check(): > 0 systemd accepts expr;
 * 0 the check is under way (the handler returns 1, and runs again from the top once it is
 * done); < 0 refused, with error set to InvalidSchedule naming `schedule`, the text the caller
 * gave. Pending checks live in a registry owned by the Manager.
 */
typedef struct CalendarQuery CalendarQuery;
int calendar_check_message(sd_bus_message *m, const char *schedule, const char *expr, CalendarQuery **registry,
                           sd_bus_error *error);
void calendar_registry_free(CalendarQuery **registry);
