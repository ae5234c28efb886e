/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Driving a systemd service manager (the system's, or the user's) over its D-Bus API without
 * ever waiting for it: unit jobs (StartUnit, StopUnit, RestartUnit) followed to their end
 * through JobRemoved, and plain calls (Reload, EnableUnitFiles, ...) answered by their reply.
 * Every operation ends in one callback, after which the client frees it; freeing one that has
 * not ended (or the client) cancels it, and its callback never runs.
 */

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "agent-config.h"

#define SYSTEMD_SERVICE "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER_INTERFACE "org.freedesktop.systemd1.Manager"
#define SYSTEMD_TIMER_INTERFACE "org.freedesktop.systemd1.Timer"

typedef struct SystemdClient SystemdClient;
typedef struct SystemdCall SystemdCall;

/* r is 0 on success; for a job the mapping of systemctl's: "done" and "skipped" are success,
 * "canceled" -ECANCELED, "timeout" -ETIME, "dependency" and "failed" -EIO, "unsupported"
 * -EOPNOTSUPP. message is systemd's error message, or a sentence with the job's result. The
 * reply, for a plain call that returns something, is passed along (NULL for jobs and failures). */
typedef void (*systemd_done_t)(SystemdCall *call, int r, const char *message, sd_bus_message *reply, void *userdata);

/* For SCOPE_SYSTEM the given system bus connection is used, for SCOPE_USER a connection to the
 * user's bus is made and attached to e. */
int systemd_client_new(sd_event *e, SystemdScope scope, sd_bus *system_bus, SystemdClient **ret);
SystemdClient *systemd_client_free(SystemdClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(SystemdClient *, systemd_client_free);
sd_bus *systemd_client_bus(SystemdClient *c);
SystemdScope systemd_client_scope(SystemdClient *c);

/* method is "StartUnit", "StopUnit" or "RestartUnit"; the job mode is "replace". ret may be
 * NULL for a caller that never cancels. */
int systemd_job(SystemdClient *c, const char *method, const char *unit, systemd_done_t done, void *userdata,
                SystemdCall **ret);

/* A Manager method; the arguments are appended by the caller to the message made here. */
int systemd_new_manager_call(SystemdClient *c, const char *method, sd_bus_message **ret);
/* Any method call to systemd, e.g. a Properties.Get. */
int systemd_call(SystemdClient *c, sd_bus_message *m, systemd_done_t done, void *userdata, SystemdCall **ret);

/* Called with the userdata when the call is freed, whether it ended or was cancelled. */
void systemd_call_set_destroy(SystemdCall *call, void (*destroy)(void *userdata));
SystemdCall *systemd_call_free(SystemdCall *call);
DEFINE_TRIVIAL_CLEANUP_FUNC(SystemdCall *, systemd_call_free);

/* The manager's object path of a unit (as systemd makes it: the name, bus-label escaped). */
int systemd_unit_path(const char *unit, char **ret);
