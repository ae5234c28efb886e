/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * systemd's D-Bus API, asynchronously. A job is followed in two steps: the method call's
 * reply names the job object, and the JobRemoved signal for that object says how it ended.
 * The signal is subscribed to (and the manager asked to send its signals, Subscribe()) before
 * any job is started, and systemd replies to a call before the job it queued can end, so no
 * job's end is missed. Pending operations are a list in the client, so that the signal finds
 * its job and freeing the client or an operation cancels the callback.
 */

#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "string-util.h"
#include "systemd-jobs.h"

struct SystemdClient {
        sd_bus *bus;
        SystemdScope scope;
        sd_bus_slot *job_removed;
        sd_bus_slot *subscribe;
        SystemdCall *calls;
};

struct SystemdCall {
        SystemdClient *client;
        SystemdCall *next, *prev;
        sd_bus_slot *slot;
        bool is_job;
        char *job; /* the job object, once the call returned it */
        systemd_done_t done;
        void *userdata;
        void (*destroy)(void *userdata);
};

SystemdCall *systemd_call_free(SystemdCall *call) {
        if (!call)
                return NULL;
        if (call->prev)
                call->prev->next = call->next;
        else if (call->client->calls == call)
                call->client->calls = call->next;
        if (call->next)
                call->next->prev = call->prev;
        sd_bus_slot_unref(call->slot);
        if (call->destroy)
                call->destroy(call->userdata);
        free(call->job);
        free(call);
        return NULL;
}

void systemd_call_set_destroy(SystemdCall *call, void (*destroy)(void *userdata)) {
        call->destroy = destroy;
}

static void call_finish(SystemdCall *call, int r, const char *message, sd_bus_message *reply) {
        call->slot = sd_bus_slot_unref(call->slot);
        call->done(call, r, message, reply, call->userdata);
        systemd_call_free(call);
}

static int job_result_to_errno(const char *result) {
        static const struct {
                const char *result;
                int error;
        } table[] = {
                { "done", 0 },         { "skipped", 0 },      { "canceled", -ECANCELED },
                { "timeout", -ETIME }, { "dependency", -EIO }, { "failed", -EIO },
                { "unsupported", -EOPNOTSUPP },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(result, table[i].result))
                        return table[i].error;
        return -EIO;
}

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        SystemdClient *c = userdata;
        const char *job, *unit, *result;
        uint32_t id;

        if (sd_bus_message_read(m, "uoss", &id, &job, &unit, &result) < 0)
                return 0;
        for (SystemdCall *call = c->calls; call; call = call->next)
                if (call->is_job && streq_ptr(call->job, job)) {
                        _cleanup_free_ char *message = NULL;

                        (void) set_message(&message, 0, "Job for %s ended with result '%s'.", unit, result);
                        call_finish(call, job_result_to_errno(result), message ?: result, NULL);
                        break;
                }
        return 0;
}

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        SystemdCall *call = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *job;

        if (e) {
                call_finish(call, -sd_bus_error_get_errno(e) ?: -EIO, e->message, NULL);
                return 0;
        }
        if (!call->is_job) {
                call_finish(call, 0, NULL, reply);
                return 0;
        }

        /* A job was queued: its end comes with JobRemoved. */
        if (sd_bus_message_read(reply, "o", &job) < 0) {
                call_finish(call, -EBADMSG, "systemd answered a job request without a job", NULL);
                return 0;
        }
        call->slot = sd_bus_slot_unref(call->slot);
        call->job = strdup(job);
        if (!call->job)
                call_finish(call, -ENOMEM, NULL, NULL);
        return 0;
}

static int call_start(SystemdClient *c, sd_bus_message *m, bool job, systemd_done_t done, void *userdata,
                      SystemdCall **ret) {
        SystemdCall *call;
        int r;

        call = calloc(1, sizeof(*call));
        if (!call)
                return -ENOMEM;
        call->client = c;
        call->done = done;
        call->userdata = userdata;
        call->is_job = job;
        call->next = c->calls;
        if (c->calls)
                c->calls->prev = call;
        c->calls = call;

        r = sd_bus_call_async(c->bus, &call->slot, m, on_reply, call, /* usec= */ 0);
        if (r < 0) {
                systemd_call_free(call);
                return r;
        }
        if (ret)
                *ret = call;
        return 0;
}

int systemd_new_manager_call(SystemdClient *c, const char *method, sd_bus_message **ret) {
        return sd_bus_message_new_method_call(c->bus, ret, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER_INTERFACE,
                                              method);
}

int systemd_call(SystemdClient *c, sd_bus_message *m, systemd_done_t done, void *userdata, SystemdCall **ret) {
        return call_start(c, m, /* job= */ false, done, userdata, ret);
}

int systemd_job(SystemdClient *c, const char *method, const char *unit, systemd_done_t done, void *userdata,
                SystemdCall **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = systemd_new_manager_call(c, method, &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", unit, "replace");
        if (r < 0)
                return r;
        return call_start(c, m, /* job= */ true, done, userdata, ret);
}

int systemd_unit_path(const char *unit, char **ret) {
        return sd_bus_path_encode(SYSTEMD_PATH "/unit", unit, ret);
}

sd_bus *systemd_client_bus(SystemdClient *c) {
        return c->bus;
}

SystemdScope systemd_client_scope(SystemdClient *c) {
        return c->scope;
}

SystemdClient *systemd_client_free(SystemdClient *c) {
        if (!c)
                return NULL;
        while (c->calls)
                systemd_call_free(c->calls);
        sd_bus_slot_unref(c->job_removed);
        sd_bus_slot_unref(c->subscribe);
        /* The user bus connection is ours alone; the system bus one is the Manager's. */
        if (c->scope == SCOPE_USER)
                sd_bus_flush_close_unref(c->bus);
        else
                sd_bus_unref(c->bus);
        free(c);
        return NULL;
}

static int on_subscribed(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        SystemdClient *c = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        c->subscribe = sd_bus_slot_unref(c->subscribe);
        /* Already subscribed is fine; anything else means no job will ever be seen to end. */
        if (e && !sd_bus_error_has_name(e, "org.freedesktop.systemd1.AlreadySubscribed"))
                log_warning("systemd refused to send us its signals (%s); timer changes may not be followed.",
                            e->message);
        return 0;
}

int systemd_client_new(sd_event *e, SystemdScope scope, sd_bus *system_bus, SystemdClient **ret) {
        _cleanup_(systemd_client_freep) SystemdClient *c = NULL;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->scope = scope;
        if (scope == SCOPE_USER) {
                r = sd_bus_open_user(&c->bus);
                if (r < 0)
                        return r;
                r = sd_bus_attach_event(c->bus, e, SD_EVENT_PRIORITY_NORMAL);
                if (r < 0)
                        return r;
        } else
                c->bus = sd_bus_ref(system_bus);

        r = sd_bus_match_signal_async(c->bus, &c->job_removed, SYSTEMD_SERVICE, SYSTEMD_PATH,
                                      SYSTEMD_MANAGER_INTERFACE, "JobRemoved", on_job_removed, NULL, c);
        if (r < 0)
                return r;
        r = sd_bus_call_method_async(c->bus, &c->subscribe, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER_INTERFACE,
                                     "Subscribe", on_subscribed, c, NULL);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(c);
        return 0;
}
