/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Backup configurations: their files, their loading, their bus objects. Loading reads all files
 * at once into a candidate set; the calendars of all of them are put to systemd's parser in one
 * check (calendar.h); when the verdicts are in, the set is applied in one go: configurations
 * added, changed or removed, a broken file leaving its configuration as it was. Then the timers
 * follow.
 */

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "backup-config.h"
#include "metrics.h"
#include "bus-util.h"
#include "conf-parser.h"
#include "errors.h"
#include "fs-util.h"
#include "list.h"
#include "log.h"
#include "retention.h"
#include "string-util.h"
#include "time-util.h"
#include "timers.h"

#define CONFIG_FILE_SUFFIX ".conf"
#define RESULTS_FILE "last-backups"
/* A few lines per configuration, written by the agent itself. */
#define RESULTS_FILE_MAX (4U * 1024U * 1024U)
/* Why a file cannot be used, as LoadError shows it: a path and a sentence. */
#define LOAD_ERROR_MAX 1024U

void backup_config_spec_done(BackupConfigSpec *s) {
        s->schedule = mfree(s->schedule);
        schedule_done(&s->parsed);
}

int backup_config_spec_init(BackupConfigSpec *s, const char *schedule, unsigned keep, bool enabled,
                            sd_bus_error *error) {
        _cleanup_free_ char *message = NULL, *copy = NULL;
        BackupConfigSpec n = { .keep = keep, .enabled = enabled };
        int r;

        r = schedule_parse(schedule, &n.parsed, &message);
        if (r == -ENOMEM)
                return -ENOMEM;
        if (r < 0)
                return sd_bus_error_set(error, AGENT_ERROR_INVALID_SCHEDULE, message);
        if (keep > KEEP_MAX) {
                schedule_done(&n.parsed);
                return sd_bus_error_setf(error, AGENT_ERROR_INVALID_RETENTION,
                                         "Cannot keep %u backups: at most %u (without Keep, the schedule's default: %u).",
                                         keep, KEEP_MAX, n.parsed.default_keep);
        }
        /* Kept as the file will give it back: without the whitespace around it, which the
         * parser of the file drops. */
        copy = strdup(schedule);
        n.schedule = copy ? strdup(strstrip(copy)) : NULL;
        if (!n.schedule) {
                schedule_done(&n.parsed);
                return -ENOMEM;
        }
        *s = n;
        return 0;
}

bool backup_config_spec_equal(const BackupConfigSpec *a, const BackupConfigSpec *b) {
        return streq_ptr(a->schedule, b->schedule) && a->keep == b->keep && a->enabled == b->enabled;
}

unsigned backup_config_keep(const BackupConfig *c) {
        return c->spec.keep ?: c->spec.parsed.default_keep;
}

BackupConfig *manager_find_config(Manager *m, const char *name) {
        LIST_FOREACH(configs, c, m->configs)
                if (streq(c->name, name))
                        return c;
        return NULL;
}

size_t manager_n_configs(Manager *m) {
        size_t n = 0;

        LIST_FOREACH(configs, c, m->configs)
                n++;
        return n;
}

#define log_config(c, level, error, ...)                                                          \
        ({                                                                                         \
                char _f[96];                                                                       \
                char *_fields[] = { _f, NULL };                                                    \
                snprintf(_f, sizeof(_f), "BACKUP_CONFIG=%s", (c));                                 \
                log_fields_errno(level, error, _fields, __VA_ARGS__);                              \
        })

/* ---- objects -------------------------------------------------------------------------------- */

BackupConfig *backup_config_free(BackupConfig *c) {
        Manager *m;

        if (!c)
                return NULL;
        m = c->manager;
        if (m->bus && c->object_path)
                (void) sd_bus_emit_object_removed(m->bus, c->object_path);
        LIST_REMOVE(configs, m->configs, c);

        backup_config_spec_done(&c->spec);
        free(c->load_error);
        free(c->last_result);
        free(c->last_error);
        free(c->object_path);
        free(c->name);
        free(c);
        return NULL;
}

int backup_config_new(Manager *m, const char *name, BackupConfigSpec *spec, BackupConfig **ret) {
        BackupConfig *c;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->manager = m;
        c->name = strdup(name);
        r = c->name ? sd_bus_path_encode(CONFIG_OBJECT_PREFIX, name, &c->object_path) : -ENOMEM;
        if (r < 0) {
                free(c->name);
                free(c);
                return r;
        }
        c->spec = *spec;
        *spec = (BackupConfigSpec) {};

        /* Sorted, "default" first: that is how they are listed. */
        BackupConfig *after = NULL;
        LIST_FOREACH(configs, i, m->configs) {
                if (!streq(i->name, DEFAULT_CONFIG) && (streq(name, DEFAULT_CONFIG) || strcmp(name, i->name) < 0))
                        break;
                after = i;
        }
        LIST_INSERT_AFTER(configs, m->configs, after, c);

        if (m->bus)
                (void) sd_bus_emit_object_added(m->bus, c->object_path);
        manager_metrics_changed(m);
        if (ret)
                *ret = c;
        return 0;
}

void backup_config_set_next_run(BackupConfig *c, usec_t next) {
        if (c->next_run == next)
                return;
        c->next_run = next;
        if (c->manager->bus)
                (void) sd_bus_emit_properties_changed(c->manager->bus, c->object_path, CONFIG_INTERFACE, "NextRun", NULL);
        manager_update_state(c->manager); /* the status line says which configuration is overdue */
        manager_metrics_changed(c->manager);
}

void backup_config_set_spec(BackupConfig *c, BackupConfigSpec *spec) {
        char *changed[5];
        size_t n = 0;

        if (!streq_ptr(c->spec.schedule, spec->schedule)) {
                changed[n++] = (char *) "Schedule";
                if (!streq_ptr(c->spec.parsed.calendar, spec->parsed.calendar))
                        changed[n++] = (char *) "Calendar";
        }
        if (c->spec.keep != spec->keep || c->spec.parsed.default_keep != spec->parsed.default_keep)
                changed[n++] = (char *) "Keep";
        if (c->spec.enabled != spec->enabled)
                changed[n++] = (char *) "Enabled";
        changed[n] = NULL;

        backup_config_spec_done(&c->spec);
        c->spec = *spec;
        *spec = (BackupConfigSpec) {};
        if (n > 0 && c->manager->bus)
                (void) sd_bus_emit_properties_changed_strv(c->manager->bus, c->object_path, CONFIG_INTERFACE, changed);
}

/* ---- files ----------------------------------------------------------------------------------- */

static int config_file_path(Manager *m, const char *name, char **ret) {
        return asprintf(ret, "%s/%s" CONFIG_FILE_SUFFIX, m->config_dir, name) < 0 ? -ENOMEM : 0;
}

int backup_config_save(Manager *m, const char *name, const BackupConfigSpec *spec, sd_bus_error *error) {
        _cleanup_free_ char *text = NULL, *file = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = backup_config_format(name, spec, &text);
        if (r < 0)
                return log_oom();
        if (asprintf(&file, "%s" CONFIG_FILE_SUFFIX, name) < 0)
                return log_oom();

        /* Modes as systemd's own configuration has them, whatever the agent's umask: these
         * hold no secret. */
        r = mkdir_p(m->config_dir, 0755);
        if (r >= 0) {
                fd = open(m->config_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                r = fd < 0 ? -errno : write_file_atomic_at(fd, file, text, strlen(text), 0644);
        }
        if (r < 0) {
                log_config(name, LOG_ERR, r, "Failed to write %s/%s: %m", m->config_dir, file);
                return agent_error_setf(error, r, "Cannot write %s/%s: %m", m->config_dir, file);
        }
        return 0;
}

int backup_config_remove_file(Manager *m, const char *name, sd_bus_error *error) {
        _cleanup_free_ char *path = NULL;

        if (config_file_path(m, name, &path) < 0)
                return log_oom();
        if (unlink(path) < 0 && errno != ENOENT) {
                int r = -errno;
                log_config(name, LOG_ERR, r, "Failed to remove %s: %m", path);
                return agent_error_setf(error, r, "Cannot remove %s: %m", path);
        }
        return 0;
}

int backup_config_format(const char *name, const BackupConfigSpec *spec, char **ret) {
        _cleanup_free_ char *keep = NULL;

        if (spec->keep > 0 && asprintf(&keep, "Keep=%u\n", spec->keep) < 0)
                return -ENOMEM;
        if (asprintf(ret,
                     "# Backup configuration \"%s\", written by etcd-backupd (etcd-backupctl set-config %s ...).\n"
                     "# Edits by hand take effect on \"systemctl reload etcd-backupd\".\n"
                     "[Backup]\n"
                     "Schedule=%s\n"
                     "%s"
                     "Enabled=%s\n",
                     name, name, spec->schedule, strempty(keep), spec->enabled ? "yes" : "no") < 0)
                return -ENOMEM;
        return 0;
}

typedef struct FileValues {
        char *schedule;
        unsigned keep;
        bool enabled;
        char **warnings;
        size_t n_warnings;
        char **message;
} FileValues;

static int file_warning(FileValues *v, unsigned line, const char *format, ...) _printf_(3, 4);

static int file_warning(FileValues *v, unsigned line, const char *format, ...) {
        _cleanup_free_ char *text = NULL, *w = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&text, format, ap);
        va_end(ap);
        if (r < 0 || asprintf(&w, "%u: %s", line, text) < 0)
                return -ENOMEM;
        return strv_extend_counted(&v->warnings, &v->n_warnings, w);
}

static int on_config_assignment(const char *section, const char *key, const char *value, unsigned line,
                                void *userdata) {
        FileValues *v = userdata;
        int r;

        if (!streq(section, "Backup"))
                return file_warning(v, line, "Unknown section [%s], ignoring.", section);
        if (streq(key, "Schedule"))
                return free_and_strdup(&v->schedule, value);
        if (streq(key, "Keep")) {
                if (safe_atou(value, &v->keep) < 0 || v->keep == 0)
                        return set_message(v->message, -EINVAL, "Invalid Keep=%s, expected a number of backups from 1.", value);
                return 0;
        }
        if (streq(key, "Enabled")) {
                r = parse_boolean(value);
                if (r < 0)
                        return set_message(v->message, r, "Invalid Enabled=%s, expected yes or no.", value);
                v->enabled = r;
                return 0;
        }
        return file_warning(v, line, "Unknown key %s= in [Backup], ignoring.", key);
}

int backup_config_parse(const char *text, BackupConfigSpec *ret, unsigned *ret_line, char **ret_message,
                        char ***ret_warnings) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        FileValues v = { .enabled = true, .message = ret_message };
        unsigned line = 0;
        int r;

        r = conf_parse_string(text, on_config_assignment, &v, &line);
        if (r == -EBADMSG)
                r = set_message(ret_message, r, "Syntax error: expected [Backup] and Key=Value lines.");
        else if (r >= 0 && !v.schedule) {
                line = 0;
                r = set_message(ret_message, -EINVAL, "No Schedule= in [Backup].");
        } else if (r >= 0) {
                line = 0;
                r = backup_config_spec_init(ret, v.schedule, v.keep, v.enabled, &error);
                /* The errno of a named error depends on the map being registered: not here. */
                if (r < 0 && r != -ENOMEM)
                        r = set_message(ret_message, -EINVAL, "%s", error.message);
        }
        free(v.schedule);
        if (ret_line)
                *ret_line = line;
        if (ret_warnings)
                *ret_warnings = TAKE_PTR(v.warnings);
        strv_free(v.warnings);
        return r;
}

/* ---- loading ----------------------------------------------------------------------------------- */

typedef struct LoadItem {
        char *name;
        BackupConfigSpec spec;
        char *error; /* why the file cannot be used; NULL if it can */
} LoadItem;

struct ConfigLoad {
        Manager *manager;
        LoadItem *items;
        size_t n_items;
        CalendarCheck *check; /* of the calendars of the items without error, in order */
        /* Configurations a method changed while this load ran: their files were read before
         * the change, so what is in memory is newer than what this load found. */
        char **touched;
        backup_configs_loaded_t done;
};

static ConfigLoad *config_load_free(ConfigLoad *l) {
        if (!l)
                return NULL;
        for (size_t i = 0; i < l->n_items; i++) {
                free(l->items[i].name);
                free(l->items[i].error);
                backup_config_spec_done(&l->items[i].spec);
        }
        calendar_check_free(l->check);
        free(l->items);
        strv_free(l->touched);
        free(l);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(ConfigLoad *, config_load_free);

bool backup_configs_loading(Manager *m) {
        return !!m->config_load;
}

void backup_configs_cancel_load(Manager *m) {
        m->config_load = config_load_free(m->config_load);
}

void backup_configs_touch(Manager *m, const char *name) {
        ConfigLoad *l = m->config_load;

        if (l && !strv_contains(l->touched, name) && strv_extend(&l->touched, name) < 0)
                log_oom();
}

void backup_config_set_load_error(BackupConfig *c, const char *error) {
        if (streq_ptr(c->load_error, error))
                return;
        if (free_and_strdup(&c->load_error, error) < 0) {
                log_oom();
                return;
        }
        c->broken = !!error;
        if (c->manager->bus)
                (void) sd_bus_emit_properties_changed(c->manager->bus, c->object_path, CONFIG_INTERFACE, "LoadError", NULL);
}

/* A file that cannot be used: said once (when read), and shown on the configuration's object.
 * What was in force stays; a configuration the agent did not have yet (a file broken by hand
 * while the agent was down) appears as broken, with no schedule, so that its timer and backups
 * are left alone rather than taken for those of a removed configuration. */
static void config_load_broken(Manager *m, const char *name, const char *error) {
        BackupConfig *c = manager_find_config(m, name);
        BackupConfigSpec none = {};

        if (!c && backup_config_new(m, name, &none, &c) < 0) {
                log_oom();
                return;
        }
        backup_config_set_load_error(c, error);
}

static void on_timers_after_load(Timers *t, int r, void *userdata) {
        Manager *m = userdata;

        if (m->configs_loaded)
                m->configs_loaded(m, r);
}

static void config_load_apply(ConfigLoad *l) {
        _cleanup_(config_load_freep) _unused_ ConfigLoad *owned = TAKE_PTR(l->manager->config_load);
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        Manager *m = l->manager;
        BackupConfigSpec builtin = {};
        bool have_default = false;
        size_t n = manager_n_configs(m);

        for (size_t i = 0; i < l->n_items; i++) {
                LoadItem *it = &l->items[i];
                BackupConfig *c = manager_find_config(m, it->name);

                have_default = have_default || streq(it->name, DEFAULT_CONFIG);
                if (strv_contains(l->touched, it->name))
                        continue;
                if (!c && !it->error && n >= CONFIGS_MAX && !streq(it->name, DEFAULT_CONFIG)) {
                        log_config(it->name, LOG_ERR, 0,
                                   "Backup configuration '%s' ignored: there are %u configurations already, the most the agent keeps.",
                                   it->name, CONFIGS_MAX);
                        continue;
                }
                if (it->error) {
                        config_load_broken(m, it->name, it->error);
                        continue;
                }
                if (!c) {
                        if (backup_config_new(m, it->name, &it->spec, NULL) < 0)
                                log_oom();
                        else {
                                n++;
                                log_config(it->name, LOG_INFO, 0, "Backup configuration '%s' loaded.", it->name);
                        }
                        continue;
                }
                if (!backup_config_spec_equal(&c->spec, &it->spec)) {
                        backup_config_set_spec(c, &it->spec);
                        log_config(it->name, LOG_INFO, 0, "Backup configuration '%s' changed.", it->name);
                }
                backup_config_set_load_error(c, NULL);
        }

        /* Configurations whose file went away are gone; "default" falls back to the built-in
         * one, which always exists. */
        if (!have_default && !strv_contains(l->touched, DEFAULT_CONFIG) &&
            backup_config_spec_init(&builtin, DEFAULT_SCHEDULE, 0, true, &error) >= 0) {
                BackupConfig *c = manager_find_config(m, DEFAULT_CONFIG);
                if (!c)
                        (void) backup_config_new(m, DEFAULT_CONFIG, &builtin, NULL);
                else {
                        if (!backup_config_spec_equal(&c->spec, &builtin))
                                backup_config_set_spec(c, &builtin);
                        backup_config_set_load_error(c, NULL);
                }
                backup_config_spec_done(&builtin);
        }
        LIST_FOREACH_SAFE(configs, c, next, m->configs) {
                bool found = streq(c->name, DEFAULT_CONFIG) || strv_contains(l->touched, c->name);

                for (size_t i = 0; i < l->n_items && !found; i++)
                        found = streq(l->items[i].name, c->name);
                if (!found) {
                        log_config(c->name, LOG_INFO, 0, "Backup configuration '%s' removed: its file is gone.", c->name);
                        backup_config_free(c);
                        manager_metrics_changed(m);
                }
        }

        m->configs_loaded = l->done;
        if (timers_reconcile_then(m->timers, on_timers_after_load, m) < 0) {
                log_oom();
                on_timers_after_load(m->timers, -ENOMEM, m);
        }
}

static void on_calendar_checked(CalendarCheck *check, void *userdata) {
        ConfigLoad *l = userdata;
        size_t k = 0;

        for (size_t i = 0; i < l->n_items; i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                LoadItem *it = &l->items[i];
                int r;

                if (it->error)
                        continue;
                r = calendar_check_verdict(check, k++, it->spec.schedule, &error);
                if (r < 0) {
                        (void) set_message(&it->error, r, "%s", error.message);
                        log_config(it->name, LOG_ERR, r, "Backup configuration '%s' is broken: %s What was in force stays.",
                                   it->name, strna(it->error));
                }
        }
        config_load_apply(l); /* frees l, and check with it */
}

/* Reads one file into an item; a broken one is reported here, with the reason kept. */
static int config_load_file(ConfigLoad *l, const char *name, LoadItem *it) {
        _cleanup_free_ char *path = NULL, *text = NULL, *message = NULL;
        _cleanup_strv_free_ char **warnings = NULL;
        unsigned line = 0;
        int r;

        *it = (LoadItem) { .name = strdup(name) };
        if (!it->name || config_file_path(l->manager, name, &path) < 0)
                return log_oom();

        r = conf_read_file(path, CONF_FILE_MAX, &text);
        if (r == -ENOMEM)
                return log_oom();
        if (r == -EBADFD)
                r = set_message(&message, r, "%s is not a regular file", path);
        else if (r == -EFBIG)
                r = set_message(&message, r, "%s is larger than %u KiB, which no configuration is", path, CONF_FILE_MAX / 1024);
        else if (r == -EBADMSG)
                r = set_message(&message, r, "%s holds a NUL byte", path);
        else if (r < 0)
                r = set_message(&message, r, "cannot read %s: %s", path, strerror(-r));
        else {
                _cleanup_free_ char *why = NULL;

                r = backup_config_parse(text, &it->spec, &line, &why, &warnings);
                if (r == -ENOMEM)
                        return log_oom();
                for (char **w = warnings; w && *w; w++)
                        log_config(name, LOG_WARNING, 0, "%s:%s", path, *w);
                if (r < 0 && line > 0)
                        r = set_message(&message, r, "%s:%u: %s", path, line, strna(why));
                else if (r < 0)
                        r = set_message(&message, r, "%s: %s", path, strna(why));
        }
        /* The reason becomes the LoadError property, and may quote the file, which is anyone's
         * bytes: made into text sd-bus sends. */
        if (r < 0 && message)
                it->error = utf8_sanitize(message, LOAD_ERROR_MAX);

        if (r < 0) {
                if (!it->error)
                        return log_oom();
                log_config(name, LOG_ERR, r, "Backup configuration '%s' is broken: %s; what was in force stays.", name,
                           it->error);
        }
        return 0;
}

int backup_configs_load(Manager *m, backup_configs_loaded_t done) {
        _cleanup_(config_load_freep) ConfigLoad *l = NULL;
        _cleanup_free_ char **exprs = NULL;
        struct dirent *de;
        size_t n = 0;
        DIR *d;
        int r = 0;

        l = new0(ConfigLoad, 1);
        if (!l)
                return log_oom();
        l->manager = m;
        l->done = done;

        d = opendir(m->config_dir);
        if (!d && errno != ENOENT)
                log_error_errno(errno, "Cannot read %s: %m", m->config_dir);
        while (d && (de = readdir(d))) {
                _cleanup_free_ char *name = NULL;
                LoadItem *t;

                if (de->d_name[0] == '.' || !endswith(de->d_name, CONFIG_FILE_SUFFIX))
                        continue;
                name = strndup(de->d_name, strlen(de->d_name) - strlen(CONFIG_FILE_SUFFIX));
                if (!name) {
                        r = log_oom();
                        break;
                }
                if (!config_name_is_valid(name)) {
                        log_warning("%s/%s is not named after a valid configuration name, ignoring.", m->config_dir,
                                    de->d_name);
                        continue;
                }
                t = realloc(l->items, sizeof(LoadItem) * (l->n_items + 1));
                if (!t) {
                        r = log_oom();
                        break;
                }
                l->items = t;
                r = config_load_file(l, name, &l->items[l->n_items++]);
                if (r < 0)
                        break;
        }
        if (d)
                closedir(d);
        if (r < 0)
                return r;

        /* Every calendar goes to systemd's parser, all in one check; the set applies once the
         * verdicts are in. */
        exprs = new0(char *, l->n_items + 1);
        if (!exprs)
                return log_oom();
        for (size_t i = 0; i < l->n_items; i++)
                if (!l->items[i].error)
                        exprs[n++] = l->items[i].spec.parsed.calendar;
        r = n > 0 ? calendar_check_start(m->event, exprs, n, on_calendar_checked, l, &l->check) : 0;
        for (size_t i = 0; r < 0 && i < l->n_items; i++) {
                LoadItem *it = &l->items[i];

                if (it->error)
                        continue;
                (void) set_message(&it->error, r, "cannot check its calendar: %s", strerror(-r));
                log_config(it->name, LOG_ERR, r, "Backup configuration '%s' is broken: %s; what was in force stays.",
                           it->name, strna(it->error));
        }

        /* A load in progress is overtaken by this one: it would apply older files, and this one
         * read the directory after every change made while that one ran. */
        config_load_free(m->config_load);
        m->config_load = l;
        if (!TAKE_PTR(l)->check)
                config_load_apply(m->config_load);
        return 0;
}

/* ---- the last backup of each ------------------------------------------------------------------- */

/* The reason of a failure, on one line: it goes into the status line and the results file. */
static void config_set_last_error(BackupConfig *c, const char *error) {
        if (free_and_strdup(&c->last_error, error) < 0 || !c->last_error)
                return;
        for (char *p = c->last_error; *p; p++)
                if ((unsigned char) *p < ' ')
                        *p = ' ';
}

static void config_set_last(BackupConfig *c, const char *id, usec_t when, const char *result, const char *error) {
        snprintf(c->last_backup_id, sizeof(c->last_backup_id), "%s", id);
        c->last_backup = when;
        (void) free_and_strdup(&c->last_result, result);
        config_set_last_error(c, streq_ptr(result, "failed") ? error : NULL);
        if (c->manager->bus)
                (void) sd_bus_emit_properties_changed(c->manager->bus, c->object_path, CONFIG_INTERFACE, "LastBackup",
                                                      "LastBackupId", "LastResult", NULL);
}

static int save_results(Manager *m) {
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t size = 0;
        FILE *f;
        int r;

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        fputs("# The last backup of each configuration, kept by etcd-backupd across restarts.\n", f);
        LIST_FOREACH(configs, c, m->configs)
                if (c->last_result)
                        fprintf(f, "[%s]\nId=%s\nTime=%" PRIu64 "\nResult=%s\n%s%s%s", c->name, c->last_backup_id,
                                c->last_backup, c->last_result, c->last_error ? "Error=" : "", strempty(c->last_error),
                                c->last_error ? "\n" : "");
        if (fclose(f) != 0)
                return -ENOMEM;

        r = mkdir_p(m->state_dir, 0700);
        if (r < 0)
                return r;
        fd = open(m->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return write_file_atomic_at(fd, RESULTS_FILE, text, size, 0600);
}

void backup_config_record_result(BackupConfig *c, const Backup *b) {
        int r;

        config_set_last(c, b->id, b->meta.created, backup_state_to_string(b->state), b->error_message);
        if (b->state == BACKUP_FAILED)
                c->failures++;
        r = save_results(c->manager);
        if (r < 0)
                log_warning_errno(r, "Failed to save the last results in %s, ignoring: %m", c->manager->state_dir);
}

static int on_result_assignment(const char *section, const char *key, const char *value, unsigned line,
                                void *userdata) {
        BackupConfig *c = manager_find_config(userdata, section);
        uint64_t t;

        if (!c)
                return 0; /* a configuration since removed */
        if (streq(key, "Id"))
                (void) backup_id_normalize(value, c->last_backup_id);
        else if (streq(key, "Time") && safe_atou64(value, &t) >= 0)
                c->last_backup = t;
        else if (streq(key, "Result") && (streq(value, "completed") || streq(value, "failed")))
                (void) free_and_strdup(&c->last_result, value);
        else if (streq(key, "Error"))
                config_set_last_error(c, value);
        return 0;
}

void backup_configs_load_results(Manager *m) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (asprintf(&path, "%s/" RESULTS_FILE, m->state_dir) < 0) {
                log_oom();
                return;
        }
        r = conf_parse_file(path, RESULTS_FILE_MAX, on_result_assignment, m, NULL);
        if (r == -EBADFD)
                log_warning("%s is not a regular file, ignoring.", path);
        else if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "Failed to read %s, ignoring: %m", path);

        /* A completed backup on disk newer than what was recorded (or nothing recorded). */
        LIST_FOREACH(backups, b, m->backups) {
                BackupConfig *c = manager_find_config(m, b->meta.config);
                if (c && b->state == BACKUP_COMPLETED && b->meta.created > c->last_backup)
                        config_set_last(c, b->id, b->meta.created, "completed", NULL);
        }
}

/* ---- retention ------------------------------------------------------------------------------------ */

void backup_config_apply_retention(BackupConfig *c, const Backup *just_taken) {
        Manager *m = c->manager;
        _cleanup_free_ RetentionItem *items = NULL;
        size_t n = 0, marked;

        /* A configuration never loaded (its file broken since before the agent started) has no
         * known Keep: keeping everything loses nothing. */
        if (!c->spec.schedule)
                return;

        LIST_FOREACH(backups, b, m->backups)
                n += b->state == BACKUP_COMPLETED && streq(b->meta.config, c->name);
        items = new0(RetentionItem, n);
        if (!items) {
                log_oom();
                return;
        }
        n = 0;
        LIST_FOREACH(backups, b, m->backups)
                if (b->state == BACKUP_COMPLETED && streq(b->meta.config, c->name))
                        items[n++] = (RetentionItem) {
                                .created = b->meta.created,
                                .good = !b->damaged,
                                .pinned = b->pinned > 0,
                                .just_taken = b == just_taken,
                                .data = (void *) b,
                        };

        marked = retention_select(items, n, backup_config_keep(c), now(CLOCK_REALTIME));
        if (marked == 0)
                return;
        log_config(c->name, LOG_INFO, 0, "Retention of '%s' keeps %u backups: removing %zu.", c->name,
                   backup_config_keep(c), marked);
        for (size_t i = 0; i < n; i++)
                if (items[i].delete)
                        (void) backup_remove(items[i].data, "retention");
}

/* ---- the bus object ------------------------------------------------------------------------------- */

static int property_get_calendar(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        BackupConfig *c = userdata;
        return sd_bus_message_append(reply, "s", c->spec.parsed.calendar);
}

static int property_get_keep(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "u", backup_config_keep(userdata));
}

static void *config_object_find(void *userdata, const char *name) {
        return manager_find_config(userdata, name);
}

static void *config_object_next(void *userdata, void *prev) {
        Manager *m = userdata;
        return prev ? ((BackupConfig *) prev)->configs_next : m->configs;
}

static const sd_bus_vtable config_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", NULL, offsetof(BackupConfig, name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Schedule", "s", NULL, offsetof(BackupConfig, spec.schedule), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Calendar", "s", property_get_calendar, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Keep", "u", property_get_keep, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Enabled", "b", bus_property_get_bool, offsetof(BackupConfig, spec.enabled),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LastBackup", "t", NULL, offsetof(BackupConfig, last_backup), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LastBackupId", "s", bus_property_get_inline_string, offsetof(BackupConfig, last_backup_id),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LastResult", "s", NULL, offsetof(BackupConfig, last_result), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("NextRun", "t", NULL, offsetof(BackupConfig, next_run), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LoadError", "s", NULL, offsetof(BackupConfig, load_error), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_VTABLE_END,
};

const BusObjectKind config_objects = {
        .prefix = CONFIG_OBJECT_PREFIX,
        .interface = CONFIG_INTERFACE,
        .vtable = config_vtable,
        .find = config_object_find,
        .next = config_object_next,
        .path_offset = offsetof(BackupConfig, object_path),
};
