/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Asynchronous polkit checks, after systemd's bus-polkit.c: CheckAuthorization is called with
 * sd_bus_call_async(); its reply is stored in the query and the original message is put back
 * into the read queue with sd_bus_enqueue_for_read(), so the method handler runs a second time
 * from the top and finds the answer waiting. Queries are keyed by the message object, which is
 * the same on both runs.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "polkit.h"
#include "string-util.h"

struct PolkitQuery {
        PolkitQuery *next;
        PolkitQuery **registry;
        sd_bus_message *request;
        char *action;
        char **details;
        sd_bus_slot *slot;
        sd_bus_message *reply;
};

static PolkitQuery *query_free(PolkitQuery *q) {
        if (!q)
                return NULL;
        for (PolkitQuery **i = q->registry; *i; i = &(*i)->next)
                if (*i == q) {
                        *i = q->next;
                        break;
                }
        sd_bus_slot_unref(q->slot);
        sd_bus_message_unref(q->request);
        sd_bus_message_unref(q->reply);
        free(q->action);
        strv_free(q->details);
        free(q);
        return NULL;
}

void polkit_registry_free(PolkitQuery **registry) {
        while (*registry)
                query_free(*registry);
}

bool polkit_registry_is_empty(PolkitQuery * const *registry) {
        return !*registry;
}

static bool details_equal(char * const *a, const char * const *b) {
        for (; a && *a; a++, b++)
                if (!b || !*b || !streq(*a, *b))
                        return false;
        return !b || !*b;
}

static int on_check_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        PolkitQuery *q = userdata;
        int r;

        q->slot = sd_bus_slot_unref(q->slot);
        q->reply = sd_bus_message_ref(reply);

        /* Run the original method again; it will find q->reply. */
        r = sd_bus_enqueue_for_read(sd_bus_message_get_bus(q->request), q->request);
        if (r < 0) {
                log_error_errno(r, "Failed to requeue a method call after polkit answered: %m");
                (void) sd_bus_reply_method_errno(q->request, r, NULL);
                query_free(q);
        }
        return 0;
}

static int query_result(PolkitQuery *q, sd_bus_error *error) {
        int authorized, challenge, r;

        if (sd_bus_message_is_method_error(q->reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(q->reply);

                /* Without polkit only root may act: say so rather than pass on a bus error. */
                if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                                 "Only root may do this: polkit is not running to authorize others.");
                log_warning("polkit failed to check %s: %s", q->action, e->message);
                return sd_bus_error_copy(error, e);
        }

        r = sd_bus_message_enter_container(q->reply, 'r', "bba{ss}");
        if (r >= 0)
                r = sd_bus_message_read(q->reply, "bb", &authorized, &challenge);
        if (r < 0) {
                log_warning_errno(r, "polkit sent an answer we cannot read: %m");
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "polkit's answer could not be read.");
        }

        if (authorized)
                return 1;
        if (challenge)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                                         "Authentication is required for %s.", q->action);
        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "Not authorized for %s.", q->action);
}

int polkit_check(sd_bus_message *m, const char *action, const char * const *details, PolkitQuery **registry,
                 sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        PolkitQuery *q;
        uid_t uid;
        int r;

        for (q = *registry; q; q = q->next)
                if (q->request == m)
                        break;
        if (q) {
                if (!q->reply)
                        return 0;
                /* A handler that asks about something else the second time round is a bug; do
                 * not let one answer stand in for another question. */
                if (!streq(q->action, action) || !details_equal(q->details, details))
                        r = sd_bus_error_set_errno(error, -ESTALE);
                else
                        r = query_result(q, error);
                query_free(q);
                return r;
        }

        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot tell who is calling: %m");
        if (uid == 0)
                return 1;

        r = sd_bus_message_new_method_call(sd_bus_message_get_bus(m), &call, "org.freedesktop.PolicyKit1",
                                           "/org/freedesktop/PolicyKit1/Authority",
                                           "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization");
        if (r >= 0)
                r = sd_bus_message_append(call, "(sa{sv})s", "system-bus-name", 1, "name", "s",
                                          sd_bus_message_get_sender(m), action);
        if (r >= 0)
                r = sd_bus_message_open_container(call, 'a', "{ss}");
        for (const char * const *d = details; r >= 0 && d && d[0] && d[1]; d += 2)
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
        if (!q)
                return sd_bus_error_set_errno(error, -ENOMEM);
        q->registry = registry;
        q->request = sd_bus_message_ref(m);
        q->action = strdup(action);
        for (const char * const *d = details; d && *d && r >= 0; d++)
                r = strv_extend(&q->details, *d);
        q->next = *registry;
        *registry = q;
        if (!q->action || r < 0) {
                query_free(q);
                return sd_bus_error_set_errno(error, -ENOMEM);
        }

        r = sd_bus_call_async(sd_bus_message_get_bus(m), &q->slot, call, on_check_reply, q, /* usec= */ 0);
        if (r < 0) {
                query_free(q);
                return sd_bus_error_set_errnof(error, r, "Cannot ask polkit: %m");
        }
        return 0;
}
