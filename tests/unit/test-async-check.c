/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The asynchronous checks of a method call, on a real sd-bus connection (a socket pair, server
 * and client each with an event loop of its own, so that the test decides which side runs) with
 * checks that answer when the test says so: a chain of two checks asks each once, verdicts are
 * freed after the re-run (also when the re-run returns early, and before the loop is idle once
 * the next message comes in), a re-run asking something else has it asked anew, refusals carry
 * their error, pending checks are bounded per user and in total but never for root, and what a
 * pending check holds is freed with the registry.
 */

#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>

#include "async-check.h"
#include "errors.h"
#include "string-util.h"
#include "tap.h"
#include "time-util.h"

static sd_event *server_event, *client_event;
static sd_bus *server, *client;
static AsyncChecks *checks;

/* ---- checks that answer on request ------------------------------------------------------ */

typedef struct Fake {
        AsyncCheck *check;
        char *question;
        struct Fake *next;
} Fake;

static Fake *fakes;             /* pending */
static unsigned started, freed; /* checks started, held data freed */
static char asked[1024];        /* the questions started, in order, ";"-separated */

static void fake_free(void *p) {
        Fake *f = p;

        for (Fake **i = &fakes; *i; i = &(*i)->next)
                if (*i == f) {
                        *i = f->next;
                        break;
                }
        free(f->question);
        free(f);
        freed++;
}

static int fake_start(AsyncCheck *c, void *userdata, sd_bus_error *error) {
        const char *question = userdata;
        Fake *f;

        if (startswith(question, "unstartable"))
                return sd_bus_error_set(error, AGENT_ERROR_FAILED, "Cannot start that check.");
        f = calloc(1, sizeof(*f));
        f->check = c;
        f->question = strdup(question);
        f->next = fakes;
        fakes = f;
        async_check_hold(c, f, fake_free);
        started++;
        snprintf(asked + strlen(asked), sizeof(asked) - strlen(asked), "%s;", question);
        return 0;
}

/* Answers every pending check: "no..." questions are refused with Busy. */
static void fakes_answer(void) {
        while (fakes) {
                Fake *f = fakes;
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

                if (startswith(f->question, "no"))
                        sd_bus_error_set(&e, AGENT_ERROR_BUSY, "The answer is no.");
                async_check_done(f->check, startswith(f->question, "no") ? -EBUSY : 1, &e);
        }
}

/* ---- the server: Run(s first, s second, u uid) checks first, then second (if not "") ------ */

static unsigned runs;           /* handler runs */
static bool rerun_returns_early; /* the object went away, say */
static const char *rerun_first; /* on re-runs, first is this instead (what it asks about changed) */
static bool replied;

static int method_run(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *first, *second;
        uint32_t uid;
        int r;

        r = sd_bus_message_read(m, "ssu", &first, &second, &uid);
        if (r < 0)
                return r;
        if (runs++ > 0 && rerun_returns_early) {
                replied = true;
                return sd_bus_reply_method_return(m, "s", "early");
        }
        if (runs > 1 && rerun_first)
                first = rerun_first;

        r = async_check(checks, m, first, uid, fake_start, (void *) first, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (!isempty(second)) {
                r = async_check(checks, m, second, uid, fake_start, (void *) second, error);
                if (r <= 0)
                        return r < 0 ? r : 1;
        }
        replied = true;
        return sd_bus_reply_method_return(m, "s", "done");
}

/* Empty(): whether every query is gone by the time this runs. */
static int method_empty(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return sd_bus_reply_method_return(m, "b", async_checks_is_empty(checks));
}

static const sd_bus_vtable vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Run", "ssu", "s", method_run, 0),
        SD_BUS_METHOD("Empty", NULL, "b", method_empty, 0),
        SD_BUS_VTABLE_END,
};

/* ---- the client -------------------------------------------------------------------------- */

typedef struct Reply {
        bool done;
        char text[256]; /* the reply's string, or the error name */
} Reply;

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Reply *r = userdata;
        const char *s = NULL;
        int b;

        r->done = true;
        if (sd_bus_message_is_method_error(m, NULL))
                snprintf(r->text, sizeof(r->text), "%s", sd_bus_message_get_error(m)->name);
        else if (sd_bus_message_peek_type(m, NULL, NULL) > 0 && sd_bus_message_has_signature(m, "b") &&
                 sd_bus_message_read(m, "b", &b) >= 0)
                snprintf(r->text, sizeof(r->text), "%s", b ? "empty" : "not empty");
        else if (sd_bus_message_read(m, "s", &s) >= 0)
                snprintf(r->text, sizeof(r->text), "%s", s);
        return 0;
}

static void call_run(const char *first, const char *second, uint32_t uid, Reply *reply) {
        *reply = (Reply) {};
        (void) sd_bus_call_method_async(client, NULL, NULL, "/test", "test.Checks", "Run", on_reply, reply, "ssu",
                                        first, second, uid);
        (void) sd_bus_flush(client);
}

/* Runs both sides until *flag, or 5 s passed. */
static bool pump_until(const bool *flag) {
        usec_t end = now(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;

        while (!*flag && now(CLOCK_MONOTONIC) < end) {
                (void) sd_event_run(client_event, 0);
                (void) sd_event_run(server_event, 10 * USEC_PER_MSEC);
        }
        return *flag;
}

/* Runs both sides until neither has anything to do, idle sources included. */
static void pump_idle(void) {
        for (unsigned quiet = 0; quiet < 5;)
                quiet = sd_event_run(client_event, 0) > 0 || sd_event_run(server_event, 10 * USEC_PER_MSEC) > 0 ? 0 : quiet + 1;
}

static void reset(void) {
        runs = started = freed = 0;
        asked[0] = 0;
        rerun_returns_early = false;
        rerun_first = NULL;
        replied = false;
}

/* Runs the server until the fake checks have been started n times. */
static void wait_started(unsigned n) {
        for (usec_t end = now(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC; started < n && now(CLOCK_MONOTONIC) < end;) {
                (void) sd_event_run(client_event, 0);
                (void) sd_event_run(server_event, 10 * USEC_PER_MSEC);
        }
}

/* ---- tests ------------------------------------------------------------------------------- */

TEST(chain_asks_each_once) {
        Reply r;

        reset();
        call_run("polkit", "calendar", 1000, &r);
        wait_started(1);
        /* First run: polkit is asked. */
        CHECK_STREQ(asked, "polkit;");
        fakes_answer();
        /* Second run: polkit's verdict is there, the calendar is asked. */
        wait_started(2);
        CHECK_STREQ(asked, "polkit;calendar;");
        fakes_answer();
        CHECK(pump_until(&r.done));
        CHECK_STREQ(r.text, "done");
        CHECK_EQ(runs, 3);
        CHECK_EQ(started, 2);
        pump_idle();
        CHECK(async_checks_is_empty(checks));
        CHECK_EQ(freed, 2);
}

TEST(rerun_returning_early_frees) {
        Reply r;

        reset();
        call_run("polkit", "", 1000, &r);
        wait_started(1);
        rerun_returns_early = true;
        fakes_answer();
        CHECK(pump_until(&r.done));
        CHECK_STREQ(r.text, "early");
        pump_idle();
        CHECK(async_checks_is_empty(checks));
}

TEST(next_message_frees_before_idle) {
        Reply r, e;

        reset();
        call_run("polkit", "", 1000, &r);
        wait_started(1);
        fakes_answer();
        /* Only the server runs, and only until it has replied: its idle source has not run. */
        for (usec_t end = now(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC; !replied && now(CLOCK_MONOTONIC) < end;)
                (void) sd_event_run(server_event, 0);
        CHECK(replied);
        CHECK(!async_checks_is_empty(checks));
        e = (Reply) {};
        (void) sd_bus_call_method_async(client, NULL, NULL, "/test", "test.Checks", "Empty", on_reply, &e, NULL);
        (void) sd_bus_flush(client);
        CHECK(pump_until(&e.done));
        CHECK_STREQ(e.text, "empty");
        CHECK(pump_until(&r.done));
        CHECK_STREQ(r.text, "done");
}

TEST(changed_question_asked_anew) {
        Reply r;

        reset();
        call_run("polkit config=a", "", 1000, &r);
        wait_started(1);
        rerun_first = "polkit config=b";
        fakes_answer();
        wait_started(2);
        CHECK_STREQ(asked, "polkit config=a;polkit config=b;");
        fakes_answer();
        CHECK(pump_until(&r.done));
        CHECK_STREQ(r.text, "done");
        pump_idle();
        CHECK(async_checks_is_empty(checks));
}

TEST(refusal_carries_error) {
        Reply r, u;

        reset();
        call_run("polkit", "no-calendar", 1000, &r);
        wait_started(1);
        fakes_answer();
        wait_started(2);
        fakes_answer();
        CHECK(pump_until(&r.done));
        CHECK_STREQ(r.text, AGENT_ERROR_BUSY);

        /* A check that cannot start is the handler's answer at once, and leaves nothing. */
        call_run("unstartable", "", 1000, &u);
        CHECK(pump_until(&u.done));
        CHECK_STREQ(u.text, AGENT_ERROR_FAILED);
        pump_idle();
        CHECK(async_checks_is_empty(checks));
}

TEST(bounded_but_not_for_root) {
        Reply r[ASYNC_CHECKS_MAX + 2 * ASYNC_CHECKS_PER_USER_MAX + 1];
        unsigned n = 0, uids = ASYNC_CHECKS_MAX / ASYNC_CHECKS_PER_USER_MAX, refused = 0, done = 0;

        reset();
        /* One user: its first ASYNC_CHECKS_PER_USER_MAX are asked, the next is refused. */
        for (unsigned i = 0; i <= ASYNC_CHECKS_PER_USER_MAX; i++)
                call_run("polkit", "", 1000, &r[n++]);
        wait_started(ASYNC_CHECKS_PER_USER_MAX);
        CHECK(pump_until(&r[n - 1].done));
        CHECK_STREQ(r[n - 1].text, AGENT_ERROR_TOO_MANY_REQUESTS);
        /* More users, up to the total; then the next user is refused too, root is not. */
        for (unsigned u = 1; u < uids; u++)
                for (unsigned i = 0; i < ASYNC_CHECKS_PER_USER_MAX; i++)
                        call_run("polkit", "", 1000 + u, &r[n++]);
        wait_started(ASYNC_CHECKS_MAX);
        CHECK_EQ(started, ASYNC_CHECKS_MAX);
        call_run("polkit", "", 2000, &r[n++]);
        CHECK(pump_until(&r[n - 1].done));
        CHECK_STREQ(r[n - 1].text, AGENT_ERROR_TOO_MANY_REQUESTS);
        call_run("polkit", "", 0, &r[n++]);
        wait_started(ASYNC_CHECKS_MAX + 1);
        CHECK_EQ(started, ASYNC_CHECKS_MAX + 1);

        fakes_answer();
        for (unsigned i = 0; i < n; i++) {
                CHECK(pump_until(&r[i].done));
                refused += streq(r[i].text, AGENT_ERROR_TOO_MANY_REQUESTS);
                done += streq(r[i].text, "done");
        }
        CHECK_EQ(refused, 2);
        CHECK_EQ(done, ASYNC_CHECKS_MAX + 1);
        pump_idle();
        CHECK(async_checks_is_empty(checks));
}

TEST(registry_frees_pending) {
        Reply r;

        reset();
        call_run("polkit", "", 1000, &r);
        wait_started(1);
        checks = async_checks_free(checks);
        CHECK_EQ(freed, 1);
        CHECK(!fakes);
        CHECK(async_checks_new(server, &checks) >= 0);
}

int main(void) {
        int fds[2];
        sd_id128_t id;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0 ||
            sd_event_new(&server_event) < 0 || sd_event_new(&client_event) < 0 || sd_bus_new(&server) < 0 ||
            sd_bus_new(&client) < 0 || sd_id128_randomize(&id) < 0 || agent_errors_register() < 0)
                return 1;
        if (sd_bus_set_fd(server, fds[0], fds[0]) < 0 || sd_bus_set_server(server, 1, id) < 0 ||
            sd_bus_set_anonymous(server, 1) < 0 || sd_bus_start(server) < 0 ||
            sd_bus_attach_event(server, server_event, 0) < 0 ||
            sd_bus_add_object_vtable(server, NULL, "/test", "test.Checks", vtable, NULL) < 0 ||
            async_checks_new(server, &checks) < 0)
                return 1;
        if (sd_bus_set_fd(client, fds[1], fds[1]) < 0 || sd_bus_set_anonymous(client, 1) < 0 ||
            sd_bus_start(client) < 0 || sd_bus_attach_event(client, client_event, 0) < 0)
                return 1;
        /* The handshake, so that sd_bus_flush() never waits for the other side. */
        for (usec_t end = now(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC; sd_bus_is_ready(client) <= 0;) {
                if (now(CLOCK_MONOTONIC) > end)
                        return 1;
                (void) sd_event_run(client_event, 0);
                (void) sd_event_run(server_event, 10 * USEC_PER_MSEC);
        }

        RUN(chain_asks_each_once);
        RUN(rerun_returning_early_frees);
        RUN(next_message_frees_before_idle);
        RUN(changed_question_asked_anew);
        RUN(refusal_carries_error);
        RUN(bounded_but_not_for_root);
        RUN(registry_frees_pending);

        async_checks_free(checks);
        sd_bus_flush_close_unref(client);
        sd_bus_flush_close_unref(server);
        sd_event_unref(server_event);
        sd_event_unref(client_event);
        return tap_finish();
}
