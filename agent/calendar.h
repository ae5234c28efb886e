/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Every calendar a configuration gets is put to systemd's own parser: `systemd-analyze
 * calendar` runs as a child process (spawn-child.h), so the agent never waits for it.
 * libsystemd does not export the parser, and no D-Bus call offers it. One run checks many
 * expressions (all those of a configuration load). Besides what systemd refuses, refused are
 * calendars a backup schedule cannot be: one that never fires (a date that does not exist or
 * has passed: systemd finds no next elapse) and one that fires more often than once a minute.
 */

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "async-check.h"
#include "macro.h"

typedef struct CalendarCheck CalendarCheck;

typedef void (*calendar_check_done_t)(CalendarCheck *c, void *userdata);

/* Checks the n expressions; done is called once every verdict is in. */
int calendar_check_start(sd_event *e, char * const *exprs, size_t n, calendar_check_done_t done, void *userdata,
                         CalendarCheck **ret);
/* Forgets the check (done is not called) and kills what still runs. */
CalendarCheck *calendar_check_free(CalendarCheck *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(CalendarCheck *, calendar_check_free);

/* After done, the verdict on exprs[i], which the caller wrote as schedule: 0 a backup can run
 * on it; < 0 not, with error set to InvalidSchedule saying why and showing a form that works,
 * or to Failed when the check itself failed (systemd-analyze could not run, hung, ...). */
int calendar_check_verdict(CalendarCheck *c, size_t i, const char *schedule, sd_bus_error *error);

/*
 * The same for a method handler, as an asynchronous check (async-check.h): > 0 the calendar
 * expr of schedule (the text the caller gave) is good; 0 the check is under way (the handler
 * returns 1, and runs again from the top once it is done); < 0 refused, error as above.
 */
int calendar_check_message(sd_bus_message *m, const char *schedule, const char *expr, AsyncChecks *checks,
                           sd_bus_error *error);
