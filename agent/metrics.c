/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stddef.h>
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

/* The per-configuration families, in the order they are written. A sample is left out where
 * its configuration has no value (when, not if, matters for a timestamp). */
typedef enum SampleWhen { ALWAYS, IF_SUCCESS, IF_ATTEMPT, IF_RESULT, IF_NEXT_RUN } SampleWhen;
typedef enum SampleKind { SECONDS, COUNT, FLAG } SampleKind;

static const struct {
        const char *name;
        const char *type;
        const char *help;
        size_t offset;
        SampleKind kind;
        SampleWhen when;
} config_families[] = {
        { "etcd_backup_last_success_timestamp_seconds", "gauge",
          "When the last successful backup of the configuration began, in seconds since the epoch.",
          offsetof(MetricsConfig, last_success), SECONDS, IF_SUCCESS },
        { "etcd_backup_last_attempt_timestamp_seconds", "gauge",
          "When the last backup of the configuration, successful or not, began.",
          offsetof(MetricsConfig, last_attempt), SECONDS, IF_ATTEMPT },
        { "etcd_backup_last_result", "gauge", "Whether the last backup of the configuration succeeded (1) or failed (0).",
          offsetof(MetricsConfig, last_ok), FLAG, IF_RESULT },
        { "etcd_backup_last_duration_seconds", "gauge", "How long the last successful backup took.",
          offsetof(MetricsConfig, last_duration), SECONDS, IF_SUCCESS },
        { "etcd_backup_last_size_bytes", "gauge", "The size of the file of the last successful backup.",
          offsetof(MetricsConfig, last_size), COUNT, IF_SUCCESS },
        { "etcd_backup_kept_backups", "gauge", "Completed backups of the configuration in storage.",
          offsetof(MetricsConfig, kept), COUNT, ALWAYS },
        { "etcd_backup_next_run_timestamp_seconds", "gauge",
          "When the configuration's timer runs next, in seconds since the epoch.",
          offsetof(MetricsConfig, next_run), SECONDS, IF_NEXT_RUN },
        { "etcd_backup_failures_total", "counter", "Failed backups of the configuration since the agent started.",
          offsetof(MetricsConfig, failures), COUNT, ALWAYS },
        { "etcd_backup_overdue", "gauge",
          "Whether the configuration is enabled and its timer should have run more than 5 minutes ago (1) or not (0).",
          offsetof(MetricsConfig, overdue), FLAG, ALWAYS },
};

static bool sample_wanted(const MetricsConfig *c, SampleWhen when) {
        switch (when) {
        case IF_SUCCESS:
                return c->last_success > 0;
        case IF_ATTEMPT:
                return c->last_attempt > 0;
        case IF_RESULT:
                return c->has_result;
        case IF_NEXT_RUN:
                return c->next_run > 0;
        default:
                return true;
        }
}

static void put_config_sample(FILE *f, const MetricsConfig *c, size_t family) {
        const void *v = (const uint8_t *) c + config_families[family].offset;

        fprintf(f, "%s{config=\"", config_families[family].name);
        put_label_value(f, c->name);
        fputs("\"} ", f);
        switch (config_families[family].kind) {
        case SECONDS: {
                usec_t t = *(const usec_t *) v;
                fprintf(f, "%" PRIu64 ".%06" PRIu64 "\n", t / USEC_PER_SEC, t % USEC_PER_SEC);
                break;
        }
        case COUNT:
                fprintf(f, "%" PRIu64 "\n", *(const uint64_t *) v);
                break;
        case FLAG:
                fprintf(f, "%d\n", *(const bool *) v);
                break;
        }
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

        for (size_t k = 0; k < ELEMENTSOF(config_families); k++) {
                put_family(f, config_families[k].name, config_families[k].type, config_families[k].help);
                for (size_t i = 0; i < n; i++)
                        if (sample_wanted(&configs[i], config_families[k].when))
                                put_config_sample(f, &configs[i], k);
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

static void gather_config(Manager *m, const BackupConfig *c, usec_t now_usec, MetricsConfig *ret) {
        const Backup *latest = NULL;

        *ret = (MetricsConfig) {
                .overdue = backup_config_is_overdue(c, now_usec),
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

int manager_count_restores(Manager *m, MetricsRestores *ret) {
        _cleanup_strv_free_ char **counted = NULL;
        size_t n = 0;
        int r;

        /* Each restore that ended counts once, when first seen ended: those the agent found at its
         * start, then each as it ends. The list keeps the ids still listed only, so it stays as
         * short as the list of restores. */
        LIST_FOREACH(restores, i, m->restores) {
                if (!restore_phase_is_final(i->j.phase))
                        continue;
                if (!strv_contains(m->restores_counted, i->j.id))
                        m->restores_ended[i->j.phase == RESTORE_COMPLETED ? 0 : i->j.phase == RESTORE_ROLLED_BACK ? 1 : 2]++;
                r = strv_extend_counted(&counted, &n, i->j.id);
                if (r < 0)
                        return r;
        }
        strv_free(m->restores_counted);
        m->restores_counted = TAKE_PTR(counted);
        *ret = (MetricsRestores) {
                .completed = m->restores_ended[0],
                .rolled_back = m->restores_ended[1],
                .failed = m->restores_ended[2],
        };
        return 0;
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
        usec_t now_usec = now(CLOCK_REALTIME);
        LIST_FOREACH(configs, c, m->configs)
                gather_config(m, c, now_usec, &configs[n++]);
        r = manager_count_restores(m, &restores);
        if (r < 0) {
                log_oom();
                return;
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
