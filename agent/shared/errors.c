/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The named errors, in two maps registered together. Failures of operations (a backup, a
 * verification) are named from their errno through the first map, first match winning; the
 * etcd client and the backup file code return an errno of their own for each kind of failure
 * (-EHOSTUNREACH etcd cannot be reached, -EKEYREJECTED it refused our credentials, -EPROTO it
 * answered nonsense, -EBADMSG a backup does not check out, -EEXIST its id is taken, -ENOEXEC a
 * file agent.conf names cannot be used). Refusals of a request are set by
 * name where they arise and only get an errno for clients: an ENOENT from open() is not a
 * missing configuration.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

#include "errors.h"
#include "macro.h"

static const sd_bus_error_map operation_errors[] = {
        SD_BUS_ERROR_MAP(AGENT_ERROR_BUSY, EBUSY),
        SD_BUS_ERROR_MAP(AGENT_ERROR_ETCD_UNAVAILABLE, EHOSTUNREACH),
        SD_BUS_ERROR_MAP(AGENT_ERROR_ETCD_UNAVAILABLE, ECONNREFUSED),
        SD_BUS_ERROR_MAP(AGENT_ERROR_ETCD_ACCESS_DENIED, EKEYREJECTED),
        SD_BUS_ERROR_MAP(AGENT_ERROR_ETCD_PROTOCOL, EPROTO),
        SD_BUS_ERROR_MAP(AGENT_ERROR_ETCD_PROTOCOL, EOPNOTSUPP),
        SD_BUS_ERROR_MAP(AGENT_ERROR_TIMEOUT, ETIMEDOUT),
        SD_BUS_ERROR_MAP(AGENT_ERROR_NO_SPACE, ENOSPC),
        SD_BUS_ERROR_MAP(AGENT_ERROR_NO_SPACE, EDQUOT),
        SD_BUS_ERROR_MAP(AGENT_ERROR_BACKUP_CORRUPT, EBADMSG),
        /* Two files claiming one backup id: an import of one that is here already. */
        SD_BUS_ERROR_MAP(AGENT_ERROR_BACKUP_EXISTS, EEXIST),
        SD_BUS_ERROR_MAP(AGENT_ERROR_CANCELLED, ECANCELED),
        /* A rejoin pointed at a cluster this node must not join. */
        SD_BUS_ERROR_MAP(AGENT_ERROR_WRONG_CLUSTER, EXDEV),
        SD_BUS_ERROR_MAP(AGENT_ERROR_IO, EIO),
        SD_BUS_ERROR_MAP(AGENT_ERROR_BAD_AGENT_CONFIG, ENOEXEC),
        SD_BUS_ERROR_MAP_END,
};

static const sd_bus_error_map request_errors[] = {
        SD_BUS_ERROR_MAP(AGENT_ERROR_NO_SUCH_BACKUP, ENXIO),
        SD_BUS_ERROR_MAP(AGENT_ERROR_NO_SUCH_CONFIG, ENOENT),
        SD_BUS_ERROR_MAP(AGENT_ERROR_INVALID_NAME, EINVAL),
        SD_BUS_ERROR_MAP(AGENT_ERROR_INVALID_SCHEDULE, EINVAL),
        SD_BUS_ERROR_MAP(AGENT_ERROR_INVALID_RETENTION, ERANGE),
        SD_BUS_ERROR_MAP(AGENT_ERROR_CONFIG_EXISTS, EEXIST),
        SD_BUS_ERROR_MAP(AGENT_ERROR_DEFAULT_CONFIG, EPERM),
        SD_BUS_ERROR_MAP(AGENT_ERROR_TIMER_FAILED, EREMOTEIO),
        SD_BUS_ERROR_MAP(AGENT_ERROR_TOO_MANY_CONFIGS, ETOOMANYREFS),
        SD_BUS_ERROR_MAP(AGENT_ERROR_NOT_RUNNING, ESRCH),
        SD_BUS_ERROR_MAP(AGENT_ERROR_TOO_MANY_REQUESTS, EAGAIN),
        SD_BUS_ERROR_MAP(AGENT_ERROR_FAILED, EIO),
        SD_BUS_ERROR_MAP_END,
};

int agent_errors_register(void) {
        int r;

        r = sd_bus_error_add_map(operation_errors);
        if (r < 0)
                return r;
        return sd_bus_error_add_map(request_errors);
}

const char *agent_error_from_errno(int error) {
        for (const sd_bus_error_map *m = operation_errors; m->name; m++)
                if (m->code == abs(error))
                        return m->name;
        return AGENT_ERROR_FAILED;
}

int agent_error_set(sd_bus_error *e, int error, const char *message) {
        return sd_bus_error_set(e, agent_error_from_errno(error), message);
}

int agent_error_setf(sd_bus_error *e, int error, const char *format, ...) {
        va_list ap;
        int r;

        errno = abs(error); /* for %m */
        va_start(ap, format);
        r = sd_bus_error_setfv(e, agent_error_from_errno(error), format, ap);
        va_end(ap);
        /* The errno the caller gave, not the one sd-bus derives from the name. */
        return r < 0 ? -abs(error) : r;
}
