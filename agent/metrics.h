/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The Prometheus metrics of the agent, for node_exporter's textfile collector: a pure formatter
 * of the text exposition format (HELP and TYPE for each family, one sample per configuration
 * with label config="NAME"), and the writer that puts it, atomically, at [Metrics]
 * TextfilePath= after every backup, restore and configuration change.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "time-util.h"

typedef struct MetricsConfig {
        const char *name;
        usec_t last_success;   /* CLOCK_REALTIME, 0: none */
        usec_t last_attempt;   /* 0: none */
        bool has_result;       /* a backup of it ended since it exists */
        bool last_ok;          /* ...and the last one succeeded */
        usec_t last_duration;  /* of the last successful one */
        uint64_t last_size;    /* its file's bytes */
        uint64_t kept;         /* completed backups on disk */
        usec_t next_run;       /* 0: no timer */
        uint64_t failures;     /* failed backups since the agent started */
        bool overdue;          /* enabled, and its timer should have run more than 5 min ago */
} MetricsConfig;

/* Restores that ended, by how: a counter, never less than it was while the agent runs (pruning
 * old restores does not lower it); at a start it counts the restores the agent keeps, which
 * Prometheus's rate() and increase() take as a counter reset if it is less. */
typedef struct MetricsRestores {
        uint64_t completed, rolled_back, failed;
} MetricsRestores;

/* The whole file's text. Samples of a configuration without a value (no successful backup, no
 * next run) are left out rather than given as 0, so that alerts on time() - X are not fooled. */
int metrics_format(const char *version, const MetricsConfig *configs, size_t n_configs, const MetricsRestores *restores,
                   char **ret);

typedef struct Manager Manager;
/* Something the metrics show changed: from the loop, soon (changes coming together are written
 * once), the manager's state is gathered and written, if [Metrics] TextfilePath= is not "no": a
 * temporary file in the same directory, then rename(). A missing directory (no node_exporter
 * here) is logged once and skipped. Never fails the caller. */
void manager_metrics_changed(Manager *m);
/* The restores counter as the metrics give it now (and what it counted, for the next time). */
int manager_count_restores(Manager *m, MetricsRestores *ret);
