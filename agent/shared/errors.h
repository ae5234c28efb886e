/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The agent's named D-Bus errors, in one place shared by the daemon and the CLI. Registered
 * with sd_bus_error_add_map(), each name also carries an errno, so that a client gets a
 * meaningful negative errno back and can still branch on the name.
 */

#include <systemd/sd-bus.h>

#include "bus-names.h"

#define AGENT_ERROR(name) AGENT_ERROR_PREFIX name

#define AGENT_ERROR_NO_SUCH_BACKUP AGENT_ERROR("NoSuchBackup")
#define AGENT_ERROR_NO_SUCH_CONFIG AGENT_ERROR("NoSuchConfig")
#define AGENT_ERROR_INVALID_NAME AGENT_ERROR("InvalidName")
#define AGENT_ERROR_INVALID_SCHEDULE AGENT_ERROR("InvalidSchedule")
#define AGENT_ERROR_INVALID_RETENTION AGENT_ERROR("InvalidRetention")
#define AGENT_ERROR_CONFIG_EXISTS AGENT_ERROR("ConfigExists")
#define AGENT_ERROR_DEFAULT_CONFIG AGENT_ERROR("DefaultConfig")
#define AGENT_ERROR_TIMER_FAILED AGENT_ERROR("TimerFailed")
#define AGENT_ERROR_TOO_MANY_CONFIGS AGENT_ERROR("TooManyConfigs")
#define AGENT_ERROR_BUSY AGENT_ERROR("Busy")
#define AGENT_ERROR_TOO_MANY_REQUESTS AGENT_ERROR("TooManyRequests")
#define AGENT_ERROR_NOT_RUNNING AGENT_ERROR("NotRunning")
#define AGENT_ERROR_ETCD_UNAVAILABLE AGENT_ERROR("EtcdUnavailable")
#define AGENT_ERROR_ETCD_ACCESS_DENIED AGENT_ERROR("EtcdAccessDenied")
#define AGENT_ERROR_ETCD_PROTOCOL AGENT_ERROR("EtcdProtocolError")
#define AGENT_ERROR_TIMEOUT AGENT_ERROR("Timeout")
#define AGENT_ERROR_NO_SPACE AGENT_ERROR("NoSpace")
#define AGENT_ERROR_BACKUP_CORRUPT AGENT_ERROR("BackupCorrupt")
#define AGENT_ERROR_BACKUP_EXISTS AGENT_ERROR("BackupExists")
#define AGENT_ERROR_CANCELLED AGENT_ERROR("Cancelled")
#define AGENT_ERROR_BAD_AGENT_CONFIG AGENT_ERROR("BadAgentConfig")
#define AGENT_ERROR_IO AGENT_ERROR("IOError")
/* Restores (the Restore object's ErrorName, and refusals of Restore() and Cancel()). */
#define AGENT_ERROR_RESTORE_TOOL AGENT_ERROR("RestoreToolFailed")
#define AGENT_ERROR_RESTORE_HELPER AGENT_ERROR("RestoreHelperFailed")
#define AGENT_ERROR_UNIT_FAILED AGENT_ERROR("UnitFailed")
#define AGENT_ERROR_ETCD_UNHEALTHY AGENT_ERROR("EtcdUnhealthy")
#define AGENT_ERROR_ROLLBACK_FAILED AGENT_ERROR("RollbackFailed")
#define AGENT_ERROR_INTERRUPTED AGENT_ERROR("Interrupted")
#define AGENT_ERROR_NOT_CANCELLABLE AGENT_ERROR("NotCancellable")
#define AGENT_ERROR_NO_SUCH_RESTORE AGENT_ERROR("NoSuchRestore")
#define AGENT_ERROR_WRONG_CLUSTER AGENT_ERROR("WrongCluster")
#define AGENT_ERROR_FAILED AGENT_ERROR("Failed")

/* Registers the table with sd-bus; call once before the first bus call. */
int agent_errors_register(void);

/* The name a failed operation reports for a negative errno (EtcdUnavailable for
 * -EHOSTUNREACH, ...); Failed for anything unforeseen. */
const char *agent_error_from_errno(int error);

/* Sets e to the name for error with message, and returns the negative errno. The agent's own
 * failures (a file it cannot write) are named this way, never with the generic errno names:
 * EACCES would become AccessDenied, which tells callers that they lack a permission. */
int agent_error_set(sd_bus_error *e, int error, const char *message);
/* The same with a format, in which %m is error's text. */
int agent_error_setf(sd_bus_error *e, int error, const char *format, ...) __attribute__((format(printf, 3, 4)));
