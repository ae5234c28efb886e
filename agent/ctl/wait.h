/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Waiting on the agent, for every verb that waits: following one of its long operations (a
 * backup; a restore, an import) until it ends, with a progress line on a terminal, and waiting
 * for the Manager to change (its State, RunningBackup). Both run the bus connection's event loop,
 * in which Ctrl-C ends the waiting, never the operation, which goes on in the agent.
 */

#include <stdbool.h>
#include <stdio.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus.h"
#include "macro.h"

/* What a kind of operation looks like to a waiter. */
typedef struct WaitKind {
        const char *interface; /* of its objects */
        const PropertyMap *map; /* into the caller's info struct */
        /* The Manager's signal at its end, (s id, o path, s result), and the property of type
         * 's' whose final value that result is. */
        const char *finished_signal;
        const char *result_property;
        /* Whether info shows it ended. */
        bool (*is_done)(const void *info);
        /* Its progress line (no newline) into buf, true if there is one now. Optional. */
        bool (*progress)(const void *info, char *buf, size_t size);
} WaitKind;

typedef struct Waiter {
        sd_bus *bus;
        sd_event *event;
        const WaitKind *kind;
        bool tty;      /* progress on stderr */
        bool detached; /* Ctrl-C: the waiting is over, for good */

        sd_bus_slot *finished_slot;
        sd_bus_slot *manager_slot;
        bool manager_changed;

        /* While waiter_follow() runs. */
        const char *path;
        void *info;
        bool done;
        bool drawn;
        bool timed_out;
} Waiter;

/* Attaches bus to the default event loop, makes Ctrl-C end the waiting, and subscribes to the
 * kind's finished signal. Call it before the call that starts the operation, so that not even
 * an instant end slips by. */
int waiter_init(Waiter *w, sd_bus *bus, const WaitKind *kind, bool tty);
void waiter_done(Waiter *w);

/* Follows the operation at path until it ends: its properties into info (zeroed or reused by
 * the caller, freed by the caller) once, then every change, with the progress line on a
 * terminal. 0 once it ended; -ECANCELED on Ctrl-C; -ETIME if deadline (CLOCK_MONOTONIC,
 * USEC_INFINITY for none) came first. */
int waiter_follow(Waiter *w, const char *path, void *info, usec_t deadline);

/* From now on, notes each PropertiesChanged of the Manager (State, RunningBackup, ...): call it
 * before the call whose answer makes you wait for one. */
int waiter_watch_manager(Waiter *w);
/* Returns 1 at once if the Manager changed since the last call, else waits for a change (1),
 * for timeout (0), or for Ctrl-C (-ECANCELED). */
int waiter_wait_manager(Waiter *w, usec_t timeout);
