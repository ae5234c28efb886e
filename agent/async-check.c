/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The registry of asynchronous checks: one query per method call being checked, keyed by the
 * message object (sd_bus_enqueue_for_read() puts the same object back), holding the check in
 * flight (at most one: the handler returned when it asked) and the verdicts so far.
 *
 * When a query may go: after its message ran again. A bus filter, which sees every incoming
 * message before its handler does, notes when the message comes by again; its handler has then
 * finished by the time the filter sees the next message, and the query is freed there. An
 * idle-priority defer source, as in bus-polkit.c, frees what is left when the loop has nothing
 * else to do (the re-queued message, dispatched at normal priority, has run by then). The
 * filter is what keeps a busy bus, on which the loop may not go idle for a long time, from
 * piling up queries.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "async-check.h"
#include "errors.h"
#include "list.h"
#include "log.h"
#include "string-util.h"

typedef struct Query Query;

typedef struct Verdict {
        LIST_FIELDS(struct Verdict, verdicts);
        char *question;
        int r;
        sd_bus_error error;
} Verdict;

struct AsyncCheck {
        Query *query;
        char *question;
        void *data;
        void (*free_data)(void *);
};

struct Query {
        LIST_FIELDS(Query, queries);
        AsyncChecks *checks;
        sd_bus_message *request;
        uid_t uid;
        AsyncCheck *pending;
        Verdict *verdicts;
        bool rerun_seen; /* answered, and the message came by the filter again */
};

struct AsyncChecks {
        sd_bus *bus;
        sd_bus_slot *filter;
        sd_event_source *idle;
        Query *queries;
        unsigned n_pending;
};

static AsyncCheck *check_free(AsyncCheck *c) {
        if (!c)
                return NULL;
        c->query->pending = NULL;
        c->query->checks->n_pending--;
        if (c->free_data)
                c->free_data(c->data);
        free(c->question);
        free(c);
        return NULL;
}

static Query *query_free(Query *q) {
        if (!q)
                return NULL;
        LIST_REMOVE(queries, q->checks->queries, q);
        check_free(q->pending);
        LIST_FOREACH_SAFE(verdicts, v, n, q->verdicts) {
                free(v->question);
                sd_bus_error_free(&v->error);
                free(v);
        }
        sd_bus_message_unref(q->request);
        free(q);
        return NULL;
}

static Query *query_find(AsyncChecks *checks, sd_bus_message *m) {
        LIST_FOREACH(queries, q, checks->queries)
                if (q->request == m)
                        return q;
        return NULL;
}

AsyncChecks *async_checks_free(AsyncChecks *checks) {
        if (!checks)
                return NULL;
        while (checks->queries)
                query_free(checks->queries);
        sd_bus_slot_unref(checks->filter);
        sd_event_source_disable_unref(checks->idle);
        sd_bus_unref(checks->bus);
        free(checks);
        return NULL;
}

static int on_message(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        AsyncChecks *checks = userdata;

        LIST_FOREACH_SAFE(queries, q, next, checks->queries) {
                if (q->pending)
                        continue;
                if (q->request == m)
                        q->rerun_seen = true;
                else if (q->rerun_seen)
                        query_free(q);
        }
        return 0; /* the message goes on to its handler */
}

static int on_idle(sd_event_source *s, void *userdata) {
        AsyncChecks *checks = userdata;

        LIST_FOREACH_SAFE(queries, q, next, checks->queries)
                if (!q->pending)
                        query_free(q);
        return 0;
}

/* Queries without a check in flight are freed once the loop is idle, at the latest. */
static void checks_schedule_cleanup(AsyncChecks *checks) {
        int r = 0;

        if (!checks->idle) {
                r = sd_event_add_defer(sd_bus_get_event(checks->bus), &checks->idle, on_idle, checks);
                if (r >= 0)
                        r = sd_event_source_set_priority(checks->idle, SD_EVENT_PRIORITY_IDLE);
        }
        if (r >= 0)
                r = sd_event_source_set_enabled(checks->idle, SD_EVENT_ONESHOT);
        if (r < 0)
                log_warning_errno(r, "Failed to schedule freeing answered checks, ignoring (the next call frees them): %m");
}

int async_checks_new(sd_bus *bus, AsyncChecks **ret) {
        _cleanup_(async_checks_freep) AsyncChecks *checks = NULL;
        int r;

        checks = calloc(1, sizeof(*checks));
        if (!checks)
                return -ENOMEM;
        checks->bus = sd_bus_ref(bus);
        r = sd_bus_add_filter(bus, &checks->filter, on_message, checks);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(checks);
        return 0;
}

bool async_checks_is_empty(AsyncChecks *checks) {
        return !checks->queries;
}

int async_check_sender_uid(AsyncChecks *checks, sd_bus_message *m, uid_t *ret) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        Query *q = query_find(checks, m);
        int r;

        if (q) {
                *ret = q->uid;
                return 0;
        }
        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds);
        if (r < 0)
                return r;
        return sd_bus_creds_get_euid(creds, ret);
}

static int check_bounds(AsyncChecks *checks, uid_t uid, sd_bus_error *error) {
        unsigned mine = 0;

        /* Root is never refused: the bound protects what root may do from everyone else. */
        if (uid == 0)
                return 0;
        LIST_FOREACH(queries, q, checks->queries)
                mine += q->pending && q->uid == uid;
        if (mine >= ASYNC_CHECKS_PER_USER_MAX)
                return sd_bus_error_setf(error, AGENT_ERROR_TOO_MANY_REQUESTS,
                                         "%u calls of user %u wait for authorization or a check already; wait for their answers "
                                         "(or answer the authentication prompts), then try again.",
                                         mine, (unsigned) uid);
        if (checks->n_pending >= ASYNC_CHECKS_MAX)
                return sd_bus_error_setf(error, AGENT_ERROR_TOO_MANY_REQUESTS,
                                         "%u calls wait for authorization or a check already; try again in a moment.",
                                         checks->n_pending);
        return 0;
}

int async_check(AsyncChecks *checks, sd_bus_message *m, const char *question, uid_t uid, async_check_start_t start,
                void *userdata, sd_bus_error *error) {
        Query *q = query_find(checks, m);
        AsyncCheck *c;
        int r;

        if (q) {
                LIST_FOREACH(verdicts, v, q->verdicts)
                        if (streq(v->question, question)) {
                                r = v->r > 0 ? 0 : sd_bus_error_copy(error, &v->error);
                                return r < 0 ? r : v->r;
                        }
                if (q->pending)
                        return 0;
        }

        r = check_bounds(checks, uid, error);
        if (r < 0)
                return r;

        if (!q) {
                q = calloc(1, sizeof(*q));
                if (!q)
                        return sd_bus_error_set_errno(error, -ENOMEM);
                q->checks = checks;
                q->request = sd_bus_message_ref(m);
                q->uid = uid;
                LIST_PREPEND(queries, checks->queries, q);
        }
        c = calloc(1, sizeof(*c));
        if (!c || !(c->question = strdup(question))) {
                free(c);
                r = sd_bus_error_set_errno(error, -ENOMEM);
                goto fail;
        }
        c->query = q;
        q->pending = c;
        q->rerun_seen = false;
        checks->n_pending++;

        r = start(c, userdata, error);
        if (r < 0) {
                check_free(c);
                goto fail;
        }
        return 0;

fail:
        /* The handler answers now; verdicts from earlier runs go with the others. */
        if (q->verdicts)
                checks_schedule_cleanup(checks);
        else
                query_free(q);
        return r;
}

void async_check_hold(AsyncCheck *c, void *data, void (*free_data)(void *)) {
        c->data = data;
        c->free_data = free_data;
}

void async_check_done(AsyncCheck *c, int verdict, const sd_bus_error *error) {
        Query *q = c->query;
        AsyncChecks *checks = q->checks;
        Verdict *v;
        int r;

        v = calloc(1, sizeof(*v));
        if (v) {
                v->question = TAKE_PTR(c->question);
                v->r = verdict >= 0 ? 1 : verdict;
                if (v->r < 0 && sd_bus_error_is_set(error))
                        (void) sd_bus_error_copy(&v->error, error);
                else if (v->r < 0)
                        (void) sd_bus_error_set_errno(&v->error, v->r);
                LIST_PREPEND(verdicts, q->verdicts, v);
        }
        check_free(c);

        r = v ? sd_bus_message_rewind(q->request, true) : -ENOMEM;
        if (r >= 0)
                r = sd_bus_enqueue_for_read(checks->bus, q->request);
        if (r < 0) {
                log_error_errno(r, "Failed to run a method call again after its check: %m");
                (void) sd_bus_reply_method_errno(q->request, r, NULL);
                query_free(q);
                return;
        }
        checks_schedule_cleanup(checks);
}
