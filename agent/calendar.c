/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * systemd's calendar parser, at arm's length. The child is spawned with posix_spawn() (the
 * process has threads; nothing may run between fork and exec), its stdout and stderr go to a
 * pipe read once it exited (a verdict fits in any pipe buffer), and a time limit kills a child
 * that hangs. The message-based variant re-queues the method call when the verdict is in, as
 * polkit.c does, so that the handler keeps its one shape.
 */

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "calendar.h"
#include "errors.h"
#include "log.h"
#include "string-util.h"

#define CALENDAR_CHECK_TIMEOUT_USEC (10 * USEC_PER_SEC)

extern char **environ;

struct CalendarCheck {
        sd_event_source *child;
        sd_event_source *timer;
        int pipe_fd;
        pid_t pid;
        calendar_check_done_t done;
        void *userdata;
};

CalendarCheck *calendar_check_free(CalendarCheck *c) {
        if (!c)
                return NULL;
        if (c->child) {
                /* Still running: make sure it does not outlive its purpose. */
                (void) sd_event_source_send_child_signal(c->child, SIGKILL, NULL, 0);
                c->child = sd_event_source_disable_unref(c->child);
        }
        sd_event_source_disable_unref(c->timer);
        safe_close(c->pipe_fd);
        free(c);
        return NULL;
}

static void calendar_check_finish(CalendarCheck *c, int r, const char *message) {
        c->child = sd_event_source_disable_unref(c->child);
        c->timer = sd_event_source_disable_unref(c->timer);
        c->done(c, r, message, c->userdata);
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        CalendarCheck *c = userdata;
        char out[4096];
        ssize_t n;

        n = read(c->pipe_fd, out, sizeof(out) - 1);
        out[MAX(n, 0)] = 0;

        if (si->si_code == CLD_EXITED && si->si_status == 0) {
                calendar_check_finish(c, 0, NULL);
                return 0;
        }

        /* systemd-analyze says "Failed to parse calendar specification '...': Invalid argument". */
        char *line = strstr(out, "Failed to parse");
        if (line)
                line[strcspn(line, "\n")] = 0;
        calendar_check_finish(c, -EINVAL, line ? line : strstrip(out));
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        CalendarCheck *c = userdata;

        calendar_check_finish(c, -ETIMEDOUT, "systemd-analyze did not answer in time");
        return 0;
}

int calendar_check_start(sd_event *e, const char *expr, calendar_check_done_t done, void *userdata,
                         CalendarCheck **ret) {
        _cleanup_(calendar_check_freep) CalendarCheck *c = NULL;
        posix_spawn_file_actions_t actions;
        int pipe_fd[2], r;
        char *argv[] = { (char *) "systemd-analyze", (char *) "calendar", (char *) "--iterations=1", (char *) "--",
                         (char *) expr, NULL };

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->pipe_fd = -EBADF;
        c->done = done;
        c->userdata = userdata;

        if (pipe2(pipe_fd, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;
        c->pipe_fd = pipe_fd[0];

        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&actions, pipe_fd[1], STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&actions, pipe_fd[1], STDERR_FILENO);
        r = -posix_spawnp(&c->pid, "systemd-analyze", &actions, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&actions);
        safe_close(pipe_fd[1]);
        if (r < 0)
                return r;

        r = sd_event_add_child(e, &c->child, c->pid, WEXITED, on_child, c);
        if (r < 0) {
                (void) kill(c->pid, SIGKILL);
                (void) waitpid(c->pid, NULL, 0);
                return r;
        }
        /* The event source reaps the child when it is freed. */
        (void) sd_event_source_set_child_process_own(c->child, true);
        r = sd_event_add_time_relative(e, &c->timer, CLOCK_MONOTONIC, CALENDAR_CHECK_TIMEOUT_USEC, 0, on_timeout, c);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(c);
        return 0;
}

/* ---- for method handlers ---------------------------------------------------------------------- */

struct CalendarQuery {
        CalendarQuery *next;
        CalendarQuery **registry;
        sd_bus_message *request;
        char *expr;
        CalendarCheck *check;
        bool done;
        int r;
        char *message;
};

static CalendarQuery *query_free(CalendarQuery *q) {
        if (!q)
                return NULL;
        for (CalendarQuery **i = q->registry; *i; i = &(*i)->next)
                if (*i == q) {
                        *i = q->next;
                        break;
                }
        calendar_check_free(q->check);
        sd_bus_message_unref(q->request);
        free(q->expr);
        free(q->message);
        free(q);
        return NULL;
}

void calendar_registry_free(CalendarQuery **registry) {
        while (*registry)
                query_free(*registry);
}

static void query_done(CalendarCheck *c, int r, const char *message, void *userdata) {
        CalendarQuery *q = userdata;

        q->check = calendar_check_free(q->check);
        q->done = true;
        q->r = r;
        q->message = message ? strdup(message) : NULL;

        r = sd_bus_enqueue_for_read(sd_bus_message_get_bus(q->request), q->request);
        if (r < 0) {
                log_error_errno(r, "Failed to requeue a method call after checking a calendar: %m");
                (void) sd_bus_reply_method_errno(q->request, r, NULL);
                query_free(q);
        }
}

int calendar_check_message(sd_bus_message *m, const char *schedule, const char *expr, CalendarQuery **registry,
                           sd_bus_error *error) {
        CalendarQuery *q;
        int r;

        for (q = *registry; q; q = q->next)
                if (q->request == m)
                        break;
        if (q) {
                if (!q->done)
                        return 0;
                if (!streq(q->expr, expr))
                        r = sd_bus_error_set_errno(error, -ESTALE);
                else if (q->r == -EINVAL)
                        r = sd_bus_error_setf(error, AGENT_ERROR_INVALID_SCHEDULE,
                                              "Invalid schedule \"%s\": systemd's calendar parser refuses it (%s); expected a preset, an @every interval, cron's five fields or a calendar such as \"Mon..Fri *-*-* 01:30\".",
                                              schedule, strna(q->message));
                else if (q->r < 0)
                        r = sd_bus_error_setf(error, AGENT_ERROR_FAILED, "Cannot check the calendar \"%s\": %s", expr,
                                              strna(q->message));
                else
                        r = 1;
                query_free(q);
                return r;
        }

        q = calloc(1, sizeof(*q));
        if (!q)
                return sd_bus_error_set_errno(error, -ENOMEM);
        q->registry = registry;
        q->request = sd_bus_message_ref(m);
        q->expr = strdup(expr);
        q->next = *registry;
        *registry = q;
        if (!q->expr) {
                query_free(q);
                return sd_bus_error_set_errno(error, -ENOMEM);
        }
        r = calendar_check_start(sd_bus_get_event(sd_bus_message_get_bus(m)), expr, query_done, q, &q->check);
        if (r < 0) {
                query_free(q);
                return sd_bus_error_set_errnof(error, r, "Cannot run systemd-analyze to check the calendar: %m");
        }
        return 0;
}
