/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Calendars put to the real systemd-analyze on a real sd-event loop: what systemd refuses, what
 * never fires, what fires more often than once a minute, and many calendars in one check, with
 * more output than a pipe holds and more expressions than one run takes, each verdict landing
 * on its own expression.
 */

#include <signal.h>
#include <stdio.h>

#include "calendar.h"
#include "errors.h"
#include "string-util.h"
#include "tap.h"
#include "time-util.h"

static sd_event *event;

static void on_done(CalendarCheck *c, void *userdata) {
        *(bool *) userdata = true;
}

/* Checks n expressions; NULL when the check did not end within 20 s. */
static CalendarCheck *check(char * const *exprs, size_t n) {
        CalendarCheck *c = NULL;
        bool done = false;
        usec_t end = now(CLOCK_MONOTONIC) + 20 * USEC_PER_SEC;

        if (calendar_check_start(event, exprs, n, on_done, &done, &c) < 0)
                return NULL;
        while (!done && now(CLOCK_MONOTONIC) < end)
                (void) sd_event_run(event, 100 * USEC_PER_MSEC);
        return done ? c : calendar_check_free(c);
}

static const struct {
        const char *expr;
        const char *error;   /* NULL: accepted */
        const char *message; /* a part of it */
} cases[] = {
        { "daily", NULL, NULL },
        { "Mon..Fri *-*-* 01:30", NULL, NULL },
        { "*:*:00", NULL, NULL },   /* once a minute is allowed */
        { "*:0/1", NULL, NULL },    /* what "@every 1m" becomes */
        { "*-*-* 02:00 Asia/Tokyo", NULL, NULL },
        { "Mon..Fry *-*-* 01:30", AGENT_ERROR_INVALID_SCHEDULE, "systemd's calendar parser refuses it" },
        { "*-02-31 00:00:00", AGENT_ERROR_INVALID_SCHEDULE, "it never fires" },
        { "2001-01-01 00:00", AGENT_ERROR_INVALID_SCHEDULE, "it never fires" },
        { "*:*:*", AGENT_ERROR_INVALID_SCHEDULE, "more often than once a minute" },
        { "*:*:0,30", AGENT_ERROR_INVALID_SCHEDULE, "more often than once a minute" },
        { "*-*-* *:*:00.5,00.6", AGENT_ERROR_INVALID_SCHEDULE, "more often than once a minute" },
        { "*-*-* 03:00:00,59", AGENT_ERROR_INVALID_SCHEDULE, "more often than once a minute" },
};

TEST(verdicts) {
        char *exprs[ELEMENTSOF(cases)];
        CalendarCheck *c;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                exprs[i] = (char *) cases[i].expr;
        c = check(exprs, ELEMENTSOF(cases));
        CHECK(c);
        for (size_t i = 0; c && i < ELEMENTSOF(cases); i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                int r = calendar_check_verdict(c, i, cases[i].expr, &error);

                if (!cases[i].error) {
                        if (r != 0)
                                printf("#   \"%s\" refused: %s\n", cases[i].expr, error.message);
                        CHECK_EQ(r, 0);
                        continue;
                }
                CHECK(r < 0);
                CHECK_STREQ(error.name, cases[i].error);
                if (!error.message || !strstr(error.message, cases[i].message))
                        printf("#   \"%s\": %s\n", cases[i].expr, strna(error.message));
                CHECK(error.message && strstr(error.message, cases[i].message));
        }
        calendar_check_free(c);
}

TEST(translated_schedule_named) {
        char *exprs[] = { "*-02-31 00:00:00" };
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        CalendarCheck *c = check(exprs, 1);

        /* The message names what the caller wrote, and the calendar it became. */
        CHECK(c && calendar_check_verdict(c, 0, "0 0 31 2 *", &error) < 0);
        CHECK(error.message && startswith(error.message, "Invalid schedule \"0 0 31 2 *\": it never fires"));
        CHECK(error.message && strstr(error.message, "\"*-02-31 00:00:00\""));
        calendar_check_free(c);
}

/* A calendar of 842 characters that systemd accepts, and prints twice (as given, normalized). */
static char *long_calendar(void) {
        char *s = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&s, &size);

        for (int i = 0; i < 100; i++)
                fprintf(f, "%s%d", i ? "," : "", 2030 + i);
        for (int i = 1; i <= 12; i++)
                fprintf(f, "%c%d", i == 1 ? '-' : ',', i);
        for (int i = 1; i <= 31; i++)
                fprintf(f, "%c%d", i == 1 ? '-' : ',', i);
        for (int i = 0; i < 24; i++)
                fprintf(f, "%c%d", i == 0 ? ' ' : ',', i);
        for (int i = 0; i < 60; i++)
                fprintf(f, "%c%d", i == 0 ? ':' : ',', i);
        fclose(f);
        return s;
}

TEST(output_beyond_a_pipe_buffer) {
        _cleanup_free_ char *e = long_calendar();
        char *exprs[64];
        CalendarCheck *c;

        /* One run of systemd-analyze printing some 128 KiB: read while it runs. */
        for (size_t i = 0; i < ELEMENTSOF(exprs); i++)
                exprs[i] = e;
        c = check(exprs, ELEMENTSOF(exprs));
        CHECK(c);
        for (size_t i = 0; c && i < ELEMENTSOF(exprs); i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                int r = calendar_check_verdict(c, i, e, &error);

                if (r < 0 && i == 0)
                        printf("#   %s\n", error.message);
                CHECK_EQ(r, 0);
        }
        calendar_check_free(c);
}

TEST(many_expressions) {
        char *exprs[300];
        CalendarCheck *c;

        /* More than one run takes: every seventh is refused, the rest are fine. */
        for (size_t i = 0; i < ELEMENTSOF(exprs); i++)
                exprs[i] = (char *) (i % 7 == 3 ? "Mon..Fry 01:30" : i % 2 ? "*:0/5" : "weekly");
        c = check(exprs, ELEMENTSOF(exprs));
        CHECK(c);
        for (size_t i = 0; c && i < ELEMENTSOF(exprs); i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

                CHECK_EQ(calendar_check_verdict(c, i, exprs[i], &error), i % 7 == 3 ? -EINVAL : 0);
        }
        calendar_check_free(c);
}

int main(void) {
        sigset_t ss;

        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        if (sd_event_new(&event) < 0 || agent_errors_register() < 0)
                return 1;

        RUN(verdicts);
        RUN(translated_schedule_named);
        RUN(output_beyond_a_pipe_buffer);
        RUN(many_expressions);

        sd_event_unref(event);
        return tap_finish();
}
