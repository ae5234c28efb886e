/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup-config.h"
#include "backup.h"
#include "fs-util.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "metrics.h"
#include "restore.h"
#include "string-util.h"

/* Label values in the text format escape backslash, double quote and newline. */
static void put_label_value(FILE *f, const char *s) {
        for (; *s; s++)
                if (*s == '\\' || *s == '"')
                        fprintf(f, "\\%c", *s);
                else if (*s == '\n')
                        fputs("\\n", f);
                else
                        fputc(*s, f);
}

static void put_family(FILE *f, const char *name, const char *type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_seconds(FILE *f, usec_t t) {
        fprintf(f, "%" PRIu64 ".%06" PRIu64 "\n", t / USEC_PER_SEC, t % USEC_PER_SEC);
}

/* The start of a configuration's sample: NAME{config="CONFIG"} */
static void put_sample(FILE *f, const char *metric, const MetricsConfig *c) {
        fprintf(f, "%s{config=\"", metric);
        put_label_value(f, c->name);
        fputs("\"} ", f);
}

int metrics_format(const char *version, const MetricsConfig *configs, size_t n, const MetricsRestores *restores,
                   char **ret) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;

        put_family(f, "etcd_backup_agent_info", "gauge", "The etcd backup agent that wrote these metrics.");
        fputs("etcd_backup_agent_info{version=\"", f);
        put_label_value(f, version);
        fputs("\"} 1\n", f);

        put_family(f, "etcd_backup_last_success_timestamp_seconds", "gauge",
                   "When the last successful backup of the configuration began, in seconds since the epoch.");
        for (size_t i = 0; i < n; i++) {
                const MetricsConfig *c = &configs[i];
                if (c->last_success == 0)
                        continue;
                put_sample(f, "etcd_backup_last_success_timestamp_seconds", c);
                put_seconds(f, c->last_success);
        }
        put_family(f, "etcd_backup_last_attempt_timestamp_seconds", "gauge",
                   "When the last backup of the configuration, successful or not, began.");
        for (size_t i = 0; i < n; i++) {
                const MetricsConfig *c = &configs[i];
                if (c->last_attempt == 0)
                        continue;
                put_sample(f, "etcd_backup_last_attempt_timestamp_seconds", c);
                put_seconds(f, c->last_attempt);
        }
        put_family(f, "etcd_backup_last_result", "gauge",
                   "Whether the last backup of the configuration succeeded (1) or failed (0).");
        for (size_t i = 0; i < n; i++) {
                const MetricsConfig *c = &configs[i];
                if (!c->has_result)
                        continue;
                put_sample(f, "etcd_backup_last_result", c);
                fprintf(f, "%d\n", c->last_ok);
        }
        put_family(f, "etcd_backup_last_duration_seconds", "gauge", "How long the last successful backup took.");
        for (size_t i = 0; i < n; i++) {
                const MetricsConfig *c = &configs[i];
                if (c->last_success == 0)
                        continue;
                put_sample(f, "etcd_backup_last_duration_seconds", c);
                put_seconds(f, c->last_duration);
        }
        put_family(f, "etcd_backup_last_size_bytes", "gauge", "The size of the file of the last successful backup.");
        for (size_t i = 0; i < n; i++) {
                const MetricsConfig *c = &configs[i];
                if (c->last_success == 0)
                        continue;
                put_sample(f, "etcd_backup_last_size_bytes", c);
                fprintf(f, "%" PRIu64 "\n", c->last_size);
        }
        put_family(f, "etcd_backup_kept_backups", "gauge", "Completed backups of the configuration in storage.");
        for (size_t i = 0; i < n; i++) {
                const MetricsConfig *c = &configs[i];
                put_sample(f, "etcd_backup_kept_backups", c);
                fprintf(f, "%u\n", c->kept);
        }
        put_family(f, "etcd_backup_next_run_timestamp_seconds", "gauge",
                   "When the configuration's timer runs next, in seconds since the epoch.");
        for (size_t i = 0; i < n; i++) {
                const MetricsConfig *c = &configs[i];
                if (c->next_run == 0)
                        continue;
                put_sample(f, "etcd_backup_next_run_timestamp_seconds", c);
                put_seconds(f, c->next_run);
        }
        put_family(f, "etcd_backup_failures_total", "counter", "Failed backups of the configuration since the agent started.");
        for (size_t i = 0; i < n; i++) {
                const MetricsConfig *c = &configs[i];
                put_sample(f, "etcd_backup_failures_total", c);
                fprintf(f, "%" PRIu64 "\n", c->failures);
        }

        put_family(f, "etcd_backup_restores_total", "counter", "Restores that ended, by how they ended.");
        fprintf(f, "etcd_backup_restores_total{result=\"completed\"} %" PRIu64 "\n", restores->completed);
        fprintf(f, "etcd_backup_restores_total{result=\"rolled-back\"} %" PRIu64 "\n", restores->rolled_back);
        fprintf(f, "etcd_backup_restores_total{result=\"failed\"} %" PRIu64 "\n", restores->failed);

        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(text);
        return 0;
}

/* ---- the agent's state, written where node_exporter reads it ------------------------------------ */

static void gather_config(Manager *m, const BackupConfig *c, MetricsConfig *ret) {
        const Backup *latest = NULL;

        *ret = (MetricsConfig) {
                .name = c->name,
                .last_attempt = c->last_backup,
                .has_result = !!c->last_result,
                .last_ok = streq_ptr(c->last_result, "completed"),
                .next_run = c->next_run,
                .failures = c->failures,
        };
        LIST_FOREACH(backups, b, m->backups) {
                if (b->state != BACKUP_COMPLETED || !streq_ptr(b->meta.config, c->name))
                        continue;
                ret->kept++;
                if (!latest || b->meta.created > latest->meta.created)
                        latest = b;
        }
        if (!latest)
                return;
        ret->last_success = latest->meta.created;
        ret->last_attempt = MAX(ret->last_attempt, latest->meta.created);
        ret->last_duration = latest->meta.completed > latest->meta.created ? latest->meta.completed - latest->meta.created : 0;
        ret->last_size = latest->file_size;
}

static void manager_write_metrics(Manager *m) {
        static bool missing_logged = false;
        const char *path = m->config.metrics_textfile;
        _cleanup_free_ MetricsConfig *configs = NULL;
        _cleanup_free_ char *text = NULL, *dir = NULL;
        _cleanup_close_ int fd = -EBADF;
        MetricsRestores restores = {};
        size_t n = 0;
        int r;

        if (isempty(path))
                return; /* TextfilePath=no */

        configs = new0(MetricsConfig, manager_n_configs(m) + 1);
        if (!configs) {
                log_oom();
                return;
        }
        LIST_FOREACH(configs, c, m->configs)
                gather_config(m, c, &configs[n++]);
        LIST_FOREACH(restores, i, m->restores) {
                restores.completed += i->j.phase == RESTORE_COMPLETED;
                restores.rolled_back += i->j.phase == RESTORE_ROLLED_BACK;
                restores.failed += i->j.phase == RESTORE_FAILED;
        }
        r = metrics_format(PROJECT_VERSION, configs, n, &restores, &text);
        if (r < 0) {
                log_oom();
                return;
        }

        dir = strdup(path);
        if (!dir) {
                log_oom();
                return;
        }
        fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) {
                /* No node_exporter on this node: said once, not after every backup. */
                if (!missing_logged)
                        log_info("%s does not exist: not writing metrics to %s.", dir, path);
                missing_logged = true;
                return;
        }
        if (fd < 0) {
                log_warning_errno(errno, "Failed to open %s for the metrics, ignoring: %m", dir);
                return;
        }
        missing_logged = false;
        const char *name = strrchr(path, '/') + 1; /* an absolute path, not ending in a slash */
        r = write_file_atomic_at(fd, name, text, strlen(text), 0644);
        /* node_exporter runs as its own user; the agent's UMask=0077 would hide the file from it. */
        if (r >= 0 && fchmodat(fd, name, 0644, 0) < 0)
                r = -errno;
        if (r < 0)
                log_warning_errno(r, "Failed to write the metrics to %s, ignoring: %m", path);
}

static int on_metrics(sd_event_source *s, void *userdata) {
        Manager *m = userdata;

        m->metrics_defer = sd_event_source_disable_unref(m->metrics_defer);
        manager_write_metrics(m);
        return 0;
}

void manager_metrics_changed(Manager *m) {
        if (!m->event || m->metrics_defer || isempty(m->config.metrics_textfile))
                return;
        if (sd_event_add_defer(m->event, &m->metrics_defer, on_metrics, m) < 0)
                log_oom(); /* the next change writes them */
}
