/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Retention: the oldest beyond `keep` go, with two backups always spared. */

#include <stdlib.h>

#include "retention.h"

static int newest_first(const void *a, const void *b) {
        const RetentionItem *x = a, *y = b;
        return x->created < y->created ? 1 : x->created > y->created ? -1 : 0;
}

size_t retention_select(RetentionItem *items, size_t n, unsigned keep) {
        bool kept_good = false;
        size_t marked = 0;

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
