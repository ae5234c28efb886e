/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reconciling timers with configurations. A pass begins by capturing what every configuration
 * wants (its calendar, or no timer) and acts on that capture alone: a configuration added or
 * changed while a pass runs is the next pass's business, never half of this one's. Each phase
 * issues its calls to systemd (one per timer, so that one timer systemd refuses fails only
 * itself) and timers_step() moves on when the last one has answered; callbacks only record
 * what happened:
 *
 *   SETUP    learn the manager's control directory from its UnitPath, once
 *   STOP     stop the timers no longer wanted (before their calendar goes: a running timer
 *            reloaded without one would be left in a bad state)
 *   FILES    write the drop-ins of the wanted timers, remove the others; Reload if anything
 *            changed
 *   INSTALL  EnableUnitFiles for each wanted timer, DisableUnitFiles for the others
 *   START    RestartUnit where the calendar changed, StartUnit elsewhere (a no-op if running)
 *   WATCH    follow each timer's NextElapseUSecRealtime through PropertiesChanged
 *
 * A pass answers the changes made before it began: each caller learns about its own
 * configuration's timer (or about a failure that concerns every timer, such as Reload), not
 * about another's. Configurations whose file is broken keep their timer as it was.
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
#include "list.h"
#include "log.h"
#include "string-util.h"
#include "systemd-jobs.h"
#include "timers.h"

#define TIMER_PREFIX "etcd-backup@"
#define TIMER_SUFFIX ".timer"

typedef enum TimersPhase {
        TIMERS_IDLE,
        TIMERS_SETUP,
        TIMERS_STOP,
        TIMERS_FILES,
        TIMERS_INSTALL,
        TIMERS_START,
        TIMERS_WATCH,
        _TIMERS_PHASE_MAX,
        _TIMERS_PHASE_INVALID = -EINVAL,
} TimersPhase;

static const char * const timers_phase_table[_TIMERS_PHASE_MAX] = {
        [TIMERS_IDLE] = "idle",
        [TIMERS_SETUP] = "setup",
        [TIMERS_STOP] = "stop",
        [TIMERS_FILES] = "files",
        [TIMERS_INSTALL] = "install",
        [TIMERS_START] = "start",
        [TIMERS_WATCH] = "watch",
};

/* One timer as the running pass captured it. */
typedef struct PassItem {
        char *config;
        char *calendar; /* the OnCalendar= it wants; NULL: no timer (disabled, or gone) */
        char *error;    /* the first failure concerning this timer in this pass */
} PassItem;

/* A change whose answer waits for the timers: a method call to reply to, or a callback. */
typedef struct Waiter {
        LIST_FIELDS(struct Waiter, waiters);
        sd_bus_message *request;
        char *path;   /* the reply's object path, if any */
        char *config; /* the configuration the change concerns; NULL: every one */
        timers_done_t done;
        void *userdata;
        bool in_pass; /* the running pass began after the change: its end answers */
} Waiter;

/* What timers.c alone knows of a timer: the calendar the running timer was armed with, and the
 * match that follows its next elapse. Kept by name: a configuration may go while systemd still
 * has its timer. */
typedef struct TimerState {
        LIST_FIELDS(struct TimerState, states);
        Timers *timers;
        char *config;
        char *calendar;
        sd_bus_slot *changed;
} TimerState;

struct Timers {
        Manager *manager;
        SystemdClient *client;
        char *dropin_dir;
        sd_event_source *defer;
        TimersPhase phase;
        bool again;
        unsigned pending;

        /* What the next pass covers: every timer, or the configurations changed since. */
        bool dirty_all;
        char **dirty;

        PassItem *items; /* the capture of the running pass */
        size_t n_items;
        bool files_changed;
        char *error; /* a failure of this pass that concerns every timer */

        Waiter *waiters;
        TimerState *states;
};

static void timers_step(Timers *t);
static void timers_start_pass(Timers *t);

static char *timer_name(const char *config) {
        char *s;
        return asprintf(&s, TIMER_PREFIX "%s" TIMER_SUFFIX, config) < 0 ? NULL : s;
}

/* ---- what timers.c keeps per timer ------------------------------------------------------------ */

static TimerState *timer_state_free(TimerState *s) {
        if (!s)
                return NULL;
        LIST_REMOVE(states, s->timers->states, s);
        sd_bus_slot_unref(s->changed);
        free(s->config);
        free(s->calendar);
        free(s);
        return NULL;
}

static TimerState *timer_state_find(Timers *t, const char *config) {
        LIST_FOREACH(states, s, t->states)
                if (streq(s->config, config))
                        return s;
        return NULL;
}

static TimerState *timer_state_get(Timers *t, const char *config) {
        TimerState *s = timer_state_find(t, config);

        if (s)
                return s;
        s = calloc(1, sizeof(*s));
        if (!s || !(s->config = strdup(config))) {
                free(s);
                return NULL;
        }
        s->timers = t;
        LIST_PREPEND(states, t->states, s);
        return s;
}

/* ---- the capture and its failures --------------------------------------------------------------- */

static void pass_items_free(Timers *t) {
        for (size_t i = 0; i < t->n_items; i++) {
                free(t->items[i].config);
                free(t->items[i].calendar);
                free(t->items[i].error);
        }
        t->items = mfree(t->items);
        t->n_items = 0;
}

static int pass_add_item(Timers *t, const char *config, const char *calendar) {
        PassItem *n;

        for (size_t i = 0; i < t->n_items; i++)
                if (streq(t->items[i].config, config))
                        return 0;
        n = realloc(t->items, sizeof(PassItem) * (t->n_items + 1));
        if (!n)
                return -ENOMEM;
        t->items = n;
        n[t->n_items] = (PassItem) { .config = strdup(config), .calendar = calendar ? strdup(calendar) : NULL };
        if (!n[t->n_items].config || (calendar && !n[t->n_items].calendar)) {
                free(n[t->n_items].config);
                free(n[t->n_items].calendar);
                return -ENOMEM;
        }
        t->n_items++;
        return 0;
}

static int pass_add_config(Timers *t, const char *name) {
        BackupConfig *c = manager_find_config(t->manager, name);

        if (c && c->broken)
                return 0; /* its timer stays as it was until the file is fixed */
        return pass_add_item(t, name, c && c->spec.enabled ? c->spec.parsed.calendar : NULL);
}

/* What the configurations the pass covers want now. A pass over everything also takes the
 * timers this agent ran for configurations that are gone, and the drop-ins of ours found on
 * disk for configurations removed while the agent was not running. */
static int pass_capture(Timers *t) {
        _cleanup_strv_free_ char **dirty = TAKE_PTR(t->dirty);
        bool all = t->dirty_all;
        Manager *m = t->manager;
        struct dirent *de;
        DIR *d;
        int r;

        t->dirty_all = false;
        pass_items_free(t);
        if (!all) {
                STRV_FOREACH(n, dirty)
                        if ((r = pass_add_config(t, *n)) < 0)
                                return r;
                return 0;
        }

        LIST_FOREACH(configs, c, m->configs)
                if ((r = pass_add_config(t, c->name)) < 0)
                        return r;
        LIST_FOREACH(states, s, t->states)
                if (!manager_find_config(m, s->config) && (r = pass_add_item(t, s->config, NULL)) < 0)
                        return r;

        d = opendir(t->dropin_dir);
        while (d && (de = readdir(d))) {
                _cleanup_free_ char *name = NULL;
                const char *p = startswith(de->d_name, TIMER_PREFIX);

                if (!p || !endswith(p, TIMER_SUFFIX ".d"))
                        continue;
                name = strndup(p, strlen(p) - strlen(TIMER_SUFFIX ".d"));
                if (!name) {
                        closedir(d);
                        return -ENOMEM;
                }
                if (config_name_is_valid(name) && !manager_find_config(m, name) && (r = pass_add_item(t, name, NULL)) < 0) {
                        closedir(d);
                        return r;
                }
        }
        if (d)
                closedir(d);
        return 0;
}

static PassItem *pass_find_item(Timers *t, const char *config) {
        for (size_t i = 0; i < t->n_items; i++)
                if (streq(t->items[i].config, config))
                        return &t->items[i];
        return NULL;
}

/* Logs a failure; the first one of a timer (item) or of the whole pass (item NULL) is what
 * the callers it concerns are told. */
_printf_(4, 5) static void pass_failed(Timers *t, PassItem *item, int error, const char *format, ...) {
        _cleanup_free_ char *message = NULL;
        char **slot = item ? &item->error : &t->error;
        va_list ap;

        errno = abs(error); /* for %m */
        va_start(ap, format);
        if (vasprintf(&message, format, ap) < 0)
                message = NULL;
        va_end(ap);
        log_error_errno(error, "%s", message ?: "Out of memory.");
        if (!*slot)
                *slot = message ? TAKE_PTR(message) : strdup("Out of memory.");
}

/* ---- answering -------------------------------------------------------------------------------- */

static Waiter *waiter_free(Timers *t, Waiter *w) {
        LIST_REMOVE(waiters, t->waiters, w);
        sd_bus_message_unref(w->request);
        free(w->path);
        free(w->config);
        free(w);
        return NULL;
}

/* The first failure that concerns the waiter's configuration, or any timer's for a waiter
 * that concerns them all. */
static const char *waiter_error(Timers *t, Waiter *w) {
        PassItem *item;

        if (t->error)
                return t->error;
        if (w->config)
                return (item = pass_find_item(t, w->config)) ? item->error : NULL;
        for (size_t i = 0; i < t->n_items; i++)
                if (t->items[i].error)
                        return t->items[i].error;
        return NULL;
}

/* At the end of a pass: the answers to the changes it covered. A change is saved before its
 * pass begins, so a failure here does not undo it; the caller learns that its timer is not
 * what the configuration says. */
static void answer_waiters(Timers *t) {
        LIST_FOREACH_SAFE(waiters, w, n, t->waiters) {
                const char *error;

                if (!w->in_pass)
                        continue;
                error = waiter_error(t, w);
                if (w->done)
                        w->done(t, error ? -EREMOTEIO : 0, w->userdata);
                else if (error)
                        (void) sd_bus_reply_method_errorf(w->request, AGENT_ERROR_TIMER_FAILED,
                                                          "The configuration is saved, but systemd does not have its timer: %s "
                                                          "Once that is fixed, 'systemctl reload etcd-backupd' tries again.",
                                                          error);
                else
                        (void) sd_bus_reply_method_return(w->request, w->path ? "o" : NULL, w->path);
                waiter_free(t, w);
        }
}

/* ---- calls ------------------------------------------------------------------------------------- */

/* Every call of a phase ends here. */
static void call_done(Timers *t) {
        if (t->pending > 0 && --t->pending == 0)
                timers_step(t);
}

/* What a callback needs to know, freed with the call (ended or cancelled). Items are found
 * by index: the capture does not change while its pass runs. */
typedef struct Request {
        Timers *timers;
        size_t item; /* SIZE_MAX: the pass as a whole */
        const char *what;
} Request;

static void request_free(void *userdata) {
        free(userdata);
}

static PassItem *request_item(Request *q) {
        return q->item == SIZE_MAX ? NULL : &q->timers->items[q->item];
}

static void on_call_done(SystemdCall *call, const SystemdResult *result, void *userdata) {
        Request *q = userdata;
        PassItem *item = request_item(q);

        if (result->error < 0)
                pass_failed(q->timers, item, result->error, "systemd refused to %s%s%s: %s", q->what,
                            item ? " for " : "", item ? item->config : "", strna(result->message));
        call_done(q->timers);
}

/* Sends m (built with result r) or, with unit set, the job on unit; done (on_call_done if NULL)
 * gets a Request for item (SIZE_MAX: the pass). */
static void send_call(Timers *t, size_t item, const char *what, sd_bus_message *m, int r, SystemdJobType job,
                      const char *unit, systemd_done_t done) {
        SystemdCall *call = NULL;
        Request *q;

        if (r >= 0) {
                q = new0(Request, 1);
                if (!q)
                        r = -ENOMEM;
                else {
                        *q = (Request) { .timers = t, .item = item, .what = what };
                        r = unit ? systemd_job(t->client, job, unit, USEC_INFINITY, done ?: on_call_done, q, &call)
                                 : systemd_call(t->client, m, done ?: on_call_done, q, &call);
                        if (r < 0)
                                free(q);
                        else
                                systemd_call_set_destroy(call, request_free);
                }
        }
        if (r < 0) {
                pass_failed(t, item == SIZE_MAX ? NULL : &t->items[item], r, "Cannot ask systemd to %s: %m.", what);
                return;
        }
        t->pending++;
}

/* ---- SETUP ------------------------------------------------------------------------------------ */

static void on_unit_path(SystemdCall *call, const SystemdResult *result, void *userdata) {
        Request *q = userdata;
        Timers *t = q->timers;
        sd_bus_message *reply = result->reply;
        const char *dir, *first_control = NULL;
        int r = result->error;

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
                pass_failed(t, NULL, r < 0 ? r : -ENOENT, "Cannot tell where the service manager takes drop-ins (%s).",
                            r < 0 ? strna(result->message) : "no control directory in its UnitPath");
        call_done(t);
}

static void phase_setup(Timers *t) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(systemd_client_bus(t->client), &m, SYSTEMD_SERVICE, SYSTEMD_PATH,
                                           DBUS_PROPERTIES_INTERFACE, "Get");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", SYSTEMD_MANAGER_INTERFACE, "UnitPath");
        send_call(t, SIZE_MAX, "tell its unit path", m, r, _SYSTEMD_JOB_TYPE_INVALID, NULL, on_unit_path);
}

/* ---- STOP ------------------------------------------------------------------------------------- */

static void on_stopped(SystemdCall *call, const SystemdResult *result, void *userdata) {
        Request *q = userdata;

        /* NoSuchUnit: a timer systemd never loaded (a configuration disabled from the start)
         * is as stopped as can be. */
        if (result->error < 0 && result->error != -ENOENT)
                pass_failed(q->timers, request_item(q), result->error, "systemd refused to stop the timer for %s: %s",
                            request_item(q)->config, strna(result->message));
        call_done(q->timers);
}

static void phase_stop(Timers *t) {
        for (size_t i = 0; i < t->n_items; i++) {
                PassItem *item = &t->items[i];
                _cleanup_free_ char *unit = NULL;
                BackupConfig *c;

                if (item->calendar)
                        continue;
                timer_state_free(timer_state_find(t, item->config));
                c = manager_find_config(t->manager, item->config);
                if (c)
                        backup_config_set_next_run(c, 0);
                unit = timer_name(item->config);
                send_call(t, i, "stop the timer", NULL, unit ? 0 : -ENOMEM, SYSTEMD_JOB_STOP, unit, on_stopped);
        }
}

/* ---- FILES ------------------------------------------------------------------------------------ */

static int dropin_path(Timers *t, const char *config, char **ret_dir, char **ret_file) {
        if (asprintf(ret_dir, "%s/" TIMER_PREFIX "%s" TIMER_SUFFIX ".d", t->dropin_dir, config) < 0 ||
            asprintf(ret_file, "%s/" TIMER_DROPIN_NAME, *ret_dir) < 0)
                return -ENOMEM;
        return 0;
}

static void write_dropin(Timers *t, PassItem *item) {
        _cleanup_free_ char *dir = NULL, *file = NULL, *text = NULL, *old = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (dropin_path(t, item->config, &dir, &file) < 0 ||
            asprintf(&text,
                     "# The schedule of etcd backup configuration \"%s\", kept by etcd-backupd.\n"
                     "# Change it with: etcd-backupctl set-config %s --schedule=...\n"
                     "[Timer]\n"
                     "OnCalendar=\n"
                     "OnCalendar=%s\n",
                     item->config, item->config, item->calendar) < 0) {
                pass_failed(t, item, -ENOMEM, "Out of memory.");
                return;
        }
        if (read_full_file(file, 64 * 1024, &old, NULL) >= 0 && streq(old, text))
                return;

        /* The modes of systemd's own drop-ins, whatever the agent's umask: no secret here, and
         * `systemctl cat` shows them to everyone. */
        r = mkdir_p(dir, 0755);
        if (r >= 0) {
                fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                r = fd < 0 ? -errno : write_file_atomic_at(fd, TIMER_DROPIN_NAME, text, strlen(text), 0644);
        }
        if (r < 0) {
                pass_failed(t, item, r, "Cannot write %s: %m.", file);
                return;
        }
        t->files_changed = true;
}

static void remove_dropin(Timers *t, PassItem *item) {
        _cleanup_free_ char *dir = NULL, *file = NULL;

        if (dropin_path(t, item->config, &dir, &file) < 0)
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
        for (size_t i = 0; i < t->n_items; i++) {
                if (t->items[i].error)
                        continue;
                if (t->items[i].calendar)
                        write_dropin(t, &t->items[i]);
                else
                        remove_dropin(t, &t->items[i]);
        }

        /* systemd sees drop-ins only after a reload. */
        if (t->files_changed)
                send_call(t, SIZE_MAX, "reload its units", m, systemd_new_manager_call(t->client, "Reload", &m),
                          _SYSTEMD_JOB_TYPE_INVALID, NULL, NULL);
}

/* ---- INSTALL ---------------------------------------------------------------------------------- */

static void phase_install(Timers *t) {
        for (size_t i = 0; i < t->n_items; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                _cleanup_free_ char *unit = NULL;
                PassItem *item = &t->items[i];
                bool wanted = item->calendar;
                int r;

                if (item->error)
                        continue;
                /* Enabled (not runtime), so that the timers start at boot, with Persistent=
                 * catching up on what the node missed while down. */
                unit = timer_name(item->config);
                r = unit ? systemd_new_manager_call(t->client, wanted ? "EnableUnitFiles" : "DisableUnitFiles", &m) : -ENOMEM;
                if (r >= 0)
                        r = sd_bus_message_append_strv(m, STRV_MAKE(unit));
                if (r >= 0)
                        r = wanted ? sd_bus_message_append(m, "bb", false, true) : sd_bus_message_append(m, "b", false);
                send_call(t, i, wanted ? "enable the timer" : "disable the timer", m, r, _SYSTEMD_JOB_TYPE_INVALID,
                          NULL, NULL);
        }
}

/* ---- START ------------------------------------------------------------------------------------ */

static void on_started(SystemdCall *call, const SystemdResult *result, void *userdata) {
        Request *q = userdata;
        PassItem *item = request_item(q);
        TimerState *s;

        if (result->error < 0)
                pass_failed(q->timers, item, result->error, "Starting the timer of backup configuration '%s' failed: %s",
                            item->config, strna(result->message));
        else if (!(s = timer_state_get(q->timers, item->config)) || free_and_strdup(&s->calendar, item->calendar) < 0)
                pass_failed(q->timers, item, -ENOMEM, "Out of memory.");
        call_done(q->timers);
}

static void phase_start(Timers *t) {
        for (size_t i = 0; i < t->n_items; i++) {
                PassItem *item = &t->items[i];
                _cleanup_free_ char *unit = NULL;
                TimerState *s;

                if (!item->calendar || item->error)
                        continue;
                s = timer_state_find(t, item->config);
                unit = timer_name(item->config);
                /* A new calendar needs the timer restarted to be armed with it. */
                send_call(t, i, "start the timer", NULL, unit ? 0 : -ENOMEM,
                          s && streq_ptr(s->calendar, item->calendar) ? SYSTEMD_JOB_START : SYSTEMD_JOB_RESTART, unit,
                          on_started);
        }
}

/* ---- WATCH ------------------------------------------------------------------------------------ */

static void timer_set_next_run(Timers *t, const char *config, usec_t next) {
        BackupConfig *c = manager_find_config(t->manager, config);

        /* systemd says "infinity" for a timer with nothing to elapse (while it is restarted). */
        if (c)
                backup_config_set_next_run(c, next == USEC_INFINITY ? 0 : next);
}

static int on_timer_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        TimerState *s = userdata;
        const char *interface, *name;
        uint64_t next;

        if (sd_bus_message_read(m, "s", &interface) < 0 || !streq(interface, SYSTEMD_TIMER_INTERFACE) ||
            sd_bus_message_enter_container(m, 'a', "{sv}") < 0)
                return 0;
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                if (sd_bus_message_read(m, "s", &name) < 0)
                        return 0;
                if (streq(name, "NextElapseUSecRealtime") && sd_bus_message_read(m, "v", "t", &next) >= 0)
                        timer_set_next_run(s->timers, s->config, next);
                else if (sd_bus_message_skip(m, "v") < 0)
                        return 0;
                if (sd_bus_message_exit_container(m) < 0)
                        return 0;
        }
        return 0;
}

static void on_next_elapse(SystemdCall *call, const SystemdResult *result, void *userdata) {
        Request *q = userdata;
        uint64_t next;

        if (result->error >= 0 && sd_bus_message_read(result->reply, "v", "t", &next) >= 0)
                timer_set_next_run(q->timers, request_item(q)->config, next);
        call_done(q->timers);
}

static void phase_watch(Timers *t) {
        for (size_t i = 0; i < t->n_items; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                _cleanup_free_ char *unit = NULL, *path = NULL;
                PassItem *item = &t->items[i];
                TimerState *s;
                int r;

                /* Only timers this pass started; a next run unknown is no failure of theirs
                 * (on_next_elapse records none). */
                if (!item->calendar || item->error || !(s = timer_state_find(t, item->config)))
                        continue;
                if (!(unit = timer_name(item->config)) || systemd_unit_path(unit, &path) < 0) {
                        log_oom();
                        continue;
                }
                /* Subscribed to first, so that no change between the Get and the match is missed. */
                if (!s->changed &&
                    sd_bus_match_signal_async(systemd_client_bus(t->client), &s->changed, SYSTEMD_SERVICE, path,
                                              DBUS_PROPERTIES_INTERFACE, "PropertiesChanged", on_timer_changed,
                                              NULL, s) < 0)
                        log_warning("Cannot follow the timer of '%s'; its NextRun will not be updated.", item->config);

                r = sd_bus_message_new_method_call(systemd_client_bus(t->client), &m, SYSTEMD_SERVICE, path,
                                                   DBUS_PROPERTIES_INTERFACE, "Get");
                if (r >= 0)
                        r = sd_bus_message_append(m, "ss", SYSTEMD_TIMER_INTERFACE, "NextElapseUSecRealtime");
                send_call(t, i, "tell the next run", m, r, _SYSTEMD_JOB_TYPE_INVALID, NULL, on_next_elapse);
        }
}

/* ---- the pass --------------------------------------------------------------------------------- */

/* Moves to the next phase that has something to wait for; back to idle after WATCH. */
static void timers_step(Timers *t) {
        while (t->pending == 0) {
                t->phase++;
                /* Without a control directory nothing can be done; a failed Reload leaves systemd
                 * with the old calendars, so starting timers now would arm them wrongly. */
                if ((t->phase == TIMERS_STOP && !t->dropin_dir) || (t->phase == TIMERS_INSTALL && t->error))
                        t->phase = TIMERS_IDLE;
                if (t->phase == TIMERS_STOP) {
                        int r = pass_capture(t);
                        if (r < 0) {
                                pass_failed(t, NULL, r, "Cannot list the timers to reconcile: %m");
                                t->phase = TIMERS_IDLE;
                        }
                }
                log_debug("Timers: phase %s.", timers_phase_table[t->phase >= 0 && t->phase < _TIMERS_PHASE_MAX ? t->phase : 0]);
                switch (t->phase) {
                case TIMERS_SETUP:
                        if (!t->dropin_dir)
                                phase_setup(t);
                        break;
                case TIMERS_STOP:
                        phase_stop(t);
                        break;
                case TIMERS_FILES:
                        phase_files(t);
                        break;
                case TIMERS_INSTALL:
                        phase_install(t);
                        break;
                case TIMERS_START:
                        phase_start(t);
                        break;
                case TIMERS_WATCH:
                        phase_watch(t);
                        break;
                default:
                        t->phase = TIMERS_IDLE;
                }
                if (t->phase == TIMERS_IDLE)
                        break;
        }
        if (t->phase != TIMERS_IDLE)
                return;

        answer_waiters(t);
        pass_items_free(t);
        t->error = mfree(t->error);
        if (t->again) {
                t->again = false;
                timers_start_pass(t);
        }
}

static int on_defer(sd_event_source *s, void *userdata) {
        Timers *t = userdata;

        t->defer = sd_event_source_disable_unref(t->defer);
        /* Every change made so far is covered by the pass starting now. */
        LIST_FOREACH(waiters, w, t->waiters)
                w->in_pass = true;
        t->phase = TIMERS_IDLE;
        timers_step(t);
        return 0;
}

void timers_reconcile(Timers *t, const char *config) {
        if (!t)
                return;
        if (!config)
                t->dirty_all = true;
        else if (!strv_contains(t->dirty, config) && strv_extend(&t->dirty, config) < 0) {
                log_oom();
                t->dirty_all = true; /* covered, at a higher price */
        }
        timers_start_pass(t);
}

static void timers_start_pass(Timers *t) {
        if (t->phase != TIMERS_IDLE) {
                t->again = true;
                return;
        }
        /* Deferred to the loop, so that a burst of changes makes one pass. */
        if (!t->defer && sd_event_add_defer(t->manager->event, &t->defer, on_defer, t) < 0)
                log_oom();
}

static int timers_add_waiter(Timers *t, sd_bus_message *m, const char *config, const char *path, timers_done_t done,
                             void *userdata) {
        Waiter *w;

        w = new0(Waiter, 1);
        if (!w || (path && !(w->path = strdup(path))) || (config && !(w->config = strdup(config)))) {
                if (w) {
                        free(w->path);
                        free(w);
                }
                return -ENOMEM;
        }
        w->request = sd_bus_message_ref(m);
        w->done = done;
        w->userdata = userdata;
        LIST_PREPEND(waiters, t->waiters, w);
        timers_reconcile(t, config);
        return 0;
}

int timers_reconcile_and_reply(Timers *t, sd_bus_message *m, const char *config, const char *path) {
        int r;

        if (!t)
                return sd_bus_reply_method_return(m, path ? "o" : NULL, path);
        r = timers_add_waiter(t, m, config, path, NULL, NULL);
        return r < 0 ? r : 1;
}

int timers_reconcile_then(Timers *t, timers_done_t done, void *userdata) {
        return timers_add_waiter(t, NULL, NULL, NULL, done, userdata);
}

bool timers_busy(Timers *t) {
        return t && (t->phase != TIMERS_IDLE || t->defer);
}

int timers_new(Manager *m, Timers **ret) {
        _cleanup_(timers_freep) Timers *t = NULL;

        t = new0(Timers, 1);
        if (!t)
                return log_oom();
        t->manager = m;
        /* The Manager's: one connection to the service manager for the whole agent. */
        t->client = m->systemd;
        *ret = TAKE_PTR(t);
        return 0;
}

Timers *timers_free(Timers *t) {
        if (!t)
                return NULL;
        /* Outstanding calls died with the client, their callbacks never run. The changes are
         * made: waiting callers get their answer. */
        t->client = NULL; /* the Manager frees it first: outstanding calls die with it */
        LIST_FOREACH(waiters, w, t->waiters)
                w->in_pass = true;
        answer_waiters(t);
        while (t->states)
                timer_state_free(t->states);
        sd_event_source_disable_unref(t->defer);
        pass_items_free(t);
        strv_free(t->dirty);
        free(t->error);
        free(t->dropin_dir);
        free(t);
        return NULL;
}
