/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Asynchronous polkit checks: CheckAuthorization is called with sd_bus_call_async(), and its
 * answer becomes the verdict of an asynchronous check (async-check.h), which re-runs the
 * method handler. The question is the action with its details: a re-run that asks about
 * something else gets its own answer.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "polkit.h"
#include "string-util.h"

typedef struct PolkitAsk {
        const char *action;
        const char * const *details;
        sd_bus_message *request;
} PolkitAsk;

/* What a check in flight holds: the call to polkit, and the action for the messages. */
typedef struct PolkitQuery {
        AsyncCheck *check;
        sd_bus_slot *slot;
        char *action;
} PolkitQuery;

static void polkit_query_free(void *p) {
        PolkitQuery *q = p;

        sd_bus_slot_unref(q->slot);
        free(q->action);
        free(q);
}

static int reply_verdict(sd_bus_message *reply, const char *action, sd_bus_error *error) {
        int authorized, challenge, r;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);

                /* Without polkit only root may act: say so rather than pass on a bus error. */
                if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                                 "Only root may do this: polkit is not running to authorize others.");
                log_warning("polkit failed to check %s: %s", action, e->message);
                return sd_bus_error_copy(error, e);
        }

        r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
        if (r >= 0)
                r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
        if (r < 0) {
                log_warning_errno(r, "polkit sent an answer we cannot read: %m");
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "polkit's answer could not be read.");
        }

        if (authorized)
                return 1;
        if (challenge)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                                         "Authentication is required for %s.", action);
        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "Not authorized for %s.", action);
}

static int on_check_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        PolkitQuery *q = userdata;
        int r;

        r = reply_verdict(reply, q->action, &error);
        async_check_done(q->check, r, &error); /* frees q */
        return 0;
}

static int start_check(AsyncCheck *c, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        PolkitAsk *ask = userdata;
        sd_bus_message *m = ask->request;
        PolkitQuery *q;
        int r;

        r = sd_bus_message_new_method_call(sd_bus_message_get_bus(m), &call, "org.freedesktop.PolicyKit1",
                                           "/org/freedesktop/PolicyKit1/Authority",
                                           "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization");
        if (r >= 0)
                r = sd_bus_message_append(call, "(sa{sv})s", "system-bus-name", 1, "name", "s",
                                          sd_bus_message_get_sender(m), ask->action);
        if (r >= 0)
                r = sd_bus_message_open_container(call, 'a', "{ss}");
        for (const char * const *d = ask->details; r >= 0 && d && d[0] && d[1]; d += 2)
                r = sd_bus_message_append(call, "{ss}", d[0], d[1]);
        if (r >= 0)
                r = sd_bus_message_close_container(call);
        if (r >= 0)
                r = sd_bus_message_append(call, "us",
                                          (uint32_t) (sd_bus_message_get_allow_interactive_authorization(m) > 0),
                                          /* cancellation_id= */ "");
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot ask polkit: %m");

        q = calloc(1, sizeof(*q));
        if (!q || !(q->action = strdup(ask->action))) {
                free(q);
                return sd_bus_error_set_errno(error, -ENOMEM);
        }
        q->check = c;
        async_check_hold(c, q, polkit_query_free);
        r = sd_bus_call_async(sd_bus_message_get_bus(m), &q->slot, call, on_check_reply, q, /* usec= */ 0);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot ask polkit: %m");
        return 0;
}

int polkit_check(sd_bus_message *m, const char *action, const char * const *details, AsyncChecks *checks,
                 sd_bus_error *error) {
        _cleanup_free_ char *question = NULL;
        PolkitAsk ask = { .action = action, .details = details, .request = m };
        size_t size = 0;
        uid_t uid;
        FILE *f;
        int r;

        r = async_check_sender_uid(checks, m, &uid);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot tell who is calling: %m");
        if (uid == 0)
                return 1;

        /* Details are printable text (names, ids): a newline cannot be part of one. */
        f = open_memstream(&question, &size);
        if (!f)
                return sd_bus_error_set_errno(error, -ENOMEM);
        fprintf(f, "polkit\n%s", action);
        for (const char * const *d = details; d && *d; d++)
                fprintf(f, "\n%s", *d);
        if (fclose(f) != 0)
                return sd_bus_error_set_errno(error, -ENOMEM);

        return async_check(checks, m, question, uid, start_check, &ask, error);
}
