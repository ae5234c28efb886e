/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * systemd's D-Bus API, asynchronously. A job is followed in three steps: the method call's
 * reply names the job object, the JobRemoved signal for that object says how it ended, and a
 * read of the unit's properties (GetAll) says whether the unit is where the job was to take it.
 *
 * The signal is subscribed to (and the manager asked to send its signals, Subscribe()) before
 * any job is started, and systemd replies to a call before the job it queued can end, so no
 * job's end is missed. systemd merges identical jobs and hands the same job object to every
 * caller, so one JobRemoved ends every call waiting for that object. The unit's state is read
 * after JobRemoved rather than followed through PropertiesChanged (dbus-broker's way): systemd
 * changes the unit's state before it ends the job, so the read sees at least the state the job
 * ended in, and a match per unit would spend rules dbus-daemon also limits per connection. A
 * unit that is inactive and unreferenced is garbage-collected at once, and read again it would
 * show a fresh copy's state (ConditionResult=no, Result=success): so each job holds a reference
 * on its unit (RefUnit, sent just before the job's request; AddRef= for transient units) until
 * its state is read.
 *
 * dbus-daemon holds a reply owed to a connection until it comes (on the system bus without a
 * timeout) and refuses more than 128 of them. So at most SYSTEMD_CALLS_MAX calls are on the
 * wire; the others wait in a queue, in order, sent from a defer source as replies come in. A
 * call whose caller is gone (it ended by its deadline, or was freed) keeps its place until
 * systemd answers it, because dbus-daemon keeps counting it until then. Messages that need no
 * answer (taking and dropping a unit's reference, cancelling a job) are sent without expecting
 * one, and take no place.
 */

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "bus-names.h"
#include "list.h"
#include "log.h"
#include "string-util.h"
#include "systemd-jobs.h"

typedef enum CallKind {
        CALL_PLAIN, /* any method call: its reply is the answer */
        CALL_STATE, /* a unit's properties */
        CALL_JOB,   /* a job, followed to its end and judged */
} CallKind;

typedef enum CallStep {
        STEP_REQUEST, /* the method call, queued or on the wire */
        STEP_JOB,     /* systemd queued the job: waiting for its JobRemoved */
        STEP_ENDED,   /* JobRemoved came: the unit's state is to be read */
        STEP_STATE,   /* reading the unit's state after the job */
} CallStep;

struct SystemdClient {
        sd_event *event;
        sd_bus *bus;
        SystemdScope scope;
        sd_bus_slot *job_removed;
        sd_bus_slot *subscribe;
        sd_event_source *dispatch;
        SystemdCall *calls;              /* every call not freed yet */
        SystemdCall *queue, *queue_tail; /* waiting for a place on the wire, oldest first */
        unsigned in_flight;
};

struct SystemdCall {
        SystemdClient *client;
        LIST_FIELDS(SystemdCall, calls);
        LIST_FIELDS(SystemdCall, queue);
        sd_bus_message *queued; /* the message to send, while in the queue */
        sd_bus_slot *slot;      /* the method call on the wire */
        sd_event_source *deadline;
        CallKind kind;
        CallStep step;
        SystemdJobType type;
        bool transient;
        bool ended;       /* the caller has its answer or is gone: only a reply owed keeps the call */
        bool expired;     /* ended by its deadline: the job, once known, is cancelled */
        bool in_callback;
        usec_t timeout;
        char *unit;
        char *job;        /* the job object, once the request returned it */
        char *job_result; /* once JobRemoved said it */
        systemd_done_t done;
        void *userdata;
        void (*destroy)(void *userdata);
};

static const char *const job_type_table[_SYSTEMD_JOB_TYPE_MAX] = {
        [SYSTEMD_JOB_START] = "start",
        [SYSTEMD_JOB_STOP] = "stop",
        [SYSTEMD_JOB_RESTART] = "restart",
};

static const char *const job_method_table[_SYSTEMD_JOB_TYPE_MAX] = {
        [SYSTEMD_JOB_START] = "StartUnit",
        [SYSTEMD_JOB_STOP] = "StopUnit",
        [SYSTEMD_JOB_RESTART] = "RestartUnit",
};

const char *systemd_job_type_to_string(SystemdJobType t) {
        return t >= 0 && t < _SYSTEMD_JOB_TYPE_MAX ? job_type_table[t] : NULL;
}

void systemd_unit_state_done(SystemdUnitState *s) {
        free(s->id);
        free(s->load_state);
        free(s->load_error);
        free(s->active_state);
        free(s->sub_state);
        free(s->result);
        free(s->failed_condition);
        *s = (SystemdUnitState) {};
}

/* ---- judging a job's end (pure) ----------------------------------------------------------------- */

int systemd_job_result_to_errno(const char *result) {
        static const struct {
                const char *result;
                int error;
        } table[] = {
                { "done", 0 },           { "skipped", 0 },           { "canceled", -ECANCELED },
                { "collected", -ECANCELED }, { "timeout", -ETIME },  { "dependency", -EIO },
                { "failed", -EIO },      { "invalid", -ENOEXEC },    { "assert", -EPROTO },
                { "unsupported", -EOPNOTSUPP }, { "once", -ESTALE },
        };

        for (size_t i = 0; result && i < ELEMENTSOF(table); i++)
                if (streq(result, table[i].result))
                        return table[i].error;
        return -EIO; /* a result newer than this table: not a success we know of */
}

/* What a unit's Result means, as systemctl explains a failed job. */
static const char *unit_result_explanation(const char *result) {
        static const struct {
                const char *result, *explanation;
        } table[] = {
                { "resources", "of unavailable resources or another system error" },
                { "protocol", "the service did not take the steps its unit configuration requires" },
                { "timeout", "a timeout was exceeded" },
                { "exit-code", "the control process exited with an error code" },
                { "signal", "a fatal signal was delivered to the control process" },
                { "core-dump", "a fatal signal was delivered to the control process, which dumped core" },
                { "watchdog", "the service failed to send its watchdog ping" },
                { "start-limit", "it was started too often (see StartLimitBurst=)" },
                { "start-limit-hit", "it was started too often (see StartLimitBurst=)" },
                { "oom-kill", "of an out-of-memory situation (the OOM killer ended a process)" },
        };

        for (size_t i = 0; result && i < ELEMENTSOF(table); i++)
                if (streq(result, table[i].result))
                        return table[i].explanation;
        return NULL;
}

/* " (Result: exit-code: the control process exited with an error code, status=3)", or "" when
 * the unit has no Result or it is "success". */
static char *format_result(const SystemdUnitState *s) {
        const char *explanation;
        char status[64] = "";
        char *text;

        if (!s || !s->result || streq(s->result, "success"))
                return strdup("");
        if (s->exec_main_code == CLD_EXITED && s->exec_main_status != 0)
                (void) snprintf(status, sizeof(status), ", status=%" PRIi32, s->exec_main_status);
        else if ((s->exec_main_code == CLD_KILLED || s->exec_main_code == CLD_DUMPED) &&
                 sigabbrev_np(s->exec_main_status))
                (void) snprintf(status, sizeof(status), ", signal=SIG%s", sigabbrev_np(s->exec_main_status));
        explanation = unit_result_explanation(s->result);
        if (asprintf(&text, " (Result: %s%s%s%s)", s->result, explanation ? ": " : "", strempty(explanation),
                     status) < 0)
                return NULL;
        return text;
}

static int job_failed(SystemdJobType type, const char *unit, const char *job_result, const SystemdUnitState *s,
                      int error, char **ret_message) {
        const char *verb = systemd_job_type_to_string(type);
        _cleanup_free_ char *result = format_result(s);

        if (!result)
                return -ENOMEM;
        if (streq(job_result, "failed"))
                return set_message(ret_message, error, "The %s job of %s failed%s.", verb, unit, result);
        if (streq(job_result, "canceled"))
                return set_message(ret_message, error, "The %s job of %s was cancelled.", verb, unit);
        if (streq(job_result, "collected"))
                return set_message(ret_message, error, "The queued %s job of %s was garbage-collected.", verb, unit);
        if (streq(job_result, "timeout"))
                return set_message(ret_message, error, "The %s job of %s timed out (its JobTimeoutSec=).", verb, unit);
        if (streq(job_result, "dependency"))
                return set_message(ret_message, error, "A unit that %s depends on failed, so its %s job did not run.",
                                   unit, verb);
        if (streq(job_result, "invalid"))
                return set_message(ret_message, error, "The %s job of %s does not apply to the unit's state.", verb,
                                   unit);
        if (streq(job_result, "assert"))
                return set_message(ret_message, error, "%s was not started: one of its Assert*= settings failed.",
                                   unit);
        if (streq(job_result, "unsupported"))
                return set_message(ret_message, error, "Cannot %s %s: not supported on this system.", verb, unit);
        if (streq(job_result, "once"))
                return set_message(ret_message, error, "%s was started once already and cannot be started again.",
                                   unit);
        return set_message(ret_message, error, "The %s job of %s ended with result '%s'.", verb, unit, job_result);
}

int systemd_job_judge(SystemdJobType type, const char *unit, const char *job_result, const SystemdUnitState *s,
                      char **ret_message) {
        _cleanup_free_ char *result = NULL;
        const char *state;
        int r;

        r = systemd_job_result_to_errno(job_result);
        if (r < 0)
                return job_failed(type, unit, strna(job_result), s, r, ret_message);

        if (!s || !s->active_state)
                return set_message(ret_message, -EIO,
                                   "The %s job of %s ended '%s', but the unit's state could not be read to confirm it.",
                                   systemd_job_type_to_string(type), unit, job_result);
        state = s->active_state;
        if (type == SYSTEMD_JOB_STOP) {
                /* A job queued right after the stop ended can only bring the unit back. */
                if ((streq(state, "inactive") || streq(state, "failed")) && s->job_id == 0)
                        return 0;
                if (s->job_id != 0)
                        return set_message(ret_message, -EBUSY,
                                           "%s is %s right after its stop job ended, but job %" PRIu32
                                           " is queued for it: something starts it again (a dependency, a "
                                           "socket, a timer, Upholds=).",
                                           unit, state, s->job_id);
                return set_message(ret_message, -EBUSY,
                                   "%s is %s (%s) right after its stop job ended: something started it again "
                                   "(a dependency, a socket, a timer, Upholds=).",
                                   unit, state, strna(s->sub_state));
        }

        if (streq(state, "active") || streq(state, "reloading"))
                return 0;
        if (!s->condition_result)
                return set_message(ret_message, -EIO,
                                   "%s was not started: its start condition failed (%s was not met).", unit,
                                   s->failed_condition ?: "a Condition*= setting");
        if (streq(state, "inactive") && streq_ptr(s->result, "success"))
                return 0; /* a Type=oneshot service that ran and exited */

        result = format_result(s);
        if (!result)
                return -ENOMEM;
        return set_message(ret_message, -EIO, "%s is %s (%s) after its %s job ended '%s'%s.", unit, state,
                           strna(s->sub_state), systemd_job_type_to_string(type), job_result, result);
}

/* ---- reading a unit's state ---------------------------------------------------------------------- */

/* A failed condition as systemd writes it: "ConditionPathExists=|!/x". Prefers one that is not a
 * triggering condition ("|"): only that one alone can fail a start. */
static int read_conditions(sd_bus_message *m, char **ret) {
        const char *type, *parameter;
        int trigger, negate, state, r;
        _cleanup_free_ char *trigger_failed = NULL;

        r = sd_bus_message_enter_container(m, 'a', "(sbbsi)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "(sbbsi)", &type, &trigger, &negate, &parameter, &state)) > 0) {
                char *s;

                /* state: > 0 met, < 0 not met, 0 not checked */
                if (state >= 0 || (trigger ? trigger_failed : *ret))
                        continue;
                if (asprintf(&s, "%s=%s%s%s", type, trigger ? "|" : "", negate ? "!" : "", parameter) < 0)
                        return -ENOMEM;
                if (trigger)
                        trigger_failed = s;
                else
                        *ret = s;
        }
        if (r < 0)
                return r;
        if (!*ret)
                *ret = TAKE_PTR(trigger_failed);
        return sd_bus_message_exit_container(m);
}

static int read_property(sd_bus_message *m, const char *name, const char *signature, SystemdUnitState *s) {
        static const struct {
                const char *name;
                const char *signature;
                size_t offset;
        } table[] = {
                { "Id", "s", offsetof(SystemdUnitState, id) },
                { "LoadState", "s", offsetof(SystemdUnitState, load_state) },
                { "ActiveState", "s", offsetof(SystemdUnitState, active_state) },
                { "SubState", "s", offsetof(SystemdUnitState, sub_state) },
                { "Result", "s", offsetof(SystemdUnitState, result) },
                { "ConditionResult", "b", offsetof(SystemdUnitState, condition_result) },
                { "MainPID", "u", offsetof(SystemdUnitState, main_pid) },
                { "ExecMainCode", "i", offsetof(SystemdUnitState, exec_main_code) },
                { "ExecMainStatus", "i", offsetof(SystemdUnitState, exec_main_status) },
                { "NRestarts", "u", offsetof(SystemdUnitState, n_restarts) },
                { "ActiveEnterTimestamp", "t", offsetof(SystemdUnitState, active_enter_timestamp) },
                { "ActiveEnterTimestampMonotonic", "t", offsetof(SystemdUnitState, active_enter_timestamp_monotonic) },
                { "InactiveEnterTimestamp", "t", offsetof(SystemdUnitState, inactive_enter_timestamp) },
        };
        const char *str;
        const void *bytes;
        size_t size;
        int b, r;

        if (streq(name, "Conditions") && streq(signature, "a(sbbsi)")) {
                s->failed_condition = mfree(s->failed_condition);
                return read_conditions(m, &s->failed_condition);
        }
        if (streq(name, "LoadError") && streq(signature, "(ss)")) {
                r = sd_bus_message_read(m, "(ss)", NULL, &str);
                return r < 0 ? r : free_and_strdup(&s->load_error, isempty(str) ? NULL : str);
        }
        if (streq(name, "Job") && streq(signature, "(uo)"))
                return sd_bus_message_read(m, "(uo)", &s->job_id, NULL);
        if (streq(name, "InvocationID") && streq(signature, "ay")) {
                r = sd_bus_message_read_array(m, 'y', &bytes, &size);
                if (r >= 0 && size == sizeof(s->invocation_id))
                        memcpy(&s->invocation_id, bytes, size);
                return r;
        }
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                void *p = (uint8_t *) s + table[i].offset;

                if (!streq(name, table[i].name) || !streq(signature, table[i].signature))
                        continue;
                switch (signature[0]) {
                case 's':
                        r = sd_bus_message_read_basic(m, 's', &str);
                        return r < 0 ? r : free_and_strdup(p, str);
                case 'b':
                        r = sd_bus_message_read_basic(m, 'b', &b);
                        if (r >= 0)
                                *(bool *) p = b;
                        return r;
                default:
                        return sd_bus_message_read_basic(m, signature[0], p);
                }
        }
        return sd_bus_message_skip(m, signature);
}

/* The reply of a GetAll of every interface of a unit. */
static int unit_state_read(sd_bus_message *m, SystemdUnitState *ret) {
        _cleanup_(systemd_unit_state_done) SystemdUnitState s = {};
        const char *name, *signature;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                if ((r = sd_bus_message_read(m, "s", &name)) < 0 ||
                    (r = sd_bus_message_peek_type(m, NULL, &signature)) < 0 ||
                    (r = sd_bus_message_enter_container(m, 'v', signature)) < 0 ||
                    (r = read_property(m, name, signature, &s)) < 0 ||
                    (r = sd_bus_message_exit_container(m)) < 0 || (r = sd_bus_message_exit_container(m)) < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        *ret = s;
        s = (SystemdUnitState) {};
        return 0;
}

static int unit_state_message(SystemdClient *c, const char *unit, sd_bus_message **ret) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = systemd_unit_path(unit, &path);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_call(c->bus, ret, SYSTEMD_SERVICE, path, DBUS_PROPERTIES_INTERFACE,
                                           "GetAll");
        /* "": every interface, so that Result, MainPID, ... of the unit's type come along. */
        return r < 0 ? r : sd_bus_message_append(*ret, "s", "");
}

/* ---- calls ------------------------------------------------------------------------------------------ */

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error);

/* A message no answer is wanted for: dbus-daemon owes us none, so it takes no place on the wire.
 * arg, if set, is its one string argument. */
static void send_oneway(SystemdClient *c, const char *path, const char *interface, const char *method,
                        const char *arg) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

        if (sd_bus_message_new_method_call(c->bus, &m, SYSTEMD_SERVICE, path, interface, method) < 0 ||
            (arg && sd_bus_message_append(m, "s", arg) < 0) || sd_bus_message_set_expect_reply(m, false) < 0 ||
            sd_bus_send(c->bus, m, NULL) < 0)
                log_warning("Cannot send %s.%s to %s, ignoring.", interface, method, path);
}

/* Cancels a job, unless a call of ours other than except still waits for it. Returns whether it
 * did. */
static bool job_cancel(SystemdClient *c, const char *job, SystemdCall *except) {
        LIST_FOREACH(calls, i, c->calls)
                if (i != except && !i->ended && i->step == STEP_JOB && streq_ptr(i->job, job))
                        return false;
        send_oneway(c, job, SYSTEMD_JOB_INTERFACE, "Cancel", NULL);
        return true;
}

/* Takes the call out of the queue; returns the message it was to send. */
static sd_bus_message *call_unqueue(SystemdCall *call) {
        SystemdClient *c = call->client;

        if (!call->queued)
                return NULL;
        if (c->queue_tail == call)
                c->queue_tail = call->queue_prev;
        LIST_REMOVE(queue, c->queue, call);
        return TAKE_PTR(call->queued);
}

/* A place on the wire came free. */
static void client_slot_freed(SystemdClient *c) {
        c->in_flight--;
        if (c->queue)
                (void) sd_event_source_set_enabled(c->dispatch, SD_EVENT_ONESHOT);
}

static void call_release(SystemdCall *call) {
        SystemdClient *c = call->client;

        LIST_REMOVE(calls, c->calls, call);
        sd_bus_message_unref(call_unqueue(call));
        if (call->slot) {
                call->slot = sd_bus_slot_unref(call->slot);
                client_slot_freed(c);
        }
        sd_event_source_disable_unref(call->deadline);
        /* The job's reference on its unit (see the top) goes. A transient unit has one only once
         * systemd made it: one that was refused (it exists already, say) is not ours to drop. */
        if (call->kind == CALL_JOB && (!call->transient || call->job))
                send_oneway(c, SYSTEMD_PATH, SYSTEMD_MANAGER_INTERFACE, "UnrefUnit", call->unit);
        free(call->unit);
        free(call->job);
        free(call->job_result);
        free(call);
}

/* The caller's side of a call is over: its userdata goes, and the call lives on only as long as
 * systemd owes it a reply. */
static void call_end(SystemdCall *call) {
        void (*destroy)(void *userdata) = call->destroy;
        void *userdata = call->userdata;

        call->ended = true;
        call->done = NULL;
        call->destroy = NULL;
        call->userdata = NULL;
        call->deadline = sd_event_source_disable_unref(call->deadline);
        sd_bus_message_unref(call_unqueue(call));
        if (destroy)
                destroy(userdata);
        if (!call->slot)
                call_release(call);
}

static void call_finish(SystemdCall *call, const SystemdResult *result) {
        call->in_callback = true;
        if (call->done)
                call->done(call, result, call->userdata);
        call->in_callback = false;
        call_end(call);
}

_printf_(4, 5) static void call_fail(SystemdCall *call, int error, const char *error_name, const char *format, ...) {
        _cleanup_free_ char *message = NULL;
        va_list ap;

        errno = abs(error); /* for %m */
        va_start(ap, format);
        (void) set_messagev(&message, 0, format, ap);
        va_end(ap);
        call_finish(call, &(SystemdResult) { .error = error, .error_name = error_name, .message = message });
}

static int call_send(SystemdCall *call, sd_bus_message *m) {
        SystemdClient *c = call->client;
        int r;

        /* Straight to the wire only when nothing made earlier is still waiting: order is kept. */
        if (c->in_flight < SYSTEMD_CALLS_MAX && !c->queue) {
                r = sd_bus_call_async(c->bus, &call->slot, m, on_reply, call, /* usec= */ 0);
                if (r < 0)
                        return r;
                c->in_flight++;
                return 0;
        }
        call->queued = sd_bus_message_ref(m);
        LIST_INSERT_AFTER(queue, c->queue, c->queue_tail, call);
        c->queue_tail = call;
        return 0;
}

static int on_dispatch(sd_event_source *s, void *userdata) {
        SystemdClient *c = userdata;

        while (c->in_flight < SYSTEMD_CALLS_MAX && c->queue) {
                SystemdCall *call = c->queue;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = call_unqueue(call);
                int r;

                r = sd_bus_call_async(c->bus, &call->slot, m, on_reply, call, /* usec= */ 0);
                if (r >= 0) {
                        c->in_flight++;
                        continue;
                }
                /* Its callback may start or free other calls: the rest goes on from the loop. */
                if (c->queue)
                        (void) sd_event_source_set_enabled(c->dispatch, SD_EVENT_ONESHOT);
                call_fail(call, r, NULL, "Cannot send a call to the service manager: %m");
                return 0;
        }
        return 0;
}

static SystemdCall *call_new(SystemdClient *c, CallKind kind, const char *unit, systemd_done_t done, void *userdata) {
        SystemdCall *call;

        call = calloc(1, sizeof(*call));
        if (!call)
                return NULL;
        *call = (SystemdCall) {
                .client = c,
                .kind = kind,
                .step = STEP_REQUEST,
                .timeout = USEC_INFINITY,
                .done = done,
                .userdata = userdata,
        };
        if (unit && !(call->unit = strdup(unit))) {
                free(call);
                return NULL;
        }
        LIST_PREPEND(calls, c->calls, call);
        return call;
}

static int call_start(SystemdCall *call, sd_bus_message *m, SystemdCall **ret) {
        int r;

        r = call_send(call, m);
        if (r < 0) {
                call_release(call);
                return r;
        }
        if (ret)
                *ret = call;
        return 0;
}

/* After JobRemoved: read the unit's state to judge the job by. */
static void call_read_state(SystemdCall *call) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        call->step = STEP_STATE;
        r = unit_state_message(call->client, call->unit, &m);
        if (r >= 0)
                r = call_send(call, m);
        if (r < 0)
                call_fail(call, r, NULL, "The %s job of %s ended '%s', but its state cannot be read: %m",
                          systemd_job_type_to_string(call->type), call->unit, call->job_result);
}

static void call_judge(SystemdCall *call, sd_bus_message *reply) {
        _cleanup_(systemd_unit_state_done) SystemdUnitState state = {};
        _cleanup_free_ char *message = NULL;
        bool have_state;
        int r;

        have_state = !sd_bus_message_is_method_error(reply, NULL) && unit_state_read(reply, &state) >= 0;
        r = systemd_job_judge(call->type, call->unit, call->job_result, have_state ? &state : NULL, &message);
        call_finish(call, &(SystemdResult) {
                                  .error = r,
                                  .message = r < 0 ? message ?: "Out of memory." : NULL,
                                  .job_result = call->job_result,
                                  .unit = have_state ? &state : NULL,
                          });
}

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        SystemdCall *call = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *job;

        call->slot = sd_bus_slot_unref(call->slot);
        client_slot_freed(call->client);

        if (call->ended) {
                /* Only a reply owed kept the call. A job queued after the deadline passed is
                 * cancelled; one that is the caller's (it freed the call) is left alone. */
                if (call->kind == CALL_JOB && call->step == STEP_REQUEST && !e &&
                    sd_bus_message_read(reply, "o", &job) >= 0 && free_and_strdup(&call->job, job) >= 0 &&
                    call->expired)
                        (void) job_cancel(call->client, job, call);
                call_release(call);
                return 0;
        }

        if (call->kind == CALL_JOB && call->step == STEP_STATE) {
                call_judge(call, reply);
                return 0;
        }
        if (e) {
                call_finish(call, &(SystemdResult) {
                                          .error = -sd_bus_error_get_errno(e) ?: -EIO,
                                          .error_name = e->name,
                                          .message = e->message ?: e->name,
                                  });
                return 0;
        }

        switch (call->kind) {
        case CALL_PLAIN:
                call_finish(call, &(SystemdResult) { .reply = reply });
                break;
        case CALL_STATE: {
                _cleanup_(systemd_unit_state_done) SystemdUnitState state = {};
                int r = unit_state_read(reply, &state);

                if (r < 0)
                        call_fail(call, r, NULL, "Cannot read the state of %s: %m", call->unit);
                else
                        call_finish(call, &(SystemdResult) { .unit = &state });
                break;
        }
        case CALL_JOB:
                /* A job was queued: its end comes with JobRemoved. */
                if (sd_bus_message_read(reply, "o", &job) < 0)
                        call_fail(call, -EBADMSG, NULL, "systemd answered the %s request of %s without a job.",
                                  systemd_job_type_to_string(call->type), call->unit);
                else if (free_and_strdup(&call->job, job) < 0)
                        call_fail(call, -ENOMEM, NULL, "Out of memory.");
                else
                        call->step = STEP_JOB;
                break;
        }
        return 0;
}

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        SystemdClient *c = userdata;
        const char *job, *unit, *result;
        uint32_t id;

        if (sd_bus_message_read(m, "uoss", &id, &job, &unit, &result) < 0)
                return 0;
        /* Every call that was handed this job (systemd merges identical ones) ends with it. */
        LIST_FOREACH(calls, call, c->calls)
                if (!call->ended && call->step == STEP_JOB && streq(call->job, job)) {
                        if (free_and_strdup(&call->job_result, result) < 0)
                                return log_oom();
                        call->step = STEP_ENDED;
                }
        /* One at a time, from the start: a callback may free any call. */
        for (;;) {
                SystemdCall *call = c->calls;

                while (call && (call->ended || call->step != STEP_ENDED))
                        call = call->calls_next;
                if (!call)
                        break;
                call_read_state(call);
        }
        return 0;
}

/* The deadline passed: the caller is answered now, and whatever systemd was asked is undone as
 * far as it can be (see systemd_job()). */
static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        SystemdCall *call = userdata;
        const char *verb = systemd_job_type_to_string(call->type), *what;
        char timeout[32];

        call->expired = true;
        if (call->timeout % USEC_PER_SEC == 0)
                (void) snprintf(timeout, sizeof(timeout), "%" PRIu64 "s", call->timeout / USEC_PER_SEC);
        else
                (void) snprintf(timeout, sizeof(timeout), "%" PRIu64 "ms", call->timeout / USEC_PER_MSEC);

        switch (call->step) {
        case STEP_REQUEST:
                what = call->queued ? "; it was not asked yet"
                                    : "; systemd had not answered yet, the job it queues is cancelled";
                break;
        case STEP_JOB:
                what = job_cancel(call->client, call->job, call) ? "; the job is cancelled, the unit left as it is"
                                                           : "; the job goes on for another caller";
                break;
        default:
                what = "; the job had ended, its state was being read";
        }
        call_fail(call, -ETIMEDOUT, NULL, "Timed out after %s waiting for %s to %s%s.", timeout, call->unit, verb,
                  what);
        return 0;
}

static int job_start(SystemdClient *c, SystemdJobType type, bool transient, const char *unit, sd_bus_message *m,
                     usec_t timeout, systemd_done_t done, void *userdata, SystemdCall **ret) {
        SystemdCall *call;
        int r;

        call = call_new(c, CALL_JOB, unit, done, userdata);
        if (!call)
                return -ENOMEM;
        call->type = type;
        call->transient = transient;
        call->timeout = timeout;
        /* Before the request, on the same connection: systemd holds the reference before the job
         * can end. (Released with the call, whatever happens next.) */
        if (!transient)
                send_oneway(c, SYSTEMD_PATH, SYSTEMD_MANAGER_INTERFACE, "RefUnit", unit);
        if (timeout != USEC_INFINITY) {
                r = sd_event_add_time_relative(c->event, &call->deadline, CLOCK_MONOTONIC, timeout, /* accuracy= */ 0,
                                               on_deadline, call);
                if (r < 0) {
                        call_release(call);
                        return r;
                }
        }
        return call_start(call, m, ret);
}

int systemd_job(SystemdClient *c, SystemdJobType type, const char *unit, usec_t timeout, systemd_done_t done,
                void *userdata, SystemdCall **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        if (type < 0 || type >= _SYSTEMD_JOB_TYPE_MAX)
                return -EINVAL;
        r = systemd_new_manager_call(c, job_method_table[type], &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", unit, "replace");
        if (r < 0)
                return r;
        return job_start(c, type, /* transient= */ false, unit, m, timeout, done, userdata, ret);
}

int systemd_new_transient_unit(SystemdClient *c, const char *unit, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = systemd_new_manager_call(c, "StartTransientUnit", &m);
        /* "fail": a helper step must not replace a job someone else queued for that name. */
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", unit, "fail");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sv)");
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)(sv)", "AddRef", "b", 1, "CollectMode", "s", "inactive-or-failed");
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

int systemd_start_transient_unit(SystemdClient *c, const char *unit, sd_bus_message *m, usec_t timeout,
                                 systemd_done_t done, void *userdata, SystemdCall **ret) {
        int r;

        r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_append(m, "a(sa(sv))", 0); /* no auxiliary units */
        if (r < 0)
                return r;
        return job_start(c, SYSTEMD_JOB_START, /* transient= */ true, unit, m, timeout, done, userdata, ret);
}

int systemd_unit_state(SystemdClient *c, const char *unit, systemd_done_t done, void *userdata, SystemdCall **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        SystemdCall *call;
        int r;

        r = unit_state_message(c, unit, &m);
        if (r < 0)
                return r;
        call = call_new(c, CALL_STATE, unit, done, userdata);
        if (!call)
                return -ENOMEM;
        return call_start(call, m, ret);
}

int systemd_new_manager_call(SystemdClient *c, const char *method, sd_bus_message **ret) {
        return sd_bus_message_new_method_call(c->bus, ret, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER_INTERFACE,
                                              method);
}

int systemd_call(SystemdClient *c, sd_bus_message *m, systemd_done_t done, void *userdata, SystemdCall **ret) {
        SystemdCall *call;

        call = call_new(c, CALL_PLAIN, /* unit= */ NULL, done, userdata);
        if (!call)
                return -ENOMEM;
        return call_start(call, m, ret);
}

void systemd_call_set_destroy(SystemdCall *call, void (*destroy)(void *userdata)) {
        call->destroy = destroy;
}

SystemdCall *systemd_call_free(SystemdCall *call) {
        /* From its own callback the call is the client's to free, right after. */
        if (call && !call->ended && !call->in_callback)
                call_end(call);
        return NULL;
}

int systemd_unit_path(const char *unit, char **ret) {
        return sd_bus_path_encode(SYSTEMD_PATH "/unit", unit, ret);
}

/* ---- the client ------------------------------------------------------------------------------------ */

sd_event *systemd_client_event(SystemdClient *c) {
        return c->event;
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
        while (c->calls) {
                SystemdCall *call = c->calls;

                if (!call->ended)
                        call_end(call);
                if (c->calls == call) /* a reply was owed: the connection goes, so does the call */
                        call_release(call);
        }
        sd_event_source_disable_unref(c->dispatch);
        sd_bus_slot_unref(c->job_removed);
        sd_bus_slot_unref(c->subscribe);
        sd_bus_flush_close_unref(c->bus);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

static int on_subscribed(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        SystemdClient *c = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        c->subscribe = sd_bus_slot_unref(c->subscribe);
        /* Already subscribed is fine; anything else means no job will ever be seen to end. */
        if (e && !sd_bus_error_has_name(e, "org.freedesktop.systemd1.AlreadySubscribed"))
                log_warning("systemd refused to send us its signals (%s); its jobs cannot be followed.", e->message);
        return 0;
}

int systemd_client_new(sd_event *e, SystemdScope scope, SystemdClient **ret) {
        _cleanup_(systemd_client_freep) SystemdClient *c = NULL;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->scope = scope;
        c->event = sd_event_ref(e);
        r = scope == SCOPE_USER ? sd_bus_open_user_with_description(&c->bus, "systemd-client")
                                : sd_bus_open_system_with_description(&c->bus, "systemd-client");
        if (r < 0)
                return r;
        r = sd_bus_attach_event(c->bus, e, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;
        (void) sd_bus_set_exit_on_disconnect(c->bus, true);

        r = sd_event_add_defer(e, &c->dispatch, on_dispatch, c);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(c->dispatch, SD_EVENT_OFF);
        if (r < 0)
                return r;

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
