/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Prometheus text the agent writes for node_exporter: every family with HELP and TYPE,
 * samples per configuration, values in seconds, and no sample where there is no value. */

#include <stdlib.h>

#include "metrics.h"
#include "tap.h"

TEST(two_configs) {
        const MetricsConfig configs[] = {
                {
                        .name = "default",
                        .last_success = 1700000000 * USEC_PER_SEC + 250000,
                        .last_attempt = 1700000100 * USEC_PER_SEC,
                        .has_result = true,
                        .last_ok = false,
                        .last_duration = 1500000,
                        .last_size = 4096,
                        .kept = 3,
                        .next_run = 1700001200 * USEC_PER_SEC,
                        .failures = 2,
                        .overdue = true,
                },
                { .name = "we\"ird" }, /* never backed up, no timer (disabled) */
        };
        const MetricsRestores restores = { .completed = 1, .rolled_back = 2 };
        char *text = NULL;

        CHECK(metrics_format("1.2.3", configs, 2, &restores, &text) >= 0);
        CHECK_STREQ(text,
                    "# HELP etcd_backup_agent_info The etcd backup agent that wrote these metrics.\n"
                    "# TYPE etcd_backup_agent_info gauge\n"
                    "etcd_backup_agent_info{version=\"1.2.3\"} 1\n"
                    "# HELP etcd_backup_last_success_timestamp_seconds When the last successful backup of the configuration began, in seconds since the epoch.\n"
                    "# TYPE etcd_backup_last_success_timestamp_seconds gauge\n"
                    "etcd_backup_last_success_timestamp_seconds{config=\"default\"} 1700000000.250000\n"
                    "# HELP etcd_backup_last_attempt_timestamp_seconds When the last backup of the configuration, successful or not, began.\n"
                    "# TYPE etcd_backup_last_attempt_timestamp_seconds gauge\n"
                    "etcd_backup_last_attempt_timestamp_seconds{config=\"default\"} 1700000100.000000\n"
                    "# HELP etcd_backup_last_result Whether the last backup of the configuration succeeded (1) or failed (0).\n"
                    "# TYPE etcd_backup_last_result gauge\n"
                    "etcd_backup_last_result{config=\"default\"} 0\n"
                    "# HELP etcd_backup_last_duration_seconds How long the last successful backup took.\n"
                    "# TYPE etcd_backup_last_duration_seconds gauge\n"
                    "etcd_backup_last_duration_seconds{config=\"default\"} 1.500000\n"
                    "# HELP etcd_backup_last_size_bytes The size of the file of the last successful backup.\n"
                    "# TYPE etcd_backup_last_size_bytes gauge\n"
                    "etcd_backup_last_size_bytes{config=\"default\"} 4096\n"
                    "# HELP etcd_backup_kept_backups Completed backups of the configuration in storage.\n"
                    "# TYPE etcd_backup_kept_backups gauge\n"
                    "etcd_backup_kept_backups{config=\"default\"} 3\n"
                    "etcd_backup_kept_backups{config=\"we\\\"ird\"} 0\n"
                    "# HELP etcd_backup_next_run_timestamp_seconds When the configuration's timer runs next, in seconds since the epoch.\n"
                    "# TYPE etcd_backup_next_run_timestamp_seconds gauge\n"
                    "etcd_backup_next_run_timestamp_seconds{config=\"default\"} 1700001200.000000\n"
                    "# HELP etcd_backup_failures_total Failed backups of the configuration since the agent started.\n"
                    "# TYPE etcd_backup_failures_total counter\n"
                    "etcd_backup_failures_total{config=\"default\"} 2\n"
                    "etcd_backup_failures_total{config=\"we\\\"ird\"} 0\n"
                    "# HELP etcd_backup_overdue Whether the configuration is enabled and its timer should have run more than 5 minutes ago (1) or not (0).\n"
                    "# TYPE etcd_backup_overdue gauge\n"
                    "etcd_backup_overdue{config=\"default\"} 1\n"
                    "etcd_backup_overdue{config=\"we\\\"ird\"} 0\n"
                    "# HELP etcd_backup_restores_total Restores that ended, by how they ended.\n"
                    "# TYPE etcd_backup_restores_total counter\n"
                    "etcd_backup_restores_total{result=\"completed\"} 1\n"
                    "etcd_backup_restores_total{result=\"rolled-back\"} 2\n"
                    "etcd_backup_restores_total{result=\"failed\"} 0\n");
        free(text);
}

TEST(no_configs) {
        const MetricsRestores restores = {};
        char *text = NULL;

        CHECK(metrics_format("0.1.0", NULL, 0, &restores, &text) >= 0);
        CHECK(text && strstr(text, "etcd_backup_agent_info{version=\"0.1.0\"} 1\n"));
        CHECK(text && !strstr(text, "config="));
        free(text);
}

int main(void) {
        RUN(two_configs);
        RUN(no_configs);
        return tap_finish();
}
