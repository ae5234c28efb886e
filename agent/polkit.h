/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Asking polkit whether the sender of a method call may do something, without blocking the
 * loop. The handler calls polkit_check() before it changes anything:
 *   r > 0   allowed (root always is; nobody is asked);
 *   r == 0  a query went out: return 1 and do nothing else. When polkit answers, the message is
 *           queued again and the handler runs anew, getting its answer from the same call;
 *   r < 0   refused or failed; error says which (AccessDenied, InteractiveAuthorizationRequired).
 * The action and its details must be the same on both runs. Pending queries live in a
 * registry (a PolkitQuery list head) owned by the Manager.
 */

#include <stdbool.h>
#include <systemd/sd-bus.h>

typedef struct PolkitQuery PolkitQuery;

/* details: "key", "value", ..., NULL; shown by polkit agents and visible to rules. */
int polkit_check(sd_bus_message *m, const char *action, const char * const *details, PolkitQuery **registry,
                 sd_bus_error *error);

void polkit_registry_free(PolkitQuery **registry);
bool polkit_registry_is_empty(PolkitQuery * const *registry);
