/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A restore's phases by name. */

#include "macro.h"
#include "restore-phase.h"

static const char * const phase_table[_RESTORE_PHASE_MAX] = {
        [RESTORE_VERIFYING] = "verifying",
        [RESTORE_STAGING] = "staging",
        [RESTORE_STOPPING] = "stopping",
        [RESTORE_SWAPPING] = "swapping",
        [RESTORE_STARTING_ETCD] = "starting-etcd",
        [RESTORE_STARTING_CONTROL_PLANE] = "starting-control-plane",
        [RESTORE_COMPLETED] = "completed",
        [RESTORE_ROLLING_BACK] = "rolling-back",
        [RESTORE_ROLLED_BACK] = "rolled-back",
        [RESTORE_FAILED] = "failed",
};

const char *restore_phase_to_string(RestorePhase p) {
        return p >= 0 && p < _RESTORE_PHASE_MAX ? phase_table[p] : NULL;
}

RestorePhase restore_phase_from_string(const char *s) {
        for (size_t i = 0; s && i < ELEMENTSOF(phase_table); i++)
                if (streq(phase_table[i], s))
                        return (RestorePhase) i;
        return _RESTORE_PHASE_INVALID;
}

bool restore_phase_is_final(RestorePhase p) {
        return IN_SET(p, RESTORE_COMPLETED, RESTORE_ROLLED_BACK, RESTORE_FAILED);
}
