/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Asking polkit whether the sender of a method call may do something, without blocking the
 * loop. The handler calls polkit_check() before it changes anything:
 *   r > 0   allowed (root always is; nobody is asked);
 *   r == 0  a query went out: return 1 and do nothing else. When polkit answers, the message is
 *           queued again and the handler runs anew, getting its answer from the same call;
 *   r < 0   refused or failed; error says which (AccessDenied, InteractiveAuthorizationRequired,
 *           TooManyRequests when the caller has too many checks pending: async-check.h).
 * Polkit is asked once per message and question: a handler that goes on to a second check
 * (a calendar) and runs a third time gets the same answer again.
 */

#include <systemd/sd-bus.h>

#include "async-check.h"

/* details: "key", "value", ..., NULL; shown by polkit agents and visible to rules. */
int polkit_check(sd_bus_message *m, const char *action, const char * const *details, AsyncChecks *checks,
                 sd_bus_error *error);
