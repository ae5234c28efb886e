/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Waiting on the agent, for every verb that waits: following one of its long operations (a
 * backup, a restore) until it ends, with a progress line on a terminal and a line for each step
 * it reaches, and waiting for the Manager to change (its State, RunningBackup). Both run the bus
 * connection's event loop, in which Ctrl-C ends the waiting, never the operation, which goes on
 * in the agent. An agent that stops meanwhile is waited for: once it is back (systemd restarts
 * it; a restore it was running is finished first), the operation is read anew.
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
        /* The step it is at (a restore's phase), as a number that only grows from one step to
         * the next, or -1 for none. Each step reached gets its lines, once: stage_lines()
         * prints those of the steps after shown (-1 at first) up to the current one, the
         * steps it can tell were passed unseen included (the first one may be over before the
         * waiter could ask). Both optional. */
        int (*stage)(const void *info);
        void (*stage_lines)(const void *info, int shown, FILE *f);
} WaitKind;

typedef struct Waiter {
        sd_bus *bus;
        sd_event *event;
        const WaitKind *kind;
        bool tty;      /* progress on stderr */
        FILE *stages;  /* where the kind's stage lines go; NULL: nowhere */
        bool detached; /* Ctrl-C: the waiting is over, for good */

        sd_bus_slot *finished_slot;
        sd_bus_slot *manager_slot;
        sd_bus_slot *owner_slot;
        bool manager_changed;

        /* While waiter_follow() runs. */
        const char *path;
        void *info;
        int stage_shown;
        int lost; /* the agent came back without the operation: why */
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
 * terminal and the stage lines on w->stages. 0 once it ended; -ECANCELED on Ctrl-C; -ETIME if
 * deadline (CLOCK_MONOTONIC, USEC_INFINITY for none) came first; the error, said on stderr, if
 * the agent restarted and cannot show it any more (a backup it interrupted). */
int waiter_follow(Waiter *w, const char *path, void *info, usec_t deadline);

/* From now on, notes each PropertiesChanged of the Manager (State, RunningBackup, ...), and a
 * restart of the agent: call it before the call whose answer makes you wait for one. */
int waiter_watch_manager(Waiter *w);
/* Returns 1 at once if the Manager changed since the last call, else waits for a change (1),
 * for timeout (0), or for Ctrl-C (-ECANCELED). */
int waiter_wait_manager(Waiter *w, usec_t timeout);
