/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A restore's phases (INTERFACE.md, "Restores"), named once for the daemon and the CLI. They
 * are listed in the order a restore passes them: its phase only ever moves to a later one in
 * this list (verifying .. completed; a failure once something was stopped goes on to
 * rolling-back, then rolled-back or failed; one before goes to failed), which lets the CLI tell
 * a phase it was told late from one it missed. Non-logging.
 */

#include <errno.h>
#include <stdbool.h>

typedef enum RestorePhase {
        RESTORE_VERIFYING,
        RESTORE_STAGING,
        RESTORE_STOPPING,
        RESTORE_SWAPPING,
        RESTORE_STARTING_ETCD,
        RESTORE_STARTING_CONTROL_PLANE,
        RESTORE_COMPLETED,
        RESTORE_ROLLING_BACK,
        RESTORE_ROLLED_BACK,
        RESTORE_FAILED,
        _RESTORE_PHASE_MAX,
        _RESTORE_PHASE_INVALID = -EINVAL,
} RestorePhase;

const char *restore_phase_to_string(RestorePhase p);
RestorePhase restore_phase_from_string(const char *s);
/* completed, rolled-back, failed. */
bool restore_phase_is_final(RestorePhase p);
