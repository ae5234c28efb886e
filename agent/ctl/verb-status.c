/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* status: the agent's state, a running backup or restore, the last restore's outcome, the
 * configurations whose file is broken, and each configuration's last result and next run. Exits
 * STATUS_EXIT_NOT_OK, as systemctl status for a unit not active, when an enabled configuration's
 * last backup failed or it is overdue, or a configuration's file is broken. */

#include <inttypes.h>
#include <stdio.h>

#include "bus-names.h"
#include "macro.h"
#include "options.h"
#include "output.h"
#include "restore-report.h"
#include "terminal.h"
#include "verbs.h"

int status_exit_status(const ConfigInfo *configs, size_t n, uint64_t now_usec) {
        for (size_t i = 0; i < n; i++)
                if (config_info_health(&configs[i], now_usec) != CONFIG_OK)
                        return STATUS_EXIT_NOT_OK;
        return 0;
}

int verb_status(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(manager_info_done) ManagerInfo s = {};
        _cleanup_(objects_done) Objects o = {};
        const BackupInfo *running = NULL;
        const RestoreInfo *restoring = NULL, *last_restore = NULL;
        size_t completed = 0, failed = 0;
        int r;

        r = get_properties(bus, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, manager_map, &s);
        if (r >= 0)
                r = get_objects(bus, &o);
        if (r < 0)
                return r;

        for (size_t i = 0; i < o.n_backups; i++) {
                const BackupInfo *b = &o.backups[i];
                completed += streq_ptr(b->state, "completed");
                failed += streq_ptr(b->state, "failed");
                if (streq_ptr(b->state, "running"))
                        running = b;
        }
        /* The Manager says which restore runs; the newest that ended is the last one. */
        for (size_t i = 0; i < o.n_restores; i++) {
                const RestoreInfo *x = &o.restores[i];
                if (streq_ptr(x->path, s.running_restore))
                        restoring = x;
                else if (!last_restore && restore_phase_is_final(restore_info_phase(x)))
                        last_restore = x;
        }

        if (arg_json != JSON_OFF) {
                JsonWriter w = json_writer();

                json_begin_object(&w);
                json_key(&w, "state");
                json_string(&w, s.state);
                json_key(&w, "version");
                json_string(&w, s.version);
                json_key(&w, "endpoint");
                json_string(&w, s.endpoint);
                json_key(&w, "storage_directory");
                json_string(&w, s.storage);
                /* Every agent.conf key in force, and where it came from (agent.conf, a manifest,
                 * the default). */
                json_key(&w, "detected");
                json_begin_array(&w);
                for (size_t i = 0; s.detected && s.detected[i] && s.detected[i + 1] && s.detected[i + 2]; i += 3) {
                        json_begin_object(&w);
                        json_key(&w, "key");
                        json_string(&w, s.detected[i]);
                        json_key(&w, "value");
                        json_string(&w, s.detected[i + 1]);
                        json_key(&w, "source");
                        json_string(&w, s.detected[i + 2]);
                        json_end_object(&w);
                }
                json_end_array(&w);
                json_key(&w, "detection_error");
                if (isempty(s.detection_error))
                        json_null(&w);
                else
                        json_string(&w, s.detection_error);
                json_key(&w, "backups");
                json_uint(&w, completed);
                json_key(&w, "failed_backups");
                json_uint(&w, failed);
                json_key(&w, "running_backup");
                if (running)
                        json_backup(&w, running);
                else
                        json_null(&w);
                json_key(&w, "running_restore");
                if (restoring)
                        json_restore(&w, restoring);
                else
                        json_null(&w);
                json_key(&w, "last_restore");
                if (last_restore)
                        json_restore(&w, last_restore);
                else
                        json_null(&w);
                json_key(&w, "configs");
                json_begin_array(&w);
                for (size_t i = 0; i < o.n_configs; i++)
                        json_config(&w, &o.configs[i]);
                json_end_array(&w);
                json_end_object(&w);
                json_finish(&w);
                return status_exit_status(o.configs, o.n_configs, now(CLOCK_REALTIME));
        }

        printf("       State: %s\n", strna(s.state));
        printf("     Version: %s\n", strna(s.version));
        printf("    Endpoint: %s\n", strna(s.endpoint));
        printf("     Storage: %s (%zu backup%s", strna(s.storage), completed, completed == 1 ? "" : "s");
        if (failed)
                printf(", %zu failed", failed);
        printf(")\n");
        if (!isempty(s.detection_error))
                printf("       Error: %s (the configuration before this stays in force)\n", s.detection_error);
        if (running)
                printf("     Running: backup %s of '%s', %" PRIu32 "%%\n", running->id, running->config, running->progress);
        if (restoring)
                printf("     Restore: %s of backup %s, running: %s, %" PRIu32 "%%\n", strna(restoring->id),
                       strna(restoring->backup), strna(restoring->phase), restoring->progress);
        if (last_restore) {
                char t[FORMAT_TIMESTAMP_MAX];
                printf("Last restore: %s of backup %s: %s%s%s%s at %s%s%s\n", strna(last_restore->id), strna(last_restore->backup),
                       color_of_state(last_restore->phase), strna(last_restore->phase),
                       *color_of_state(last_restore->phase) ? color_normal() : "", last_restore->dry_run ? " (dry run)" : "",
                       format_time(t, sizeof(t), last_restore->finished) ?: "-", isempty(last_restore->error) ? "" : ": ",
                       strempty(last_restore->error));
        }
        /* A file broken by hand leaves the configuration as it was, timer included: easy to miss
         * in a table, so each one is said here, with why. */
        for (size_t i = 0, n = 0; i < o.n_configs; i++) {
                const ConfigInfo *c = &o.configs[i];
                if (isempty(c->load_error))
                        continue;
                printf("%13s %s: %s\n", n++ == 0 ? "Broken:" : "", c->name, c->load_error);
        }
        putchar('\n');
        /* The settings that have a value, and where each came from: on a kubeadm node most are
         * read from etcd's manifest. */
        printf("Settings:\n");
        for (size_t i = 0; s.detected && s.detected[i] && s.detected[i + 1] && s.detected[i + 2]; i += 3)
                if (!isempty(s.detected[i + 1]))
                        printf("  %-30s %s (%s%s)\n", s.detected[i], s.detected[i + 1],
                               streq(s.detected[i + 2], "default") ? "" : "from ", s.detected[i + 2]);
        putchar('\n');
        TableStyle style = table_style();
        r = configs_print_table(o.configs, o.n_configs, /* full= */ false, &style, stdout);
        if (r < 0)
                return r;
        return status_exit_status(o.configs, o.n_configs, now(CLOCK_REALTIME));
}
