/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Backup schedules as operators write them, and the systemd calendar (OnCalendar=) each becomes:
 *
 *   preset            hourly, daily, weekly, monthly        systemd's own meaning of the word
 *   preset at a time  daily at 02:30, hourly at :15, ...    *-*-* 02:30:00, *-*-* *:15:00, ...
 *   interval          @every 20m, @every 6h, @every 1d      *:0/20, 0/6:00, *-*-* 00:00:00
 *   interval from     @every 6h from 02:00                  02/6:00 (the cadence restarts at
 *                                                           that time every day)
 *   cron              0 2 * * *, 30 1 * * 1-5              *-*-* 02:00:00, ...
 *   calendar          Mon..Fri *-*-* 01:30                  itself, to be checked with systemd's
 *                                                           own parser (calendar.h)
 *
 * Non-logging and pure: a refusal comes with a message that says what is wrong and shows an
 * accepted form.
 */

#include "macro.h"

typedef enum ScheduleKind {
        SCHEDULE_PRESET,
        SCHEDULE_PRESET_AT,
        SCHEDULE_INTERVAL,
        SCHEDULE_INTERVAL_FROM,
        SCHEDULE_CRON,
        SCHEDULE_CALENDAR,
        _SCHEDULE_KIND_MAX,
        _SCHEDULE_KIND_INVALID = -EINVAL,
} ScheduleKind;

const char *schedule_kind_to_string(ScheduleKind k);

typedef struct Schedule {
        ScheduleKind kind;
        char *calendar;        /* the OnCalendar= expression */
        unsigned default_keep; /* without --keep: hourly 24, daily 7, weekly 4, monthly 3, else 20 */
} Schedule;

#define SCHEDULE_DEFAULT_KEEP 20U
/* The longest schedule taken, in bytes: far beyond any real one, and short enough for a line of
 * a unit file and an argument of systemd-analyze. */
#define SCHEDULE_MAX 1024U

/* -EINVAL for a schedule that is none of the above, with *ret_message saying why. For
 * SCHEDULE_CALENDAR only the characters are checked here. A schedule is one line of printable
 * ASCII of at most SCHEDULE_MAX bytes: control characters (a newline, a tab) are refused, spaces
 * around it ignored (callers keep it without them: that is what its file gives back). */
int schedule_parse(const char *text, Schedule *ret, char **ret_message);
void schedule_done(Schedule *s);

/* A time span in systemd's syntax ("20m", "6h", "1d", "1h 30min", "90s"), in seconds. */
int parse_timespan_sec(const char *s, uint64_t *ret);
