/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Manager: it loads the configuration, opens the storage directory (removing what crashed
 * backups left behind, loading what completed ones left), serves the Manager interface, the
 * per-backup and per-configuration objects through fallback vtables and node enumerators, and
 * the ObjectManager that lets `busctl` and the CLI read everything in one call. Its methods
 * follow one shape: read, validate, polkit, check for a busy agent, act, announce, reply.
 */

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "backup-config.h"
#include "backup-import.h"
#include "backup.h"
#include "bus-util.h"
#include "detect.h"
#include "errors.h"
#include "fs-util.h"
#include "log.h"
#include "manager.h"
#include "memory-util.h"
#include "metrics.h"
#include "restore.h"
#include "string-util.h"
#include "systemd-jobs.h"
#include "time-util.h"
#include "timers.h"

static const char * const manager_state_table[_MANAGER_STATE_MAX] = {
        [MANAGER_IDLE] = "idle",
        [MANAGER_BACKING_UP] = "backing-up",
        [MANAGER_RESTORING] = "restoring",
};

static int manager_open_storage(Manager *m) {
        const char *dir = m->config.storage_directory;
        struct stat st;
        int r;

        r = mkdir_p(dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Cannot create the storage directory %s: %m", dir);
        m->storage_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (m->storage_fd < 0)
                return log_error_errno(errno, "Cannot open the storage directory %s: %m", dir);
        if (fstat(m->storage_fd, &st) >= 0 && (st.st_mode & 0077))
                log_warning("Storage directory %s can be read by other users; the backup files themselves are not, "
                            "but consider chmod 0700.",
                            dir);
        return 0;
}

static int manager_load_backups(Manager *m) {
        _cleanup_close_ int fd = -EBADF;
        struct dirent *de;
        unsigned n = 0;
        DIR *d;

        fd = fcntl(m->storage_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return log_error_errno(errno, "Cannot read %s: %m", m->config.storage_directory);
        d = fdopendir(fd);
        if (!d)
                return log_error_errno(errno, "Cannot read %s: %m", m->config.storage_directory);
        fd = -EBADF; /* the DIR has it now */

        while ((de = readdir(d))) {
                if (endswith(de->d_name, BACKUP_FILE_SUFFIX BACKUP_PARTIAL_SUFFIX)) {
                        /* Left by a backup this agent was killed in the middle of: never complete. */
                        if (unlinkat(m->storage_fd, de->d_name, 0) < 0)
                                log_warning_errno(errno, "Cannot remove leftover %s, ignoring: %m", de->d_name);
                        else
                                log_notice("Removed %s, left by an interrupted backup.", de->d_name);
                        continue;
                }
                if (endswith(de->d_name, BACKUP_FILE_SUFFIX) && backup_load(m, de->d_name, NULL) >= 0)
                        n++;
        }
        closedir(d);
        log_info("Found %u backups in %s.", n, m->config.storage_directory);
        return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        manager_reload(userdata);
        return 0;
}

#define EXTEND_TIMEOUT_INTERVAL (10 * USEC_PER_SEC)

/* While the agent waits for a restore to end before it exits, systemd is asked for more time
 * before it sends SIGKILL, again and again. */
static int on_extend_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        if (!m->restore)
                return 0;
        (void) sd_notifyf(false, "EXTEND_TIMEOUT_USEC=%" PRIu64 "\nSTATUS=Stopping once restore %s is done (%s)...",
                          3 * EXTEND_TIMEOUT_INTERVAL, m->restore->j.id, restore_phase_to_string(m->restore->j.phase));
        (void) sd_event_source_set_time_relative(s, EXTEND_TIMEOUT_INTERVAL);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

/* SIGTERM, SIGINT: exit, but never in the middle of a restore: it is carried to a final phase
 * first (a restore left half-done takes the control plane down until the agent is back). */
static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        if (!m->restore) {
                m->exit_requested = true;
                return m->serving ? sd_event_exit(m->event, 0) : 0;
        }
        if (m->exit_requested)
                return 0;
        m->exit_requested = true;
        log_notice("Asked to stop during restore %s (%s): stopping once it has ended.", m->restore->j.id,
                   restore_phase_to_string(m->restore->j.phase));
        if (sd_event_add_time_relative(m->event, &m->extend_timeout, CLOCK_MONOTONIC, 0, 0, on_extend_timeout, m) < 0)
                log_oom();
        return 0;
}

static int manager_open_restores(Manager *m) {
        _cleanup_free_ char *dir = NULL;
        int r;

        if (asprintf(&dir, "%s/" RESTORES_DIR, m->state_dir) < 0)
                return log_oom();
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Cannot create %s: %m", dir);
        m->restores_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (m->restores_fd < 0)
                return log_error_errno(errno, "Cannot open %s: %m", dir);
        return manager_load_restores(m);
}

int manager_new(const char *config_path, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return log_oom();
        m->storage_fd = m->restores_fd = -EBADF;
        if (config_path && !(m->config_path = strdup(config_path)))
                return log_oom();

        r = agent_config_load(m->config_path, &m->config);
        if (r < 0)
                return r;

        /* The configurations live beside agent.conf; the agent's own state where systemd's
         * StateDirectory= put it. */
        _cleanup_free_ char *copy = strdup(m->config_path ?: AGENT_CONFIG_PATH);
        const char *state = getenv("STATE_DIRECTORY");
        if (!copy || asprintf(&m->config_dir, "%s/configs", dirname(copy)) < 0 ||
            !(m->state_dir = state ? strndup(state, strcspn(state, ":")) : strdup("/var/lib/etcd-backup")))
                return log_oom();

        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        /* NULL handlers: exit the loop. The signals were blocked in main() before any thread. */
        if ((r = sd_event_add_signal(m->event, NULL, SIGTERM, on_sigterm, m)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGINT, on_sigterm, m)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m)) < 0)
                return log_error_errno(r, "Failed to watch for signals: %m");
        r = sd_event_set_watchdog(m->event, true);
        if (r < 0)
                log_warning_errno(r, "Failed to enable the watchdog, ignoring: %m");

        r = manager_open_storage(m);
        if (r < 0)
                return r;
        r = manager_load_backups(m);
        if (r < 0)
                return r;
        r = manager_open_restores(m);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;

        /* Close the bus first: the objects going away now are not news to anyone. Timers stay
         * as they are: they fire, and bus activation brings the agent back. */
        m->checks = async_checks_free(m->checks);
        /* Cancelled at the loop's exit already, unless the loop failed. */
        m->import = backup_import_free(m->import);
        backup_configs_cancel_load(m);
        m->retention_defer = sd_event_source_disable_unref(m->retention_defer);
        m->metrics_defer = sd_event_source_disable_unref(m->metrics_defer);
        m->overdue_timer = sd_event_source_disable_unref(m->overdue_timer);
        m->restores_counted = strv_free(m->restores_counted);
        m->extend_timeout = sd_event_source_disable_unref(m->extend_timeout);
        /* A restore still running stays in its journal, and is resumed at the next start. Its
         * calls to systemd go with it, then the client with the timers' calls. */
        if (m->restore)
                log_notice("Restore %s interrupted in phase %s; it is resumed when the agent starts again.",
                           m->restore->j.id, restore_phase_to_string(m->restore->j.phase));
        while (m->restores)
                restore_free(m->restores);
        m->systemd = systemd_client_free(m->systemd);
        m->timers = timers_free(m->timers);
        m->bus = sd_bus_flush_close_unref(m->bus);

        if (m->running)
                log_notice("Backup %s interrupted by shutdown; its partial file is removed.", m->running->id);
        while (m->backups)
                backup_free(m->backups);
        while (m->configs)
                backup_config_free(m->configs);

        agent_config_done(&m->config);
        safe_close(m->storage_fd);
        safe_close(m->restores_fd);
        free(m->config_path);
        free(m->config_dir);
        free(m->state_dir);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

void manager_release_memory(Manager *m) {
        /* What only backups, verifications and imports use: gRPC (with abseil, upb, re2, c-ares, the
         * C++ runtime), OpenSSL, zstd. */
        static const char * const libraries[] = {
                "libgrpc", "libgpr", "libabsl", "libupb", "libre2", "libcares", "libaddress_sorting",
                "libstdc++", "libssl", "libcrypto", "libprotobuf-c", "libzstd", NULL,
        };

        if (m->running || m->verifying || m->import || m->restore)
                return;
        (void) memory_release(libraries);
}

bool backup_config_is_overdue(const BackupConfig *c, usec_t now_usec) {
        return c->spec.enabled && c->next_run > 0 && c->next_run + HEALTH_OVERDUE_USEC < now_usec;
}

usec_t manager_next_overdue(Manager *m, usec_t now_usec) {
        usec_t next = USEC_INFINITY;

        LIST_FOREACH(configs, c, m->configs)
                if (c->spec.enabled && c->next_run > 0 && !backup_config_is_overdue(c, now_usec))
                        next = MIN(next, c->next_run + HEALTH_OVERDUE_USEC + 1);
        return next;
}

static int on_overdue(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        /* A timer that did not fire: nothing else would tell. */
        manager_update_state(m); /* and the timer for the next one */
        manager_metrics_changed(m);
        return 0;
}

/* A timer on the realtime clock, as NextRun is, not a poll: it moves with every change of a
 * NextRun (which comes through manager_update_state()). */
static void manager_schedule_overdue(Manager *m, usec_t now_usec) {
        usec_t next;
        int r;

        if (!m->event)
                return;
        next = manager_next_overdue(m, now_usec);
        if (next == USEC_INFINITY) {
                if (m->overdue_timer)
                        (void) sd_event_source_set_enabled(m->overdue_timer, SD_EVENT_OFF);
                return;
        }
        if (m->overdue_timer) {
                r = sd_event_source_set_time(m->overdue_timer, next);
                if (r >= 0)
                        r = sd_event_source_set_enabled(m->overdue_timer, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time(m->event, &m->overdue_timer, CLOCK_REALTIME, next, USEC_PER_SEC, on_overdue, m);
        if (r < 0)
                log_warning_errno(r, "Failed to set a timer for the next overdue configuration, ignoring: %m");
}

void manager_update_state(Manager *m) {
        ManagerState s = m->restore ? MANAGER_RESTORING : m->running ? MANAGER_BACKING_UP : MANAGER_IDLE;
        usec_t now_usec = now(CLOCK_REALTIME);
        unsigned n = 0;

        manager_schedule_overdue(m, now_usec);

        if (s != m->state) {
                m->state = s;
                if (m->bus)
                        (void) sd_bus_emit_properties_changed(m->bus, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "State",
                                                              "RunningBackup", "RunningRestore", NULL);
        }

        if (m->restore) {
                (void) sd_notifyf(false, "STATUS=Restoring backup %s: %s", strempty(m->restore->j.backup),
                                  restore_phase_to_string(m->restore->j.phase));
                return;
        }

        if (m->running) {
                (void) sd_notifyf(false, "STATUS=Backing up '%s': %u%%", m->running->meta.config, m->running->progress);
                return;
        }
        if (m->verifying) {
                (void) sd_notifyf(false, "STATUS=Verifying backup %s: %u%%", m->verifying->id, m->verifying->verify_percent);
                return;
        }
        LIST_FOREACH(backups, b, m->backups)
                n += b->state == BACKUP_COMPLETED;
        _cleanup_free_ char *health = manager_health_summary(m, now_usec);
        (void) sd_notifyf(false, "STATUS=Idle; %u backups in %s%s%s.", n, m->config.storage_directory,
                          health ? "; " : "", strempty(health));
}

/* What an operator must know first, for the status line: the first configuration whose last
 * backup failed (with why), else the first one overdue (its timer should have run more than
 * HEALTH_OVERDUE_USEC ago), and how many more are in trouble. NULL when all is well. */
#define HEALTH_REASON_MAX 120
char *manager_health_summary(Manager *m, usec_t now_usec) {
        BackupConfig *failed = NULL, *overdue = NULL;
        unsigned troubled = 0;
        char *s = NULL;
        int r;

        LIST_FOREACH(configs, c, m->configs) {
                bool is_failed = streq_ptr(c->last_result, "failed");
                bool is_overdue = backup_config_is_overdue(c, now_usec);

                if (is_failed && !failed)
                        failed = c;
                else if (is_overdue && !overdue)
                        overdue = c;
                troubled += is_failed || is_overdue;
        }
        if (failed) {
                const char *why = failed->last_error ?: "unknown reason";
                size_t l = strlen(why);
                if (l > 0 && why[l - 1] == '.') /* the status line ends in one */
                        l--;
                r = asprintf(&s, "last backup of '%s' failed: %.*s%s", failed->name, (int) MIN(l, (size_t) HEALTH_REASON_MAX),
                             why, l > HEALTH_REASON_MAX ? "..." : "");
        } else if (overdue) {
                char ts[FORMAT_TIMESTAMP_MAX];
                r = asprintf(&s, "'%s' overdue since %s", overdue->name,
                             format_timestamp_rfc3339(ts, sizeof(ts), overdue->next_run));
        } else
                return NULL;
        if (r < 0)
                return NULL;
        if (troubled > 1) {
                char *t = NULL;
                if (asprintf(&t, "%s (+%u more in trouble)", s, troubled - 1) < 0)
                        return s;
                free(s);
                s = t;
        }
        return s;
}

/* Reads a backup id argument and looks the backup up, with the errors a caller can act on. */
static int read_backup(sd_bus_message *msg, Manager *m, Backup **ret, sd_bus_error *error) {
        char normalized[BACKUP_ID_STRING_MAX];
        const char *id;
        Backup *b = NULL;
        int r;

        r = sd_bus_message_read(msg, "s", &id);
        if (r < 0)
                return r;
        if (backup_id_normalize(id, normalized) < 0)
                return sd_bus_error_setf(error, AGENT_ERROR_INVALID_NAME, "Invalid backup id '%s': expected a UUID.", id);
        b = manager_find_backup(m, normalized);
        if (!b)
                return sd_bus_error_setf(error, AGENT_ERROR_NO_SUCH_BACKUP, "No backup %s.", normalized);
        *ret = b;
        return 0;
}

static int check_config_name(const char *name, sd_bus_error *error) {
        if (!config_name_is_valid(name))
                return sd_bus_error_setf(error, AGENT_ERROR_INVALID_NAME,
                                         "Invalid configuration name '%s': expected [a-z0-9][a-z0-9_-]{0,62}.", name);
        return 0;
}

/* Reads a configuration name argument and looks the configuration up, with the errors a
 * caller can act on. */
static int read_config(sd_bus_message *msg, Manager *m, BackupConfig **ret, sd_bus_error *error) {
        BackupConfig *c;
        const char *name;
        int r;

        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;
        r = check_config_name(name, error);
        if (r < 0)
                return r;
        c = manager_find_config(m, name);
        if (!c)
                return sd_bus_error_setf(error, AGENT_ERROR_NO_SUCH_CONFIG, "No backup configuration '%s'.", name);
        *ret = c;
        return 0;
}

static int method_start_backup(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        BackupConfig *c = NULL;
        Backup *b = NULL;
        int r;

        r = read_config(msg, m, &c, error);
        if (r < 0)
                return r;

        const char *details[] = { "config", c->name, NULL };
        r = polkit_check(msg, POLKIT_ACTION_BACKUP, details, m->checks, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        /* A snapshot of an etcd that is being replaced is of nothing; a scheduled backup waits
         * for the restore's end (the CLI follows State). */
        if (m->restore)
                return sd_bus_error_setf(error, AGENT_ERROR_BUSY, "Restore %s is running (%s); back up when it is done.",
                                         m->restore->j.id, m->restore->object_path);
        /* One etcd snapshot at a time: a second one would only double the load on etcd. */
        if (m->running)
                return sd_bus_error_setf(error, AGENT_ERROR_BUSY, "Backup %s of '%s' is still running (%s).",
                                         m->running->id, m->running->meta.config, m->running->object_path);

        r = backup_start(m, c->name, &b);
        if (r < 0)
                return agent_error_setf(error, r, "Cannot start a backup: %m");

        return sd_bus_reply_method_return(msg, "o", b->object_path);
}

static int method_get_backup(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Backup *b = NULL;
        int r;

        r = read_backup(msg, userdata, &b, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "o", b->object_path);
}

static int method_verify_backup(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Backup *b = NULL;
        int r;

        r = read_backup(msg, userdata, &b, error);
        if (r < 0)
                return r;
        return bus_backup_method_verify(msg, b, error);
}

static int method_delete_backup(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Backup *b = NULL;
        int r;

        r = read_backup(msg, userdata, &b, error);
        if (r < 0)
                return r;
        return bus_backup_method_delete(msg, b, error);
}

static int method_get_config(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        BackupConfig *c = NULL;
        int r;

        r = read_config(msg, userdata, &c, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "o", c->object_path);
}

/* The authorization and, for a new schedule, systemd's check of the calendar it becomes: > 0
 * go ahead, 0 the handler returns 1 and runs again later, < 0 refused. */
static int config_change_allowed(Manager *m, sd_bus_message *msg, const char *name, const BackupConfigSpec *spec,
                                 sd_bus_error *error) {
        const char *details[] = { "config", name, NULL };
        int r;

        r = polkit_check(msg, POLKIT_ACTION_MANAGE_CONFIGS, details, m->checks, error);
        if (r <= 0)
                return r;
        if (spec)
                return calendar_check_message(msg, spec->schedule, spec->parsed.calendar, m->checks, error);
        return 1;
}

/* The settings of AddConfig and SetConfig: what is not given stays NULL or -1. */
typedef struct ConfigSettings {
        const char *schedule;
        int64_t keep;
        int enabled;
} ConfigSettings;

static int read_config_settings(sd_bus_message *msg, ConfigSettings *ret, sd_bus_error *error) {
        enum { SETTING_SCHEDULE, SETTING_KEEP, SETTING_ENABLED };
        struct {
                const char *schedule;
                uint32_t keep;
                int enabled;
        } v = {};
        static const BusOption table[] = {
                [SETTING_SCHEDULE] = { "Schedule", 's', offsetof(typeof(v), schedule) },
                [SETTING_KEEP] = { "Keep", 'u', offsetof(typeof(v), keep) },
                [SETTING_ENABLED] = { "Enabled", 'b', offsetof(typeof(v), enabled) },
                {},
        };
        uint64_t given;
        int r;

        r = bus_read_options(msg, table, &v, "setting", &given, error);
        if (r < 0)
                return r;
        ConfigSettings s = {
                .schedule = v.schedule,
                .keep = given & (UINT64_C(1) << SETTING_KEEP) ? (int64_t) v.keep : -1,
                .enabled = given & (UINT64_C(1) << SETTING_ENABLED) ? v.enabled : -1,
        };
        /* Not given means the schedule's default; given, it is a number of backups. */
        if (s.keep == 0)
                return sd_bus_error_setf(error, AGENT_ERROR_INVALID_RETENTION,
                                         "Cannot keep 0 backups: retention keeps at least the newest one.");
        *ret = s;
        return 0;
}

static int method_add_config(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(backup_config_spec_done) BackupConfigSpec spec = {};
        Manager *m = userdata;
        ConfigSettings set = {};
        BackupConfig *c = NULL;
        const char *name;
        int r;

        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;
        r = read_config_settings(msg, &set, error);
        if (r < 0)
                return r;

        r = check_config_name(name, error);
        if (r < 0)
                return r;
        if (manager_find_config(m, name))
                return sd_bus_error_setf(error, AGENT_ERROR_CONFIG_EXISTS,
                                         "Backup configuration '%s' exists already; change it with SetConfig.", name);
        if (manager_n_configs(m) >= CONFIGS_MAX)
                return sd_bus_error_setf(error, AGENT_ERROR_TOO_MANY_CONFIGS,
                                         "There are %u backup configurations already, the most the agent keeps; remove one first.",
                                         CONFIGS_MAX);
        if (!set.schedule)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "A configuration needs a Schedule, e.g. \"daily\" or \"@every 6h\".");
        r = backup_config_spec_init(&spec, set.schedule, set.keep >= 0 ? (unsigned) set.keep : 0, set.enabled != 0, error);
        if (r < 0)
                return r;

        r = config_change_allowed(m, msg, name, &spec, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        r = backup_config_save(m, name, &spec, error);
        if (r < 0)
                return r;
        backup_configs_touch(m, name);
        r = backup_config_new(m, name, &spec, &c);
        if (r < 0)
                return log_oom();
        log_info("Backup configuration '%s' added: \"%s\" (%s), keeping %u.", name, c->spec.schedule,
                 c->spec.parsed.calendar, backup_config_keep(c));
        return timers_reconcile_and_reply(m->timers, msg, c->name, c->object_path);
}

static int method_set_config(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(backup_config_spec_done) BackupConfigSpec spec = {};
        Manager *m = userdata;
        ConfigSettings set = {};
        BackupConfig *c = NULL;
        int r;

        r = read_config(msg, m, &c, error);
        if (r < 0)
                return r;
        r = read_config_settings(msg, &set, error);
        if (r < 0)
                return r;
        /* What is not given stays; a Keep never given follows the schedule's default. */
        if (!set.schedule && !c->spec.schedule)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Backup configuration '%s' was never loaded (%s); give a Schedule to replace it.",
                                         c->name, strna(c->load_error));
        r = backup_config_spec_init(&spec, set.schedule ?: c->spec.schedule, set.keep >= 0 ? (unsigned) set.keep : c->spec.keep,
                                    set.enabled >= 0 ? set.enabled : c->spec.enabled, error);
        if (r < 0)
                return r;
        /* A broken file is replaced even by what was in force before it broke. */
        if (!c->broken && backup_config_spec_equal(&spec, &c->spec))
                return sd_bus_reply_method_return(msg, NULL);

        r = config_change_allowed(m, msg, c->name, streq_ptr(spec.schedule, c->spec.schedule) ? NULL : &spec, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        r = backup_config_save(m, c->name, &spec, error);
        if (r < 0)
                return r;
        backup_configs_touch(m, c->name);
        backup_config_set_spec(c, &spec);
        backup_config_set_load_error(c, NULL);
        log_info("Backup configuration '%s' changed: \"%s\" (%s), keeping %u, %s.", c->name, c->spec.schedule,
                 c->spec.parsed.calendar, backup_config_keep(c), c->spec.enabled ? "enabled" : "disabled");
        return timers_reconcile_and_reply(m->timers, msg, c->name, NULL);
}

static int method_remove_config(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        BackupConfig *c = NULL;
        int r;

        r = read_config(msg, m, &c, error);
        if (r < 0)
                return r;
        if (streq(c->name, DEFAULT_CONFIG))
                return sd_bus_error_setf(error, AGENT_ERROR_DEFAULT_CONFIG,
                                         "The default configuration cannot be removed; disable it instead "
                                         "(etcd-backupctl set-config default --disable).");

        r = config_change_allowed(m, msg, c->name, NULL, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        _cleanup_free_ char *name = strdup(c->name);
        if (!name)
                return log_oom();
        r = backup_config_remove_file(m, c->name, error);
        if (r < 0)
                return r;
        backup_configs_touch(m, name);
        log_info("Backup configuration '%s' removed; its backups stay until deleted.", name);
        backup_config_free(c);
        manager_metrics_changed(m);
        return timers_reconcile_and_reply(m->timers, msg, name, NULL);
}

static int property_get_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", PROJECT_VERSION);
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "s", manager_state_table[m->state]);
}

static int property_get_running_backup(sd_bus *bus, const char *path, const char *interface, const char *property,
                                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "o", m->running ? m->running->object_path : "/");
}

static int property_get_running_restore(sd_bus *bus, const char *path, const char *interface, const char *property,
                                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "o", m->restore ? m->restore->object_path : "/");
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("RunningBackup", "o", property_get_running_backup, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("RunningRestore", "o", property_get_running_restore, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("StorageDirectory", "s", NULL, offsetof(Manager, config.storage_directory),
                        SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Endpoint", "s", NULL, offsetof(Manager, config.etcd.url), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("StartBackup", SD_BUS_ARGS("s", config), SD_BUS_RESULT("o", backup),
                                method_start_backup, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetBackup", SD_BUS_ARGS("s", id), SD_BUS_RESULT("o", backup), method_get_backup,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("VerifyBackup", SD_BUS_ARGS("s", id), SD_BUS_NO_RESULT, method_verify_backup,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("DeleteBackup", SD_BUS_ARGS("s", id), SD_BUS_NO_RESULT, method_delete_backup,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ImportBackup", SD_BUS_ARGS("h", fd, "a{sv}", options), SD_BUS_RESULT("o", backup),
                                bus_manager_method_import_backup, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("AddConfig", SD_BUS_ARGS("s", name, "a{sv}", settings), SD_BUS_RESULT("o", config),
                                method_add_config, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetConfig", SD_BUS_ARGS("s", name, "a{sv}", settings), SD_BUS_NO_RESULT,
                                method_set_config, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RemoveConfig", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT, method_remove_config,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetConfig", SD_BUS_ARGS("s", name), SD_BUS_RESULT("o", config), method_get_config,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Restore", SD_BUS_ARGS("s", backup_id, "a{sv}", options), SD_BUS_RESULT("o", restore),
                                bus_manager_method_restore, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetRestore", SD_BUS_ARGS("s", id), SD_BUS_RESULT("o", restore),
                                bus_manager_method_get_restore, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StopControlPlane", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("o", restore),
                                bus_manager_method_stop_control_plane, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Rejoin", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("o", restore),
                                bus_manager_method_rejoin, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("BackupFinished", SD_BUS_ARGS("s", id, "o", backup, "s", state), 0),
        SD_BUS_SIGNAL_WITH_ARGS("RestoreFinished", SD_BUS_ARGS("s", id, "o", restore, "s", phase), 0),
        SD_BUS_VTABLE_END,
};

static int manager_connect_bus(Manager *m) {
        int r;

        r = sd_bus_open_system(&m->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");

        if ((r = sd_bus_add_object_vtable(m->bus, NULL, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, manager_vtable, m)) < 0 ||
            /* Detected and DetectionError (agent/detect.c), read from the configuration in force. */
            (r = sd_bus_add_object_vtable(m->bus, NULL, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, agent_config_vtable,
                                          &m->config)) < 0 ||
            (r = bus_object_kind_add(m->bus, &backup_objects, m)) < 0 ||
            (r = bus_object_kind_add(m->bus, &config_objects, m)) < 0 ||
            (r = bus_object_kind_add(m->bus, &restore_objects, m)) < 0 ||
            (r = sd_bus_add_object_manager(m->bus, NULL, AGENT_OBJECT_PATH)) < 0)
                return log_error_errno(r, "Failed to add the bus objects: %m");

        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");
        r = async_checks_new(m->bus, &m->checks);
        if (r < 0)
                return log_error_errno(r, "Failed to set up checks of method calls: %m");
        /* Lost the bus, lost our purpose: exit and let systemd restart us. */
        (void) sd_bus_set_exit_on_disconnect(m->bus, true);
        return 0;
}

static void on_configs_in_place_at_start(Manager *m, int r) {
        /* A timer systemd refused is in the log; the agent serves all the same. */
        m->configs_in_place = true;
}

int manager_start(Manager *m) {
        int r;

        r = manager_connect_bus(m);
        if (r < 0)
                return r;
        r = systemd_client_new(m->event, m->config.scope, &m->systemd);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the %s service manager: %m",
                                       systemd_scope_to_string(m->config.scope));
        r = timers_new(m, &m->timers);
        if (r < 0)
                return r;

        /* An interrupted restore first, before any configuration or timer can start a backup:
         * etcd and the control plane must run on one consistent data dir. The name is taken at
         * once so that callers see the restore (and get Busy) rather than wait for the name. */
        if (m->restore) {
                r = restore_resume(m->restore);
                if (r < 0)
                        return r;
                r = sd_bus_request_name(m->bus, AGENT_BUS_NAME, 0);
                if (r < 0)
                        return log_error_errno(r, "Failed to take the bus name %s: %m", AGENT_BUS_NAME);
                (void) sd_notify(false, "READY=1");
                while (m->restore) {
                        r = sd_event_run(m->event, UINT64_MAX);
                        if (r < 0)
                                return log_error_errno(r, "Event loop failed while resuming the restore: %m");
                }
                if (m->exit_requested)
                        return 1;
        }

        /* Before the name is taken: loading waits for systemd-analyze to check calendars and
         * for systemd to have every timer (so that NextRun is known), and nobody can call yet.
         * Every call to systemd has a deadline, so this ends. */
        r = backup_configs_load(m, on_configs_in_place_at_start);
        if (r < 0)
                return r;
        while (!m->configs_in_place) {
                r = sd_event_run(m->event, UINT64_MAX);
                if (r < 0)
                        return log_error_errno(r, "Event loop failed while loading the configurations: %m");
        }
        backup_configs_load_results(m);

        /* Taken last, once every object is in place: bus activation callers may call at once. */
        r = sd_bus_request_name(m->bus, AGENT_BUS_NAME, 0);
        if (r < 0 && r != -EALREADY)
                return log_error_errno(r, "Failed to take the bus name %s: %m", AGENT_BUS_NAME);
        if (m->exit_requested)
                return 1;
        m->serving = true;
        return 0;
}

static void on_configs_in_place_after_reload(Manager *m, int r) {
        (void) sd_notify(false, "READY=1");
        manager_update_state(m);
}

void manager_reload(Manager *m) {
        AgentConfig c;
        int r;

        (void) sd_notifyf(false, "RELOADING=1\nSTATUS=Reloading the configuration...\nMONOTONIC_USEC=%" PRIu64,
                          now(CLOCK_MONOTONIC));
        log_info("Reloading agent.conf and the backup configurations.");

        r = agent_config_load(m->config_path, &c);
        if (r < 0) {
                log_error("The agent configuration is broken; the one in force stays.");
                (void) sd_bus_emit_properties_changed(m->bus, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "DetectionError", NULL);
        } else {
                /* Where backups live and which manager runs the timers are fixed for the life
                 * of the process: the objects and the timers depend on them. */
                if (!streq(c.storage_directory, m->config.storage_directory))
                        log_warning("[Storage] Directory= changed to %s; it takes effect when the agent restarts.",
                                    c.storage_directory);
                if (c.scope != m->config.scope)
                        log_warning("[Systemd] Scope= changed; it takes effect when the agent restarts.");
                (void) free_and_strdup(&c.storage_directory, m->config.storage_directory);
                c.scope = m->config.scope;
                agent_config_done(&m->config);
                m->config = c;
                (void) sd_bus_emit_properties_changed(m->bus, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "Endpoint", "Detected",
                                                      "DetectionError", NULL);
        }

        /* READY=1 once the configurations and their timers are in place, as systemd's reload
         * protocol means it: the reload has taken effect. */
        if (backup_configs_load(m, on_configs_in_place_after_reload) < 0)
                on_configs_in_place_after_reload(m, -ENOMEM);
}

/* Retention runs from the loop, not from within the completion of a backup: it frees Backup
 * objects, and the one completing is still on the stack of whoever announced it. */
static int on_retention(sd_event_source *s, void *userdata) {
        Manager *m = userdata;

        m->retention_defer = sd_event_source_disable_unref(m->retention_defer);
        LIST_FOREACH(configs, c, m->configs)
                if (c->retention_due) {
                        c->retention_due = false;
                        backup_config_apply_retention(c, manager_find_backup(m, c->last_backup_id));
                }
        manager_metrics_changed(m); /* the backups kept */
        return 0;
}

void manager_backup_finished(Manager *m, Backup *b) {
        BackupConfig *c = manager_find_config(m, b->meta.config);

        /* A backup of a configuration removed meanwhile stays, without retention. */
        manager_metrics_changed(m);
        if (!c)
                return;
        backup_config_record_result(c, b);
        if (b->state != BACKUP_COMPLETED)
                return;
        c->retention_due = true;
        if (!m->retention_defer && sd_event_add_defer(m->event, &m->retention_defer, on_retention, m) < 0)
                log_oom(); /* the next completed backup of c applies it */
}

void manager_restore_finished(Manager *m) {
        m->extend_timeout = sd_event_source_disable_unref(m->extend_timeout);
        manager_update_state(m);
        manager_metrics_changed(m);
        manager_release_memory(m);
        if (m->exit_requested && m->serving)
                (void) sd_event_exit(m->event, 0);
}
