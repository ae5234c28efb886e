/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * systemd's calendar parser, at arm's length. `systemd-analyze calendar --iterations=3 -- E1
 * E2 ...` prints one block per expression, separated by an empty line: "Normalized form:" and
 * "Next elapse:" (or "never"), then "Iter. #2:", "Iter. #3:" (each with an "(in UTC):" line
 * below it unless the local zone is UTC). An expression systemd refuses leaves its block empty
 * and is named on stderr, which is read apart so that it cannot land between stdout's lines.
 *
 * Three elapses tell whether a calendar fires twice within a minute: its seconds are the same
 * in every minute it matches, so if it has two or more, two of the next three elapses fall into
 * one minute (the first may be the last one of the current minute).
 *
 * Many expressions (a configuration load) are spread over runs of at most CALENDAR_RUN_MAX,
 * which run at the same time; each run's output is bounded.
 */

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

#include "calendar.h"
#include "errors.h"
#include "log.h"
#include "spawn-child.h"
#include "string-util.h"

#define CALENDAR_CHECK_TIMEOUT_USEC (10 * USEC_PER_SEC)
#define CALENDAR_RUN_MAX 64U
#define CALENDAR_RUN_ARGS_MAX (128U * 1024U)
#define CALENDAR_OUTPUT_MAX (1024U * 1024U)
#define CALENDAR_ITERATIONS 3U

#define CALENDAR_FORMS_HINT \
        "expected a preset, an @every interval, cron's five fields or a calendar such as \"Mon..Fri *-*-* 01:30\""

typedef struct Verdict {
        int r; /* 0; -EINVAL refused; -ERANGE never fires; -EDOM too often; else the check failed */
        usec_t first, second; /* for -EDOM: two elapses less than a minute apart */
        char *failure;        /* for a failed check: why */
} Verdict;

typedef struct CalendarRun {
        CalendarCheck *check;
        Spawn *spawn;
        size_t first, n;
} CalendarRun;

struct CalendarCheck {
        char **exprs;
        size_t n;
        Verdict *verdicts;
        CalendarRun *runs;
        size_t n_runs, running;
        calendar_check_done_t done;
        void *userdata;
};

CalendarCheck *calendar_check_free(CalendarCheck *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_runs; i++)
                spawn_free(c->runs[i].spawn);
        for (size_t i = 0; i < c->n && c->verdicts; i++)
                free(c->verdicts[i].failure);
        free(c->runs);
        free(c->verdicts);
        strv_free(c->exprs);
        free(c);
        return NULL;
}

static void run_fail(CalendarRun *run, const char *why) {
        for (size_t i = run->first; i < run->first + run->n; i++) {
                Verdict *v = &run->check->verdicts[i];

                v->r = -EIO;
                if (free_and_strdup(&v->failure, why) < 0)
                        v->r = -ENOMEM;
        }
}

/* "Wed 2026-12-02 00:00:00 UTC" in UTC; 0 if it is not a time. */
static usec_t parse_elapse(const char *s) {
        struct tm tm = {};
        time_t t;

        if (sscanf(s, "%*s %d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                   &tm.tm_sec) != 6)
                return 0;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        t = timegm(&tm);
        return t > 0 ? (usec_t) t * USEC_PER_SEC : 0;
}

typedef struct Block {
        bool normalized, never;
        usec_t elapses[CALENDAR_ITERATIONS];
        size_t n_elapses;
} Block;

/* Reads stdout into blocks[0..n): false when it does not have the shape described above. */
static bool parse_blocks(char *out, Block *blocks, size_t n) {
        size_t i = 0;

        for (char *line = out, *end; *line; line = end) {
                char *value;

                end = line + strcspn(line, "\n");
                if (*end)
                        *end++ = 0;
                if (!*line) {
                        if (++i >= n)
                                return false;
                        continue;
                }
                line += strspn(line, " ");
                value = strstr(line, ": ");
                if (!value)
                        continue;
                *value = 0;
                value += 2;
                if (streq(line, "Normalized form"))
                        blocks[i].normalized = true;
                else if (streq(line, "Next elapse") && streq(value, "never"))
                        blocks[i].never = true;
                else if ((streq(line, "Next elapse") || startswith(line, "Iter. #")) &&
                         blocks[i].n_elapses < CALENDAR_ITERATIONS)
                        blocks[i].elapses[blocks[i].n_elapses++] = parse_elapse(value);
                else if (streq(line, "(in UTC)") && blocks[i].n_elapses > 0)
                        blocks[i].elapses[blocks[i].n_elapses - 1] = parse_elapse(value);
        }
        return i == n - 1;
}

static void run_judge(CalendarRun *run, const SpawnResult *result) {
        _cleanup_free_ Block *blocks = NULL;
        char how[64], why[512];
        size_t refused = 0;

        if (result->code != CLD_EXITED || result->output.truncated) {
                snprintf(why, sizeof(why), "systemd-analyze %s%s", spawn_result_describe(result, how, sizeof(how)),
                         result->output.truncated ? " and printed more than is read" : "");
                run_fail(run, why);
                return;
        }
        blocks = calloc(run->n, sizeof(Block));
        if (!blocks) {
                run_fail(run, "out of memory");
                return;
        }
        if (!parse_blocks(result->output.data, blocks, run->n)) {
                snprintf(why, sizeof(why), "systemd-analyze %s and printed what the agent cannot read: %.200s",
                         spawn_result_describe(result, how, sizeof(how)), strstrip(result->error.data));
                run_fail(run, why);
                return;
        }
        for (size_t j = 0; j < run->n; j++)
                refused += !blocks[j].normalized;
        /* It fails when it refused one, and only then. */
        if ((refused > 0) != (result->status != 0)) {
                snprintf(why, sizeof(why), "systemd-analyze %s: %.200s", spawn_result_describe(result, how, sizeof(how)),
                         strstrip(result->error.data));
                run_fail(run, why);
                return;
        }

        for (size_t j = 0; j < run->n; j++) {
                Verdict *v = &run->check->verdicts[run->first + j];
                Block *b = &blocks[j];

                if (!b->normalized)
                        v->r = -EINVAL;
                else if (b->never || b->n_elapses == 0)
                        v->r = -ERANGE;
                for (size_t k = 1; v->r == 0 && k < b->n_elapses; k++)
                        if (b->elapses[k] < b->elapses[k - 1] + USEC_PER_MINUTE) {
                                v->r = -EDOM;
                                v->first = b->elapses[k - 1];
                                v->second = b->elapses[k];
                        }
        }
}

static void on_run_done(Spawn *s, const SpawnResult *result, void *userdata) {
        CalendarRun *run = userdata;
        CalendarCheck *c = run->check;

        run_judge(run, result);
        if (--c->running == 0)
                c->done(c, c->userdata); /* may free c */
}

int calendar_check_start(sd_event *e, char * const *exprs, size_t n, calendar_check_done_t done, void *userdata,
                         CalendarCheck **ret) {
        _cleanup_(calendar_check_freep) CalendarCheck *c = NULL;
        char iterations[32];
        int r;

        if (n == 0)
                return -EINVAL;
        snprintf(iterations, sizeof(iterations), "--iterations=%u", CALENDAR_ITERATIONS);
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->done = done;
        c->userdata = userdata;
        c->verdicts = calloc(n, sizeof(Verdict));
        c->runs = calloc(n, sizeof(CalendarRun));
        if (!c->verdicts || !c->runs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                r = strv_extend(&c->exprs, exprs[i]);
                if (r < 0)
                        return r;
        }
        c->n = n;

        for (size_t first = 0; first < n;) {
                _cleanup_free_ char **argv = calloc(4 + CALENDAR_RUN_MAX + 1, sizeof(char *));
                CalendarRun *run = &c->runs[c->n_runs];
                size_t k = 0, bytes = 0;

                if (!argv)
                        return -ENOMEM;
                argv[k++] = (char *) "systemd-analyze";
                argv[k++] = (char *) "calendar";
                argv[k++] = iterations;
                argv[k++] = (char *) "--";
                *run = (CalendarRun) { .check = c, .first = first };
                /* At least one per run, however long. */
                while (first + run->n < n && run->n < CALENDAR_RUN_MAX &&
                       (run->n == 0 || bytes + strlen(c->exprs[first + run->n]) <= CALENDAR_RUN_ARGS_MAX)) {
                        bytes += strlen(c->exprs[first + run->n]);
                        argv[k++] = c->exprs[first + run->n++];
                }
                SpawnOptions opts = {
                        .argv = argv,
                        .timeout = CALENDAR_CHECK_TIMEOUT_USEC,
                        .output_max = CALENDAR_OUTPUT_MAX,
                        .stderr_separate = true,
                };
                r = spawn_start(e, &opts, on_run_done, run, &run->spawn);
                if (r < 0)
                        return r;
                c->n_runs++;
                c->running++;
                first += run->n;
        }

        *ret = TAKE_PTR(c);
        return 0;
}

int calendar_check_verdict(CalendarCheck *c, size_t i, const char *schedule, sd_bus_error *error) {
        const Verdict *v = &c->verdicts[i];
        const char *expr = c->exprs[i];
        bool same = streq(schedule, expr);
        char a[16], b[16];

        switch (v->r) {
        case 0:
                return 0;
        case -EINVAL:
                if (same)
                        return sd_bus_error_setf(error, AGENT_ERROR_INVALID_SCHEDULE,
                                                 "Invalid schedule \"%s\": systemd's calendar parser refuses it; " CALENDAR_FORMS_HINT ".",
                                                 schedule);
                return sd_bus_error_setf(error, AGENT_ERROR_INVALID_SCHEDULE,
                                         "Invalid schedule \"%s\": systemd's calendar parser refuses the calendar it becomes, \"%s\" "
                                         "(too many values?); use ranges and steps, e.g. \"0-30/5 * * * *\", or a preset or an @every interval.",
                                         schedule, expr);
        case -ERANGE:
                return sd_bus_error_setf(error, AGENT_ERROR_INVALID_SCHEDULE,
                                         "Invalid schedule \"%s\": it never fires (systemd finds no next time for \"%s\": a date that does "
                                         "not exist or has passed); expected one that repeats, e.g. \"0 0 28 2 *\", \"*-02-28 00:00\" or \"monthly\".",
                                         schedule, expr);
        case -EDOM: {
                time_t t1 = (time_t) (v->first / USEC_PER_SEC), t2 = (time_t) (v->second / USEC_PER_SEC);
                struct tm tm;

                strftime(a, sizeof(a), "%H:%M:%S", gmtime_r(&t1, &tm));
                strftime(b, sizeof(b), "%H:%M:%S", gmtime_r(&t2, &tm));
                return sd_bus_error_setf(error, AGENT_ERROR_INVALID_SCHEDULE,
                                         "Invalid schedule \"%s\": it fires more often than once a minute (at %s and again at %s UTC); "
                                         "a backup schedule fires once a minute at most, e.g. \"*:0/5\" (every five minutes) or \"@every 1m\".",
                                         schedule, a, b);
        }
        default:
                return sd_bus_error_setf(error, AGENT_ERROR_FAILED, "Cannot check the schedule \"%s\" with systemd: %s.",
                                         schedule, v->r == -ENOMEM ? "out of memory" : strna(v->failure));
        }
}

/* ---- for method handlers ---------------------------------------------------------------------- */

typedef struct CalendarAsk {
        sd_event *event;
        const char *schedule, *expr;
} CalendarAsk;

/* What a check in flight holds. */
typedef struct CalendarQuery {
        AsyncCheck *check;
        CalendarCheck *calendar;
        char *schedule;
} CalendarQuery;

static void calendar_query_free(void *p) {
        CalendarQuery *q = p;

        calendar_check_free(q->calendar);
        free(q->schedule);
        free(q);
}

static void on_checked(CalendarCheck *c, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        CalendarQuery *q = userdata;
        int r;

        r = calendar_check_verdict(c, 0, q->schedule, &error);
        async_check_done(q->check, r, &error); /* frees q and c */
}

static int start_check(AsyncCheck *check, void *userdata, sd_bus_error *error) {
        CalendarAsk *ask = userdata;
        CalendarQuery *q;
        int r;

        q = calloc(1, sizeof(*q));
        if (!q || !(q->schedule = strdup(ask->schedule))) {
                free(q);
                return sd_bus_error_set_errno(error, -ENOMEM);
        }
        q->check = check;
        async_check_hold(check, q, calendar_query_free);
        r = calendar_check_start(ask->event, (char * const *) &ask->expr, 1, on_checked, q, &q->calendar);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot run systemd-analyze to check the calendar: %m");
        return 0;
}

int calendar_check_message(sd_bus_message *m, const char *schedule, const char *expr, AsyncChecks *checks,
                           sd_bus_error *error) {
        _cleanup_free_ char *question = NULL;
        CalendarAsk ask = {
                .event = sd_bus_get_event(sd_bus_message_get_bus(m)),
                .schedule = schedule,
                .expr = expr,
        };
        uid_t uid;
        int r;

        r = async_check_sender_uid(checks, m, &uid);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot tell who is calling: %m");
        if (asprintf(&question, "calendar\n%s", expr) < 0)
                return sd_bus_error_set_errno(error, -ENOMEM);
        return async_check(checks, m, question, uid, start_check, &ask, error);
}
