/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Driving a systemd service manager (the system's, or the user's) over its D-Bus API without
 * ever waiting for it, on a bus connection of the client's own: unit jobs (start, stop,
 * restart, transient units) followed to their end through JobRemoved and confirmed against
 * the unit's state, a unit's state read on its own, and plain calls (Reload, EnableUnitFiles,
 * ...) answered by their reply. Every operation ends in one callback, after which the client
 * frees it; freeing one that has not ended (or the client) cancels it, and its callback never
 * runs. At most SYSTEMD_CALLS_MAX method calls are in flight; later ones wait their turn, in
 * the order they were made.
 */

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <systemd/sd-id128.h>

#include "agent-config.h"

#define SYSTEMD_SERVICE "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER_INTERFACE "org.freedesktop.systemd1.Manager"
#define SYSTEMD_TIMER_INTERFACE "org.freedesktop.systemd1.Timer"
#define SYSTEMD_JOB_INTERFACE "org.freedesktop.systemd1.Job"

/* Method calls awaiting systemd's reply at once. dbus-daemon allows a connection 128 pending
 * replies (max_replies_per_connection); a pass over a few hundred timers must not hit that,
 * and a fair share of systemd's attention is all one agent needs. */
#define SYSTEMD_CALLS_MAX 16

typedef struct SystemdClient SystemdClient;
typedef struct SystemdCall SystemdCall;

typedef enum SystemdJobType {
        SYSTEMD_JOB_START,
        SYSTEMD_JOB_STOP,
        SYSTEMD_JOB_RESTART,
        _SYSTEMD_JOB_TYPE_MAX,
        _SYSTEMD_JOB_TYPE_INVALID = -EINVAL,
} SystemdJobType;

/* "start", "stop", "restart" */
const char *systemd_job_type_to_string(SystemdJobType t);

/* A unit as systemd showed it (what `systemctl show` prints; strings NULL where systemd had
 * no such property, e.g. Result for a target). */
typedef struct SystemdUnitState {
        char *id;
        char *load_state;        /* "loaded", "not-found", "masked", ... */
        char *load_error;        /* LoadError's message when not loaded */
        char *active_state;      /* "active", "reloading", "inactive", "failed", "activating", "deactivating" */
        char *sub_state;         /* "running", "exited", "dead", "auto-restart", ... */
        char *result;            /* of the type's interface: "success", "exit-code", "timeout", ... */
        bool condition_result;   /* false: a Condition*= was not met at the last start */
        char *failed_condition;  /* then the first one not met, as "ConditionPathExists=/x" */
        uint32_t main_pid;       /* 0 if none */
        int32_t exec_main_code;  /* si_code of the main process's last exit (CLD_EXITED, ...), 0 if none */
        int32_t exec_main_status; /* its exit status or signal */
        uint32_t n_restarts;     /* automatic restarts (Restart=) since the last manual start */
        uint32_t job_id;         /* the job queued for the unit, 0 if none */
        uint64_t active_enter_timestamp; /* µs since the epoch, 0 if never */
        uint64_t active_enter_timestamp_monotonic;
        uint64_t inactive_enter_timestamp;
        sd_id128_t invocation_id; /* changes with every start */
} SystemdUnitState;

void systemd_unit_state_done(SystemdUnitState *s);

/* How an operation ended. error is 0 on success or a negative errno:
 *   - systemd refused the call: error_name is systemd's D-Bus error name
 *     (org.freedesktop.systemd1.NoSuchUnit, .UnitMasked, ...) and error its errno;
 *   - a job ended with job_result other than "done"/"skipped": the mapping of systemctl's
 *     (bus-wait-for-jobs.c): "canceled" and "collected" -ECANCELED, "timeout" (the unit's own
 *     JobTimeoutSec=) -ETIME, "failed" and "dependency" -EIO, "invalid" -ENOEXEC, "assert"
 *     -EPROTO, "unsupported" -EOPNOTSUPP, "once" -ESTALE, anything newer -EIO;
 *   - a job ended "done" but its unit is not where the job was to take it (see
 *     systemd_job_judge()): -EIO after a start or restart, -EBUSY after a stop;
 *   - the caller's deadline passed: -ETIMEDOUT (distinct from systemd's -ETIME).
 * message is a sentence for an operator, naming the unit (and its Result where that
 * explains), NULL on success. unit is the job's unit as read after its end (or what
 * systemd_unit_state() asked for), NULL where it could not be read. reply is a plain call's
 * reply, NULL otherwise. All of it is valid during the callback only. */
typedef struct SystemdResult {
        int error;
        const char *error_name;
        const char *message;
        const char *job_result;
        const SystemdUnitState *unit;
        sd_bus_message *reply;
} SystemdResult;

typedef void (*systemd_done_t)(SystemdCall *call, const SystemdResult *result, void *userdata);

/* Connects to the manager's bus (for SCOPE_SYSTEM a system bus connection of the client's
 * own, never the one callers reach the agent on: callers' traffic must not crowd out the
 * agent's calls to systemd) and attaches it to e. Losing that connection exits e's loop, as
 * losing the agent's own does: without it, nothing systemd does can be followed. */
int systemd_client_new(sd_event *e, SystemdScope scope, SystemdClient **ret);
/* Not from a callback of one of its calls. */
SystemdClient *systemd_client_free(SystemdClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(SystemdClient *, systemd_client_free);
sd_bus *systemd_client_bus(SystemdClient *c);
sd_event *systemd_client_event(SystemdClient *c);
SystemdScope systemd_client_scope(SystemdClient *c);

/* A job on unit (job mode "replace"), followed to its end and judged against the unit's state.
 * timeout bounds the whole operation from now (USEC_INFINITY: no bound of ours). When it
 * passes, the call ends with -ETIMEDOUT and, unless another call of this client waits for the
 * same job (systemd merges identical jobs), the job is cancelled, as systemd's own
 * JobTimeoutSec= does: a caller told "failed" must not see systemd carry the job out later (a
 * start waiting for its ordering dependencies would start the unit after the caller moved on).
 * Cancelling leaves the unit as it is: a service already activating goes on starting; stop it
 * if that matters. Freeing the call stops following the job but does not cancel it. ret may be
 * NULL for a caller that never cancels. */
int systemd_job(SystemdClient *c, SystemdJobType type, const char *unit, usec_t timeout, systemd_done_t done,
                void *userdata, SystemdCall **ret);

/* A transient unit (StartTransientUnit, job mode "fail"), e.g. a helper step run as a service.
 * systemd_new_transient_unit() makes the message with its properties array open: append each
 * property as "(sv)" (Type=oneshot makes the start job last until the process exits), then
 * hand it to systemd_start_transient_unit(), which follows the start job as systemd_job()
 * does. The unit is referenced (AddRef=) until its state is read, so that ExecMainStatus and
 * Result are still there, and collected afterwards even when it failed (CollectMode=
 * inactive-or-failed), so that the same name can run again. */
int systemd_new_transient_unit(SystemdClient *c, const char *unit, sd_bus_message **ret);
int systemd_start_transient_unit(SystemdClient *c, const char *unit, sd_bus_message *m, usec_t timeout,
                                 systemd_done_t done, void *userdata, SystemdCall **ret);

/* Reads a unit's state (result->unit). A unit systemd does not know is read as LoadState
 * "not-found", not as an error. */
int systemd_unit_state(SystemdClient *c, const char *unit, systemd_done_t done, void *userdata, SystemdCall **ret);

/* A Manager method; the arguments are appended by the caller to the message made here. */
int systemd_new_manager_call(SystemdClient *c, const char *method, sd_bus_message **ret);
/* Any method call to systemd, e.g. a Properties.Get. */
int systemd_call(SystemdClient *c, sd_bus_message *m, systemd_done_t done, void *userdata, SystemdCall **ret);

/* Called with the userdata when the call is freed, whether it ended or was cancelled. */
void systemd_call_set_destroy(SystemdCall *call, void (*destroy)(void *userdata));
/* Cancels a call that has not ended (see systemd_job() for what that leaves in systemd). From
 * the call's own callback it does nothing: the client frees the call right after. */
SystemdCall *systemd_call_free(SystemdCall *call);
DEFINE_TRIVIAL_CLEANUP_FUNC(SystemdCall *, systemd_call_free);

/* The manager's object path of a unit (as systemd makes it: the name, bus-label escaped). */
int systemd_unit_path(const char *unit, char **ret);

/* ---- the pure parts, for the client and its tests ---- */

/* The errno of a job result, as documented at SystemdResult. */
int systemd_job_result_to_errno(const char *result);

/* Judges a job of that type on unit that ended with job_result, against the unit's state read
 * after its end (NULL if it could not be read). Returns 0 if the job did what it was for, else
 * the errno documented at SystemdResult with *ret_message saying why.
 *
 * After a start or restart that ended "done", the unit must be active (or reloading). Also
 * accepted: inactive with Result "success" and its conditions met, which is how a Type=oneshot
 * service without RemainAfterExit= ends a successful start. Not accepted: a failed Condition*=
 * (systemd ends such a start "done" although nothing ran), failed, deactivating, and
 * activating (after a finished start job that is an auto-restart: the service failed and
 * Restart= tries again). After a stop that ended "done", the unit must be inactive or failed
 * with no job queued for it; anything else means something starts it again (a dependency, a
 * socket, a timer, Upholds=). */
int systemd_job_judge(SystemdJobType type, const char *unit, const char *job_result, const SystemdUnitState *state,
                      char **ret_message);
