/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>

/* For non-root users on a terminal, a text polkit agent (pkttyagent) answers the agent's
 * interactive authorization requests, as systemctl does. Returns its pid, or 0 when none is
 * needed or none could be started (the call then fails with a hint instead). */
pid_t polkit_agent_open(void);
/* Stops it; 0 is no agent. */
void polkit_agent_close(pid_t pid);
