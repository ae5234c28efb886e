/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The verbs on backups: backup (start one and follow it, or as a timer does it, wait for its
 * turn), list-backups, verify, delete-backup and import (a file from another node).
 */

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>

#include "bus-names.h"
#include "errors.h"
#include "macro.h"
#include "options.h"
#include "output.h"
#include "string-util.h"
#include "verbs.h"

static bool backup_is_done(const void *info) {
        const BackupInfo *b = info;

        return b->state && !streq(b->state, "running");
}

static bool backup_progress(const void *info, char *buf, size_t size) {
        const BackupInfo *b = info;
        char done[FORMAT_BYTES_MAX], total[FORMAT_BYTES_MAX];

        if (!streq_ptr(b->state, "running"))
                return false;
        snprintf(buf, size, "Backing up '%s': %" PRIu32 "%% (%s of %s)", strna(b->config), b->progress,
                 strna(format_bytes(done, sizeof(done), b->bytes_done)), strna(format_bytes(total, sizeof(total), b->bytes_total)));
        return true;
}

const WaitKind backup_wait_kind = {
        .interface = BACKUP_INTERFACE,
        .map = backup_map,
        .finished_signal = "BackupFinished",
        .result_property = "State",
        .is_done = backup_is_done,
        .progress = backup_progress,
};

const BusyBackoff scheduled_busy_backoff = {
        .initial = USEC_PER_SEC,
        .max = USEC_PER_MINUTE,
        .bound = USEC_PER_HOUR,
};

static const char *format_wait(char *buf, size_t size, usec_t t) {
        if (t >= USEC_PER_MINUTE)
                snprintf(buf, size, "%" PRIu64 " min", t / USEC_PER_MINUTE);
        else
                snprintf(buf, size, "%" PRIu64 " ms", t / USEC_PER_MSEC);
        return buf;
}

int backup_start(Waiter *w, const char *config, const BusyBackoff *busy, char **ret_path) {
        usec_t deadline = USEC_INFINITY, delay = busy ? busy->initial : 0;
        bool told = false;
        char bound[32];
        int r;

        /* Before the first call: the change that ends a wait must not fall between a Busy
         * answer and the wait. */
        if (busy && (r = waiter_watch_manager(w)) < 0)
                return r;

        for (;;) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                _cleanup_(manager_info_done) ManagerInfo mi = {};
                _cleanup_(backup_info_done) BackupInfo running = {};
                const char *path;
                usec_t n;

                r = sd_bus_call_method(w->bus, AGENT_BUS_NAME, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "StartBackup",
                                       &error, &reply, "s", config);
                if (r >= 0) {
                        r = sd_bus_message_read(reply, "o", &path);
                        return r < 0 ? r : free_and_strdup(ret_path, path);
                }
                if (!busy || !sd_bus_error_has_name(&error, AGENT_ERROR_BUSY))
                        return error_bus("start a backup", &error, r);

                n = now(CLOCK_MONOTONIC);
                if (deadline == USEC_INFINITY)
                        deadline = n + busy->bound;
                format_wait(bound, sizeof(bound), busy->bound);
                r = get_properties(w->bus, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, manager_map, &mi);
                if (r < 0)
                        return r;
                if (n >= deadline) {
                        fprintf(stderr, "Gave up on the backup of '%s': the agent was busy (%s) for %s.\n", config,
                                strna(mi.state), bound);
                        return -ETIME;
                }

                if (streq_ptr(mi.running_backup, "/")) {
                        /* Busy with no backup to follow: a restore, or a backup that ended
                         * meanwhile. Ask again when the Manager changes (or the agent
                         * restarts), or after the backoff in case no change comes. */
                        if (!told && !arg_quiet)
                                fprintf(stderr, "The agent is busy (%s); the backup of '%s' waits for it, at most %s.\n",
                                        strna(mi.state), config, bound);
                        told = true;
                        r = waiter_wait_manager(w, MIN(delay, deadline - n));
                        if (r < 0)
                                return r;
                        if (r == 0)
                                delay = MIN(delay * 2, busy->max);
                        continue;
                }

                r = get_properties(w->bus, mi.running_backup, BACKUP_INTERFACE, backup_map, &running);
                if (r < 0)
                        return r;
                if (streq_ptr(running.config, config)) {
                        if (!arg_quiet)
                                fprintf(stderr, "A backup of '%s' is running already (%s); following it.\n", config, running.id);
                        return free_and_strdup(ret_path, mi.running_backup);
                }
                if (!arg_quiet)
                        fprintf(stderr, "Waiting for backup %s of '%s' to end.\n", running.id, strna(running.config));
                r = waiter_follow(w, mi.running_backup, &running, deadline);
                if (r < 0 && r != -ETIME) /* past the deadline: the next Busy gives up */
                        return r;
        }
}

int verb_backup(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(waiter_done) Waiter w = {};
        _cleanup_(backup_info_done) BackupInfo info = {};
        _cleanup_free_ char *path = NULL;
        const char *config = argc > 1 ? argv[1] : "default";
        int r;

        r = waiter_init(&w, bus, &backup_wait_kind, isatty(STDERR_FILENO) && arg_json == JSON_OFF && !arg_scheduled && !arg_quiet);
        if (r < 0)
                return r;

        r = backup_start(&w, config, arg_scheduled ? &scheduled_busy_backoff : NULL, &path);
        if (r == -ECANCELED) {
                if (!arg_quiet)
                        fprintf(stderr, "Stopped waiting; no backup of '%s' was started.\n", config);
                return 0;
        }
        if (r < 0)
                return r;

        if (arg_wait)
                r = waiter_follow(&w, path, &info, USEC_INFINITY);
        else
                r = get_properties(bus, path, BACKUP_INTERFACE, backup_map, &info);
        if (r == -ECANCELED) {
                if (!arg_quiet)
                        fprintf(stderr, "Backup %s continues in the background.\n", info.id);
                return 0;
        }
        if (r < 0)
                return r;

        if (arg_json != JSON_OFF) {
                JsonWriter j = json_writer();
                json_backup(&j, &info);
                json_finish(&j);
        } else
                printf("%s\n", info.id);

        if (arg_wait && !streq_ptr(info.state, "completed")) {
                fprintf(stderr, "Backup %s of '%s' failed: %s\n", info.id, config, strna(info.error));
                return -EIO;
        }
        return 0;
}

int verb_list_backups(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(objects_done) Objects o = {};
        const char *config = argc > 1 ? argv[1] : NULL;
        size_t n = 0;
        int r;

        r = get_objects(bus, &o);
        if (r < 0)
                return r;

        if (arg_json != JSON_OFF) {
                JsonWriter w = json_writer();
                json_begin_array(&w);
                for (size_t i = 0; i < o.n_backups; i++)
                        if (streq_ptr(o.backups[i].state, "completed") && (!config || streq_ptr(o.backups[i].config, config)))
                                json_backup(&w, &o.backups[i]);
                json_end_array(&w);
                json_finish(&w);
                return 0;
        }

        TableStyle style = table_style();
        r = backups_print_table(o.backups, o.n_backups, config, &style, stdout, &n);
        if (r < 0)
                return r;
        if (arg_legend && !arg_quiet)
                printf("%s%zu backup%s listed.\n", n > 0 ? "\n" : "", n, n == 1 ? "" : "s");
        return 0;
}

int verb_verify(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, AGENT_BUS_NAME, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "VerifyBackup");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", argv[1]);
        if (r < 0)
                return r;
        /* Reading a large backup end to end takes a while; the default 25 s would cut it off. */
        r = sd_bus_call(bus, m, 60 * 60 * USEC_PER_SEC, &error, &reply);
        if (arg_json != JSON_OFF) {
                JsonWriter w = json_writer();
                json_begin_object(&w);
                json_key(&w, "id");
                json_string(&w, argv[1]);
                json_key(&w, "verified");
                json_bool(&w, r >= 0);
                json_key(&w, "error");
                json_string(&w, r < 0 ? error.message : NULL);
                json_key(&w, "error_name");
                json_string(&w, r < 0 ? error.name : NULL);
                json_end_object(&w);
                json_finish(&w);
        }
        if (r < 0)
                return error_bus("verify the backup", &error, r);
        if (arg_json == JSON_OFF && !arg_quiet)
                printf("Backup %s is intact.\n", argv[1]);
        return 0;
}

int verb_delete_backup(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(bus, AGENT_BUS_NAME, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "DeleteBackup", &error, NULL, "s", argv[1]);
        if (r < 0)
                return error_bus("delete the backup", &error, r);
        json_done("id", argv[1], "deleted");
        return 0;
}

int verb_import(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(backup_info_done) BackupInfo info = {};
        _cleanup_close_ int fd = -EBADF;
        const char *path;
        int r;

        /* The agent reads the descriptor, not the path: it need not see the file, nor could
         * it read a pipe (a backup coming through ssh on standard input, "-") by its name. */
        if (streq(argv[1], "-"))
                fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
        else
                fd = open(argv[1], O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                fprintf(stderr, "Cannot open %s: %s\n", argv[1], strerror(-r));
                return r;
        }

        r = sd_bus_message_new_method_call(bus, &m, AGENT_BUS_NAME, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "ImportBackup");
        if (r >= 0)
                r = sd_bus_message_append(m, "h", fd);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && arg_config)
                r = sd_bus_message_append(m, "{sv}", "Config", "s", arg_config);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        /* The answer comes once the file is stored and verified: no deadline of ours. The agent
         * gives up on a stream that stalls. */
        r = sd_bus_call(bus, m, USEC_INFINITY, &error, &reply);
        if (r < 0)
                return error_bus("import the backup", &error, r);
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return r;
        r = get_properties(bus, path, BACKUP_INTERFACE, backup_map, &info);
        if (r < 0)
                return r;

        if (arg_json != JSON_OFF) {
                JsonWriter w = json_writer();
                json_backup(&w, &info);
                json_finish(&w);
        } else
                printf("%s\n", info.id);
        return 0;
}
