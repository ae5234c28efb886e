/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Asynchronous checks of a method call, after systemd's bus-polkit.c: polkit's authorization,
 * systemd's verdict on a calendar, and whatever else a handler must wait for before it acts.
 * A handler asks through a checker (polkit_check(), calendar_check_message()), which calls
 * async_check():
 *   > 0     yes;
 *   < 0     no (or the check failed), error says why;
 *   0       the question went out: the handler returns 1 and does nothing else. When the answer
 *           is in, the message is queued again and the handler runs anew from the top.
 * Every verdict on a message is kept until the handler has run again, so that a handler that
 * chains checks (polkit, then a calendar) gets the first verdict again without asking again;
 * then all of them are freed (when the next message comes in, or the loop goes idle), also
 * when the re-run returned before it reached its checks. A re-run that asks a different
 * question (what it asks about changed meanwhile) has that one asked anew: an answer is never
 * taken for another question.
 *
 * Pending checks are bounded: each polkit check holds one of the pending replies dbus-daemon
 * allows the agent's connection (128). A caller other than root is refused at once with
 * TooManyRequests when its user has ASYNC_CHECKS_PER_USER_MAX checks pending, or the agent
 * ASYNC_CHECKS_MAX.
 */

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "macro.h"

#define ASYNC_CHECKS_MAX 64U
#define ASYNC_CHECKS_PER_USER_MAX 16U

typedef struct AsyncChecks AsyncChecks;
typedef struct AsyncCheck AsyncCheck;

/* The registry of one bus connection, owned by the Manager. */
int async_checks_new(sd_bus *bus, AsyncChecks **ret);
AsyncChecks *async_checks_free(AsyncChecks *checks);
DEFINE_TRIVIAL_CLEANUP_FUNC(AsyncChecks *, async_checks_free);

/* No check pending, no verdict kept: every query has been freed. */
bool async_checks_is_empty(AsyncChecks *checks);

/* The effective uid of m's sender, asked of the bus once per message. */
int async_check_sender_uid(AsyncChecks *checks, sd_bus_message *m, uid_t *ret);

/* Starts the check of question for c: it keeps what it needs with async_check_hold() and calls
 * async_check_done() when it knows. < 0 (error set): it could not start. */
typedef int (*async_check_start_t)(AsyncCheck *c, void *userdata, sd_bus_error *error);

/* question: what is asked, in full ("polkit ACTION DETAILS...", "calendar EXPR"); uid: the
 * sender's (async_check_sender_uid()), for the bounds. */
int async_check(AsyncChecks *checks, sd_bus_message *m, const char *question, uid_t uid, async_check_start_t start,
                void *userdata, sd_bus_error *error);

/* data lives while the check is pending, and is freed with free_data when it ends or is
 * dropped (the agent stops). */
void async_check_hold(AsyncCheck *c, void *data, void (*free_data)(void *));

/* The answer: verdict >= 0 yes, < 0 no with error saying why. Frees what c held, and queues the
 * message again. */
void async_check_done(AsyncCheck *c, int verdict, const sd_bus_error *error);
