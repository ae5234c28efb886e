/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The one way the agent runs a child process (systemd-analyze now; etcdutl for a restore),
 * without ever waiting for it: spawn_start() returns at once, the event loop drains the
 * child's output while it runs and watches its exit, and one callback says how it ended.
 *
 * The child starts clean whatever the agent's threads have blocked or ignored: an empty signal
 * mask, default dispositions, stdin from /dev/null, its own process group (so that a timeout
 * reaches whatever it started too). Output is kept up to a bound: the first and the last half
 * of SpawnOptions.output_max bytes, with a marker line between them when something was left
 * out. A timeout sends SIGTERM to the group, then SIGKILL after a grace period. Freeing a
 * spawn whose child still runs kills the group and reaps the child. Non-logging. (Not named
 * spawn.h: that is the POSIX header's name, and agent/ comes first in the include path.)
 */

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "macro.h"

#define SPAWN_OUTPUT_MAX_DEFAULT (64U * 1024U)
#define SPAWN_KILL_GRACE_DEFAULT (5 * USEC_PER_SEC)

typedef struct Spawn Spawn;

typedef struct SpawnOptions {
        char * const *argv;    /* argv[0] is looked up in PATH */
        char * const *env;     /* "KEY=VALUE" added to the agent's environment (replacing KEY), or NULL */
        const char *directory; /* the child's working directory; NULL: the agent's */
        usec_t timeout;        /* 0: none */
        usec_t kill_grace;     /* SIGTERM to SIGKILL; 0: SPAWN_KILL_GRACE_DEFAULT */
        size_t output_max;     /* bytes kept of each stream; 0: SPAWN_OUTPUT_MAX_DEFAULT */
        bool stderr_separate;  /* stderr kept apart (SpawnResult.error), not mixed into output */
} SpawnOptions;

typedef struct SpawnOutput {
        char *data; /* NUL-terminated; never NULL in a result */
        size_t size;
        uint64_t total; /* bytes the child wrote */
        bool truncated; /* total > what was kept: data is head, marker line, tail */
} SpawnOutput;

typedef struct SpawnResult {
        int code;       /* CLD_EXITED, CLD_KILLED or CLD_DUMPED */
        int status;     /* the exit status, or the signal */
        bool timed_out; /* the timeout fired and SIGTERM (then SIGKILL) went out */
        SpawnOutput output;
        SpawnOutput error; /* with stderr_separate; empty otherwise */
} SpawnResult;

/* Called once, when the child has exited and been reaped; result lives until spawn_free(). */
typedef void (*spawn_done_t)(Spawn *s, const SpawnResult *result, void *userdata);

/* SIGCHLD must be blocked (sd_event_add_child() needs it). Errors: those of posix_spawnp()
 * (-ENOENT no such program, ...), or of the event loop. */
int spawn_start(sd_event *e, const SpawnOptions *o, spawn_done_t done, void *userdata, Spawn **ret);
Spawn *spawn_free(Spawn *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Spawn *, spawn_free);

/* "exited with status 3", "killed by SIGTERM after the timeout", ...: for messages. */
const char *spawn_result_describe(const SpawnResult *r, char *buf, size_t size);
