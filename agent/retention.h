/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Which backups of a configuration retention deletes after a successful backup. Pure and
 * non-logging; the caller passes the configuration's completed backups (failed backups have
 * no file and do not count).
 */

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

typedef struct RetentionItem {
        usec_t created;
        bool good;   /* not found damaged by a verification */
        bool pinned; /* a restore is reading it */
        bool delete; /* the answer */
        void *data;  /* the caller's */
} RetentionItem;

/* Sorts items newest first and marks for deletion every one beyond the newest `keep`, except
 * any a restore is reading and the newest good one, which are never deleted. keep == 0 is
 * taken as 1: the last backup is never removed by retention. Returns how many are marked. */
size_t retention_select(RetentionItem *items, size_t n, unsigned keep);
