/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Waiting on the agent. The loop is run with sd_event_run() until the condition of the wait
 * holds, not with sd_event_loop()/sd_event_exit(): an event loop that exited cannot run again,
 * and one verb may wait several times (a scheduled backup waits for another one, then follows
 * its own).
 */

#include <signal.h>

#include "bus-names.h"
#include "options.h"
#include "time-util.h"
#include "wait.h"

static int on_interrupt(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Waiter *w = userdata;

        w->detached = true;
        return 0;
}

static void clear_progress(Waiter *w) {
        if (w->drawn)
                fputs("\r\033[K", stderr);
        w->drawn = false;
}

/* The lines of the steps reached since the last change, above the progress line. */
static void show_stages(Waiter *w) {
        int stage;

        if (!w->stages || !w->kind->stage || !w->kind->stage_lines)
                return;
        stage = w->kind->stage(w->info);
        if (stage <= w->stage_shown)
                return;
        clear_progress(w);
        w->kind->stage_lines(w->info, w->stage_shown, w->stages);
        fflush(w->stages);
        w->stage_shown = stage;
}

/* After each change: the end of the wait, or the progress line redrawn. */
static void check_done(Waiter *w) {
        char line[256];

        if (w->done)
                return;
        show_stages(w);
        if (w->kind->is_done(w->info)) {
                w->done = true;
                return;
        }
        if (w->tty && w->kind->progress && w->kind->progress(w->info, line, sizeof(line))) {
                fprintf(stderr, "\r\033[K%s", line);
                w->drawn = true;
        }
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Waiter *w = userdata;
        const char *interface;

        if (!w->info || sd_bus_message_read(m, "s", &interface) < 0 || !streq(interface, w->kind->interface) ||
            map_properties(m, w->kind->map, w->info) < 0)
                return 0;
        check_done(w);
        return 0;
}

static int on_finished(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Waiter *w = userdata;
        const char *id, *path, *result;
        char **field;

        if (!w->info || sd_bus_message_read(m, "sos", &id, &path, &result) < 0 || !streq(path, w->path))
                return 0;
        /* The final properties: read them, whatever PropertiesChanged has told already, and
         * take the signal's word for the result even if they cannot be read. */
        (void) get_properties(w->bus, w->path, w->kind->interface, w->kind->map, w->info);
        field = property_string_field(w->kind->map, w->info, w->kind->result_property);
        if (field)
                (void) free_and_strdup(field, result);
        check_done(w);
        return 0;
}

static int on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Waiter *w = userdata;
        const char *name, *old_owner, *new_owner;
        int r;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 || !streq(name, AGENT_BUS_NAME))
                return 0;
        if (isempty(new_owner)) {
                if (w->info && !w->done && !arg_quiet) {
                        clear_progress(w);
                        fprintf(stderr, "The agent stopped; waiting for it to start again.\n");
                }
                return 0;
        }

        /* A new agent, which says nothing about what changed while there was none: it may have
         * finished what it resumed before it took the name, or forgotten what it interrupted. */
        w->manager_changed = true;
        if (!w->info || w->done)
                return 0;
        r = get_properties(w->bus, w->path, w->kind->interface, w->kind->map, w->info);
        if (r < 0)
                w->lost = r;
        else
                check_done(w);
        return 0;
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        Waiter *w = userdata;

        w->timed_out = true;
        return 0;
}

int waiter_init(Waiter *w, sd_bus *bus, const WaitKind *kind, bool tty) {
        sigset_t ss;
        int r;

        *w = (Waiter) { .bus = bus, .kind = kind, .tty = tty };
        r = sd_event_default(&w->event);
        if (r >= 0)
                r = sd_bus_attach_event(bus, w->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;

        /* Ctrl-C stops the waiting, not the operation. */
        sigemptyset(&ss);
        sigaddset(&ss, SIGINT);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        r = sd_event_add_signal(w->event, NULL, SIGINT, on_interrupt, w);
        if (r < 0)
                return r;

        r = sd_bus_match_signal(bus, &w->finished_slot, AGENT_BUS_NAME, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE,
                                kind->finished_signal, on_finished, w);
        if (r < 0)
                return r;
        /* The agent's signals come from the name; a restarted agent's, while it finishes a
         * restore before it takes the name, reach no one: its arrival is the news. */
        return sd_bus_add_match(bus, &w->owner_slot,
                                "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                                "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" AGENT_BUS_NAME "'",
                                on_owner_changed, w);
}

void waiter_done(Waiter *w) {
        w->finished_slot = sd_bus_slot_unref(w->finished_slot);
        w->manager_slot = sd_bus_slot_unref(w->manager_slot);
        w->owner_slot = sd_bus_slot_unref(w->owner_slot);
        if (w->event)
                (void) sd_bus_detach_event(w->bus);
        w->event = sd_event_unref(w->event);
}

/* Runs the loop until *flag is set, Ctrl-C, the deadline source (if any) fired, or the
 * operation followed was lost. */
static int run_until(Waiter *w, const bool *flag) {
        while (!*flag && !w->detached && !w->timed_out && w->lost >= 0) {
                int r = sd_event_run(w->event, UINT64_MAX);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int add_deadline(Waiter *w, usec_t deadline, sd_event_source **ret) {
        w->timed_out = false;
        if (deadline == USEC_INFINITY) {
                *ret = NULL;
                return 0;
        }
        return sd_event_add_time(w->event, ret, CLOCK_MONOTONIC, deadline, USEC_PER_MSEC, on_deadline, w);
}

int waiter_follow(Waiter *w, const char *path, void *info, usec_t deadline) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *changed = NULL;
        _cleanup_(sd_event_source_unrefp) sd_event_source *timer = NULL;
        int r;

        w->path = path;
        w->info = info;
        w->stage_shown = -1;
        w->lost = 0;
        w->done = false;
        r = add_deadline(w, deadline, &timer);
        if (r >= 0)
                r = sd_bus_match_signal(w->bus, &changed, AGENT_BUS_NAME, path, DBUS_PROPERTIES_INTERFACE,
                                        "PropertiesChanged", on_properties_changed, w);
        if (r >= 0)
                r = get_properties(w->bus, path, w->kind->interface, w->kind->map, info);
        if (r >= 0) {
                check_done(w);
                r = run_until(w, &w->done);
        }
        clear_progress(w);
        w->path = NULL;
        w->info = NULL;
        if (r < 0)
                return r;
        return w->done ? 0 : w->lost < 0 ? w->lost : w->detached ? -ECANCELED : -ETIME;
}

static int on_manager_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Waiter *w = userdata;
        const char *interface;

        if (sd_bus_message_read(m, "s", &interface) >= 0 && streq(interface, AGENT_MANAGER_INTERFACE))
                w->manager_changed = true;
        return 0;
}

int waiter_watch_manager(Waiter *w) {
        w->manager_changed = false;
        return sd_bus_match_signal(w->bus, &w->manager_slot, AGENT_BUS_NAME, AGENT_OBJECT_PATH,
                                   DBUS_PROPERTIES_INTERFACE, "PropertiesChanged", on_manager_changed, w);
}

int waiter_wait_manager(Waiter *w, usec_t timeout) {
        _cleanup_(sd_event_source_unrefp) sd_event_source *timer = NULL;
        usec_t n = now(CLOCK_MONOTONIC);
        int r;

        /* A change that arrived while we were calling the agent is queued on the connection and
         * dispatched by the first sd_event_run(): it counts. */
        r = add_deadline(w, timeout >= USEC_INFINITY - n ? USEC_INFINITY : n + timeout, &timer);
        if (r >= 0)
                r = run_until(w, &w->manager_changed);
        if (r < 0)
                return r;
        if (w->manager_changed) {
                w->manager_changed = false;
                return 1;
        }
        return w->detached ? -ECANCELED : 0;
}
