/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Retention: the oldest beyond `keep` go, with two backups always spared. */

#include <stdlib.h>

#include "retention.h"

/* qsort() has no context argument; retention runs on the loop's thread only. */
static usec_t sort_now;

/* 2: just taken, 1: dated up to now, 0: dated in the future. */
static int rank(const RetentionItem *i) {
        return i->just_taken ? 2 : i->created <= sort_now ? 1 : 0;
}

static int newest_first(const void *a, const void *b) {
        const RetentionItem *x = a, *y = b;
        int rx = rank(x), ry = rank(y);

        if (rx != ry)
                return rx < ry ? 1 : -1;
        return x->created < y->created ? 1 : x->created > y->created ? -1 : 0;
}

size_t retention_select(RetentionItem *items, size_t n, unsigned keep, usec_t now) {
        bool kept_good = false;
        size_t marked = 0;

        sort_now = now;
        if (n > 1) /* qsort()'s array may not be NULL */
                qsort(items, n, sizeof(RetentionItem), newest_first);
        keep = MAX(keep, 1U);

        for (size_t i = 0; i < n; i++) {
                /* Damaged backups still count towards keep (an operator may want to look at
                 * them), but never leave the configuration without a good one. */
                if (i < keep || items[i].pinned || (items[i].good && !kept_good)) {
                        items[i].delete = false;
                        kept_good = kept_good || items[i].good;
                        continue;
                }
                items[i].delete = true;
                marked++;
        }
        return marked;
}
