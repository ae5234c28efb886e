/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What a person reads about a restore: a line for each phase as it is reached, the progress
 * line, the two-column status, what to do next, the table of restores, and the exit status the
 * restore verbs return for it. Pure: each prints to the FILE it is given (the unit tests read
 * them from memory).
 */

#include <stdbool.h>
#include <stdio.h>

#include "objects.h"
#include "output.h"
#include "restore-phase.h"

/* The exit statuses of `etcd-backupctl restore` (man/etcd-backupctl.1 lists them). 1 is also
 * what every verb returns when it could not do what it was asked. */
typedef enum RestoreExit {
        RESTORE_EXIT_COMPLETED = 0,
        RESTORE_EXIT_NOT_STARTED = 1,     /* refused, invalid options, the agent unreachable */
        RESTORE_EXIT_FAILED = 2,          /* failed before anything was stopped */
        RESTORE_EXIT_ROLLED_BACK = 3,     /* the control plane runs on the previous data again */
        RESTORE_EXIT_ROLLBACK_FAILED = 4, /* the control plane may be down */
        RESTORE_EXIT_UNKNOWN = 5,         /* stopped waiting before the end; the restore goes on */
} RestoreExit;

RestorePhase restore_info_phase(const RestoreInfo *r);
RestoreExit restore_exit_status(const RestoreInfo *r);

/* For the waiter (WaitKind.stage, .stage_lines, .progress). */
int restore_stage(const void *info);
void restore_stage_lines(const void *info, int shown, FILE *f);
bool restore_progress_line(const void *info, char *buf, size_t size);

/* The two-column status: restore-status shows it all (full), the end of `restore` what came
 * out of it. */
void restore_print_status(const RestoreInfo *r, bool full, FILE *f);
/* What to do next, after the end or while it runs (whether it can still be cancelled). */
void restore_print_hint(const RestoreInfo *r, FILE *f);
/* list-restores: restores as they come (newest first), the legend's count when legend is on,
 * rows fitted to the style's width by shortening the error. */
int restore_print_table(const RestoreInfo *restores, size_t n, const TableStyle *style, FILE *f);
