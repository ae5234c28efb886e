/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reconciling timers with configurations. A pass walks through phases; each issues its calls
 * to systemd at once and timers_step() moves on when the last one has answered (callbacks only
 * record what happened):
 *
 *   SETUP    learn the manager's control directory from its UnitPath, once
 *   STOP     stop the timers of configurations gone or disabled (before their calendar goes:
 *            a running timer reloaded without one would be left in a bad state)
 *   FILES    write the drop-ins of the enabled configurations, remove the others; Reload if
 *            anything changed
 *   INSTALL  EnableUnitFiles for the wanted timers, DisableUnitFiles for the others
 *   START    RestartUnit where the calendar changed, StartUnit elsewhere (a no-op if running)
 *   WATCH    follow each timer's NextElapseUSecRealtime through PropertiesChanged
 */

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "backup-config.h"
#include "errors.h"
#include "fs-util.h"
#include "log.h"
#include "string-util.h"
#include "systemd-jobs.h"
#include "timers.h"

#define TIMER_PREFIX "etcd-backup@"
#define TIMER_SUFFIX ".timer"

typedef enum Phase {
        PHASE_IDLE,
        PHASE_SETUP,
        PHASE_STOP,
        PHASE_FILES,
        PHASE_INSTALL,
        PHASE_START,
        PHASE_WATCH,
        _PHASE_MAX,
} Phase;

/* A method call whose reply waits for the timers to match. */
typedef struct Waiter {
        struct Waiter *next;
        sd_bus_message *request;
        char *path;
        bool in_pass; /* the running pass started after the change: its end answers */
} Waiter;

struct Timers {
        Manager *manager;
        SystemdClient *client;
        char *dropin_dir;
        sd_event_source *defer;
        Phase phase;
        bool again;
        unsigned pending;
        char **stale; /* configuration names whose timer must go, this pass */
        bool files_changed;
        char *error; /* the first failure of this pass, for the callers it answers */
        Waiter *waiters;
};

static Waiter *waiter_free(Waiter *w) {
        sd_bus_message_unref(w->request);
        free(w->path);
        free(w);
        return NULL;
}

/* At the end of a pass: the replies of the changes it covered. A change is saved before its
 * pass begins, so a failure here does not undo it; the caller learns that its timer is not
 * what the configuration says. */
static void answer_waiters(Timers *t) {
        for (Waiter **i = &t->waiters; *i;) {
                Waiter *w = *i;

                if (!w->in_pass) {
                        i = &w->next;
                        continue;
                }
                *i = w->next;
                if (t->error)
                        (void) sd_bus_reply_method_errorf(w->request, AGENT_ERROR_TIMER_FAILED,
                                                          "The configuration is saved, but systemd does not have its timer: %s "
                                                          "Once that is fixed, 'systemctl reload etcd-backupd' tries again.",
                                                          t->error);
                else
                        (void) sd_bus_reply_method_return(w->request, w->path ? "o" : NULL, w->path);
                waiter_free(w);
        }
        t->error = mfree(t->error);
}

/* Logs a failure of the pass; the first one is also what the waiting callers are told. */
_printf_(3, 4) static void pass_failed(Timers *t, int error, const char *format, ...) {
        _cleanup_free_ char *message = NULL;
        va_list ap;

        errno = abs(error); /* for %m */
        va_start(ap, format);
        if (vasprintf(&message, format, ap) < 0)
                message = NULL;
        va_end(ap);
        log_error_errno(error, "%s", message ?: "Out of memory.");
        if (!t->error)
                t->error = TAKE_PTR(message);
}

static void timers_step(Timers *t);

static bool config_wants_timer(BackupConfig *c) {
        return c->spec.enabled;
}

static char *timer_name(const char *config) {
        char *s;
        return asprintf(&s, TIMER_PREFIX "%s" TIMER_SUFFIX, config) < 0 ? NULL : s;
}

/* Every call of a phase ends here or in a callback that then calls this. */
static void call_done(Timers *t) {
        if (t->pending > 0 && --t->pending == 0)
                timers_step(t);
}

static void on_call_done(SystemdCall *call, int r, const char *message, sd_bus_message *reply, void *userdata) {
        Timers *t = userdata;

        if (r < 0)
                pass_failed(t, r, "systemd refused a change of the timers: %s", strna(message));
        call_done(t);
}

/* Sends m, made with result r, whose answer only says whether it worked. */
static void send_call(Timers *t, sd_bus_message *m, int r, const char *what) {
        if (r >= 0)
                r = systemd_call(t->client, m, on_call_done, t, NULL);
        if (r < 0)
                pass_failed(t, r, "Cannot ask systemd to %s: %m.", what);
        else
                t->pending++;
}

/* ---- SETUP ------------------------------------------------------------------------------------ */

static void on_unit_path(SystemdCall *call, int r, const char *message, sd_bus_message *reply, void *userdata) {
        Timers *t = userdata;
        const char *dir, *first_control = NULL;

        if (r >= 0 && (r = sd_bus_message_enter_container(reply, 'v', "as")) >= 0 &&
            (r = sd_bus_message_enter_container(reply, 'a', "s")) >= 0)
                /* The first control directory: systemd lists the persistent one (where
                 * "systemctl set-property" writes) before the runtime one. */
                while (sd_bus_message_read(reply, "s", &dir) > 0)
                        if (endswith(dir, ".control") && !first_control)
                                first_control = dir;
        if (first_control)
                (void) free_and_strdup(&t->dropin_dir, first_control);
        if (!t->dropin_dir)
                pass_failed(t, r < 0 ? r : -ENOENT, "Cannot tell where the service manager takes drop-ins (%s).",
                            r < 0 ? strna(message) : "no control directory in its UnitPath");
        call_done(t);
}

static void phase_setup(Timers *t) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(systemd_client_bus(t->client), &m, SYSTEMD_SERVICE, SYSTEMD_PATH,
                                           "org.freedesktop.DBus.Properties", "Get");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", SYSTEMD_MANAGER_INTERFACE, "UnitPath");
        if (r >= 0)
                r = systemd_call(t->client, m, on_unit_path, t, NULL);
        if (r < 0)
                pass_failed(t, r, "Cannot ask the service manager for its unit path: %m.");
        else
                t->pending++;
}

/* ---- STOP ------------------------------------------------------------------------------------- */

/* The timers to remove: configurations that do not want one, and drop-ins of ours found on
 * disk for configurations that no longer exist (removed while the agent was not running). */
static int collect_stale(Timers *t) {
        Manager *m = t->manager;
        struct dirent *de;
        DIR *d;
        int r;

        t->stale = strv_free(t->stale);
        t->stale = calloc(1, sizeof(char *));
        if (!t->stale)
                return -ENOMEM;

        for (BackupConfig *c = m->configs; c; c = c->next)
                if (!config_wants_timer(c) && (r = strv_extend(&t->stale, c->name)) < 0)
                        return r;

        d = opendir(t->dropin_dir);
        while (d && (de = readdir(d))) {
                _cleanup_free_ char *name = NULL;
                const char *p = startswith(de->d_name, TIMER_PREFIX);

                if (!p || !endswith(p, TIMER_SUFFIX ".d"))
                        continue;
                name = strndup(p, strlen(p) - strlen(TIMER_SUFFIX ".d"));
                if (!name)
                        break;
                if (config_name_is_valid(name) && !manager_find_config(m, name) && strv_extend(&t->stale, name) < 0)
                        break;
        }
        if (d)
                closedir(d);
        return 0;
}

static void phase_stop(Timers *t) {
        int r;

        for (char **n = t->stale; n && *n; n++) {
                _cleanup_free_ char *unit = timer_name(*n);
                BackupConfig *c = manager_find_config(t->manager, *n);

                if (c) {
                        c->timer_calendar = mfree(c->timer_calendar);
                        c->timer_changed = sd_bus_slot_unref(c->timer_changed);
                        if (c->next_run != 0) {
                                c->next_run = 0;
                                (void) sd_bus_emit_properties_changed(t->manager->bus, c->object_path, CONFIG_INTERFACE,
                                                                      "NextRun", NULL);
                        }
                }
                r = unit ? systemd_job(t->client, "StopUnit", unit, on_call_done, t, NULL) : -ENOMEM;
                if (r < 0)
                        pass_failed(t, r, "Cannot stop the timer of '%s': %m.", *n);
                else
                        t->pending++;
        }
}

/* ---- FILES ------------------------------------------------------------------------------------ */

static int dropin_path(Timers *t, const char *config, char **ret_dir, char **ret_file) {
        if (asprintf(ret_dir, "%s/" TIMER_PREFIX "%s" TIMER_SUFFIX ".d", t->dropin_dir, config) < 0 ||
            asprintf(ret_file, "%s/" TIMER_DROPIN_NAME, *ret_dir) < 0)
                return -ENOMEM;
        return 0;
}

static int write_dropin(Timers *t, BackupConfig *c) {
        _cleanup_free_ char *dir = NULL, *file = NULL, *text = NULL, *old = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = dropin_path(t, c->name, &dir, &file);
        if (r < 0)
                return r;
        if (asprintf(&text,
                     "# The schedule of etcd backup configuration \"%s\", kept by etcd-backupd.\n"
                     "# Change it with: etcd-backupctl set-config %s --schedule=...\n"
                     "[Timer]\n"
                     "OnCalendar=\n"
                     "OnCalendar=%s\n",
                     c->name, c->name, c->spec.parsed.calendar) < 0)
                return -ENOMEM;
        if (read_full_file(file, 64 * 1024, &old, NULL) >= 0 && streq(old, text))
                return 0;

        r = mkdir_p(dir, 0755);
        if (r >= 0) {
                fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                r = fd < 0 ? -errno : write_file_atomic_at(fd, TIMER_DROPIN_NAME, text, strlen(text), 0644);
        }
        if (r < 0) {
                pass_failed(t, r, "Cannot write %s: %m.", file);
                return r;
        }
        t->files_changed = true;
        return 0;
}

static void remove_dropin(Timers *t, const char *config) {
        _cleanup_free_ char *dir = NULL, *file = NULL;

        if (dropin_path(t, config, &dir, &file) < 0)
                return;
        if (unlink(file) >= 0)
                t->files_changed = true;
        else if (errno != ENOENT)
                log_warning_errno(errno, "Failed to remove %s, ignoring: %m", file);
        (void) rmdir(dir); /* only if nobody else put a drop-in there */
}

static void phase_files(Timers *t) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

        t->files_changed = false;
        for (BackupConfig *c = t->manager->configs; c; c = c->next)
                if (config_wants_timer(c))
                        (void) write_dropin(t, c);
        for (char **n = t->stale; n && *n; n++)
                remove_dropin(t, *n);

        /* systemd sees drop-ins only after a reload. */
        if (t->files_changed)
                send_call(t, m, systemd_new_manager_call(t->client, "Reload", &m), "reload");
}

/* ---- INSTALL ---------------------------------------------------------------------------------- */

static int append_units(sd_bus_message *m, Timers *t, bool wanted) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "s");
        if (r < 0)
                return r;
        if (wanted) {
                for (BackupConfig *c = t->manager->configs; c && r >= 0; c = c->next)
                        if (config_wants_timer(c)) {
                                _cleanup_free_ char *unit = timer_name(c->name);
                                r = unit ? sd_bus_message_append(m, "s", unit) : -ENOMEM;
                        }
        } else
                for (char **n = t->stale; n && *n && r >= 0; n++) {
                        _cleanup_free_ char *unit = timer_name(*n);
                        r = unit ? sd_bus_message_append(m, "s", unit) : -ENOMEM;
                }
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

static void phase_install(Timers *t) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *enable = NULL, *disable = NULL;
        bool any_wanted = false;
        int r;

        for (BackupConfig *c = t->manager->configs; c; c = c->next)
                any_wanted = any_wanted || config_wants_timer(c);

        /* Enabled (not runtime), so that the timers start at boot, with Persistent= catching up
         * on what the node missed while down. */
        if (any_wanted) {
                r = systemd_new_manager_call(t->client, "EnableUnitFiles", &enable);
                if (r >= 0)
                        r = append_units(enable, t, true);
                if (r >= 0)
                        r = sd_bus_message_append(enable, "bb", false, true);
                send_call(t, enable, r, "enable the timers");
        }
        if (strv_length(t->stale) > 0) {
                r = systemd_new_manager_call(t->client, "DisableUnitFiles", &disable);
                if (r >= 0)
                        r = append_units(disable, t, false);
                if (r >= 0)
                        r = sd_bus_message_append(disable, "b", false);
                send_call(t, disable, r, "disable the timers");
        }
}

/* ---- START ------------------------------------------------------------------------------------ */

/* What a START or WATCH callback needs to know, freed with the call (ended or cancelled). A
 * configuration is found again by name: it may be gone by the time systemd answers. */
typedef struct Request {
        Timers *timers;
        char *config;
        char *calendar;
} Request;

static void request_free(void *userdata) {
        Request *q = userdata;

        free(q->config);
        free(q->calendar);
        free(q);
}

/* Starts the call (a job if unit is set, else m) with a Request as userdata. */
static int request_start(Timers *t, BackupConfig *c, bool with_calendar, const char *method, const char *unit,
                         sd_bus_message *m, systemd_done_t done) {
        SystemdCall *call;
        Request *q;
        int r;

        q = calloc(1, sizeof(*q));
        if (!q || !(q->config = strdup(c->name)) ||
            (with_calendar && !(q->calendar = strdup(c->spec.parsed.calendar)))) {
                if (q)
                        request_free(q);
                return -ENOMEM;
        }
        q->timers = t;
        r = unit ? systemd_job(t->client, method, unit, done, q, &call) : systemd_call(t->client, m, done, q, &call);
        if (r < 0) {
                request_free(q);
                return r;
        }
        systemd_call_set_destroy(call, request_free);
        t->pending++;
        return 0;
}

static void on_started(SystemdCall *call, int r, const char *message, sd_bus_message *reply, void *userdata) {
        Request *q = userdata;
        BackupConfig *c = manager_find_config(q->timers->manager, q->config);

        if (r < 0)
                pass_failed(q->timers, r, "Starting the timer of backup configuration '%s' failed: %s", q->config,
                            strna(message));
        else if (c) {
                free(c->timer_calendar);
                c->timer_calendar = TAKE_PTR(q->calendar);
        }
        call_done(q->timers);
}

static void phase_start(Timers *t) {
        int r;

        for (BackupConfig *c = t->manager->configs; c; c = c->next) {
                _cleanup_free_ char *unit = NULL;

                if (!config_wants_timer(c))
                        continue;
                unit = timer_name(c->name);
                /* A new calendar needs the timer restarted to be armed with it. */
                r = unit ? request_start(t, c, /* with_calendar= */ true,
                                         streq_ptr(c->timer_calendar, c->spec.parsed.calendar) ? "StartUnit" : "RestartUnit",
                                         unit, NULL, on_started)
                         : -ENOMEM;
                if (r < 0)
                        pass_failed(t, r, "Cannot start the timer of backup configuration '%s': %m.", c->name);
        }
}

/* ---- WATCH ------------------------------------------------------------------------------------ */

static void config_set_next_run(BackupConfig *c, usec_t next) {
        /* systemd says "infinity" for a timer with nothing to elapse (while it is restarted). */
        if (next == USEC_INFINITY)
                next = 0;
        if (c->next_run == next)
                return;
        c->next_run = next;
        (void) sd_bus_emit_properties_changed(c->manager->bus, c->object_path, CONFIG_INTERFACE, "NextRun", NULL);
}

static int on_timer_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        BackupConfig *c = userdata;
        const char *interface, *name;
        uint64_t next;

        if (sd_bus_message_read(m, "s", &interface) < 0 || !streq(interface, "org.freedesktop.systemd1.Timer") ||
            sd_bus_message_enter_container(m, 'a', "{sv}") < 0)
                return 0;
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                if (sd_bus_message_read(m, "s", &name) < 0)
                        return 0;
                if (streq(name, "NextElapseUSecRealtime") && sd_bus_message_read(m, "v", "t", &next) >= 0)
                        config_set_next_run(c, next);
                else if (sd_bus_message_skip(m, "v") < 0)
                        return 0;
                if (sd_bus_message_exit_container(m) < 0)
                        return 0;
        }
        return 0;
}

static void on_next_elapse(SystemdCall *call, int r, const char *message, sd_bus_message *reply, void *userdata) {
        Request *q = userdata;
        BackupConfig *c = manager_find_config(q->timers->manager, q->config);
        uint64_t next;

        if (r >= 0 && c && sd_bus_message_read(reply, "v", "t", &next) >= 0)
                config_set_next_run(c, next);
        call_done(q->timers);
}

static void phase_watch(Timers *t) {
        for (BackupConfig *c = t->manager->configs; c; c = c->next) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                _cleanup_free_ char *unit = NULL, *path = NULL;

                if (!config_wants_timer(c) || !(unit = timer_name(c->name)) || systemd_unit_path(unit, &path) < 0)
                        continue;
                /* Subscribed to first, so that no change between the Get and the match is missed. */
                if (!c->timer_changed &&
                    sd_bus_match_signal_async(systemd_client_bus(t->client), &c->timer_changed, SYSTEMD_SERVICE, path,
                                              "org.freedesktop.DBus.Properties", "PropertiesChanged", on_timer_changed,
                                              NULL, c) < 0)
                        log_warning("Cannot follow the timer of '%s'; its NextRun will not be updated.", c->name);

                if (sd_bus_message_new_method_call(systemd_client_bus(t->client), &m, SYSTEMD_SERVICE, path,
                                                   "org.freedesktop.DBus.Properties", "Get") < 0 ||
                    sd_bus_message_append(m, "ss", "org.freedesktop.systemd1.Timer", "NextElapseUSecRealtime") < 0 ||
                    request_start(t, c, /* with_calendar= */ false, NULL, NULL, m, on_next_elapse) < 0)
                        log_warning("Cannot ask for the next run of backup configuration '%s'.", c->name);
        }
}

/* ---- the pass --------------------------------------------------------------------------------- */

/* Moves to the next phase that has something to wait for; back to idle after WATCH. */
static void timers_step(Timers *t) {
        while (t->pending == 0) {
                t->phase++;
                if (t->phase == PHASE_STOP && !t->dropin_dir) {
                        t->phase = PHASE_IDLE; /* SETUP failed; reported there */
                        break;
                }
                if (t->phase == PHASE_STOP && collect_stale(t) < 0) {
                        pass_failed(t, -ENOMEM, "Out of memory.");
                        t->phase = PHASE_IDLE;
                        break;
                }
                switch (t->phase) {
                case PHASE_SETUP:
                        if (!t->dropin_dir)
                                phase_setup(t);
                        break;
                case PHASE_STOP:
                        phase_stop(t);
                        break;
                case PHASE_FILES:
                        phase_files(t);
                        break;
                case PHASE_INSTALL:
                        phase_install(t);
                        break;
                case PHASE_START:
                        phase_start(t);
                        break;
                case PHASE_WATCH:
                        phase_watch(t);
                        break;
                default:
                        t->phase = PHASE_IDLE;
                }
                if (t->phase == PHASE_IDLE)
                        break;
        }
        if (t->phase == PHASE_IDLE) {
                t->stale = strv_free(t->stale);
                answer_waiters(t);
                if (t->again) {
                        t->again = false;
                        timers_reconcile(t);
                }
        }
}

static int on_defer(sd_event_source *s, void *userdata) {
        Timers *t = userdata;

        t->defer = sd_event_source_disable_unref(t->defer);
        /* Every change made so far is covered by the pass starting now. */
        for (Waiter *w = t->waiters; w; w = w->next)
                w->in_pass = true;
        t->phase = PHASE_IDLE;
        timers_step(t);
        return 0;
}

void timers_reconcile(Timers *t) {
        if (!t)
                return;
        if (t->phase != PHASE_IDLE) {
                t->again = true;
                return;
        }
        /* Deferred to the loop, so that a burst of changes makes one pass. */
        if (!t->defer && sd_event_add_defer(t->manager->event, &t->defer, on_defer, t) < 0)
                log_oom();
}

int timers_reconcile_and_reply(Timers *t, sd_bus_message *m, const char *path) {
        Waiter *w;

        if (!t)
                return sd_bus_reply_method_return(m, path ? "o" : NULL, path);
        w = calloc(1, sizeof(*w));
        if (!w || (path && !(w->path = strdup(path)))) {
                free(w);
                return -ENOMEM;
        }
        w->request = sd_bus_message_ref(m);
        w->next = t->waiters;
        t->waiters = w;
        timers_reconcile(t);
        return 1;
}

bool timers_busy(Timers *t) {
        return t && (t->phase != PHASE_IDLE || t->defer);
}

int timers_new(Manager *m, Timers **ret) {
        _cleanup_(timers_freep) Timers *t = NULL;
        int r;

        t = calloc(1, sizeof(*t));
        if (!t)
                return log_oom();
        t->manager = m;
        r = systemd_client_new(m->event, m->config.scope, m->bus, &t->client);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the %s service manager: %m",
                                       systemd_scope_to_string(m->config.scope));
        *ret = TAKE_PTR(t);
        return 0;
}

Timers *timers_free(Timers *t) {
        if (!t)
                return NULL;
        /* Outstanding calls die with the client; their callbacks never run. The changes are
         * made: waiting callers get their answer. */
        systemd_client_free(t->client);
        for (Waiter *w = t->waiters; w; w = w->next)
                w->in_pass = true;
        answer_waiters(t);
        sd_event_source_disable_unref(t->defer);
        strv_free(t->stale);
        free(t->error);
        free(t->dropin_dir);
        free(t);
        return NULL;
}
