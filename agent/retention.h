/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Which backups of a configuration retention deletes after a successful backup. Pure and
 * non-logging; the caller passes the configuration's completed backups (failed backups have
 * no file and do not count).
 *
 * "Newest" is by the creation time written in each file, with two corrections for clocks
 * that lie. The backup just taken is the newest, whatever its date says: it was taken now.
 * And a backup dated after the present clock ranks below every backup dated up to now (among
 * themselves, by date): either the clock was ahead when it was taken, or the clock is behind
 * now; either way the backups taken now are the newer data, and a date in the future must not
 * make one backup "newest" forever.
 */

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

typedef struct RetentionItem {
        usec_t created;
        bool good;       /* not found damaged by a verification */
        bool pinned;     /* a restore is reading it */
        bool just_taken; /* the backup whose completion runs this retention */
        bool delete;     /* the answer */
        void *data;      /* the caller's */
} RetentionItem;

/* Sorts items newest first (as above, `now` being the present CLOCK_REALTIME) and marks for
 * deletion every one beyond the newest `keep`, except any a restore is reading and the newest
 * good one, which are never deleted. keep == 0 is taken as 1: the last backup is never removed
 * by retention. Returns how many are marked. */
size_t retention_select(RetentionItem *items, size_t n, unsigned keep, usec_t now);
