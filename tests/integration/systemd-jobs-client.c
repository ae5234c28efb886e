/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A client of agent/systemd-jobs.c for test-systemd-jobs.sh: makes every operation given on the
 * command line at once, on one SystemdClient, and prints one line per operation as it ends:
 *
 *   INDEX OP UNIT error=ERRNO name=DBUS-ERROR job=RESULT active=STATE sub=SUBSTATE result=RESULT
 *         status=EXECMAINSTATUS message=TEXT
 *
 * (fields without a value print "-", the message comes last). Operations:
 *   start:UNIT[:TIMEOUT_MS]  stop:UNIT[:TIMEOUT_MS]  restart:UNIT[:TIMEOUT_MS]
 *   state:UNIT                         read the unit's state
 *   transient:UNIT:SHELL-COMMAND       run the command as a Type=oneshot transient service
 *   version:N                          N plain calls (the Manager's Version property)
 * Exits 0 once every operation has ended, 1 if some had not after --limit seconds (default
 * 30; those are listed as "pending INDEX"), 2 on a usage or setup error.
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-names.h"
#include "string-util.h"
#include "systemd-jobs.h"

typedef struct Op {
        unsigned index;
        char *kind;    /* start, stop, restart, state, transient, version */
        char *unit;    /* for version: the call's number */
        char *command; /* for transient */
        usec_t timeout;
        bool ended;
} Op;

static sd_event *event;
static unsigned pending;

static void print_result(const Op *op, const SystemdResult *r) {
        const SystemdUnitState *s = r->unit;
        char status[16] = "-";

        if (s && s->exec_main_code != 0)
                (void) snprintf(status, sizeof(status), "%" PRIi32, s->exec_main_status);
        printf("%u %s %s error=%s name=%s job=%s active=%s sub=%s result=%s status=%s message=%s\n", op->index,
               op->kind, op->unit, r->error < 0 ? strerrorname_np(-r->error) : "0", r->error_name ?: "-",
               r->job_result ?: "-", s && s->active_state ? s->active_state : "-",
               s && s->sub_state ? s->sub_state : "-", s && s->result ? s->result : "-", status, r->message ?: "-");
        fflush(stdout);
}

static void on_done(SystemdCall *call, const SystemdResult *result, void *userdata) {
        Op *op = userdata;

        print_result(op, result);
        op->ended = true;
        if (--pending == 0)
                (void) sd_event_exit(event, 0);
}

/* KIND:UNIT[:MORE] into ops (version:N into N of them); returns how many, or -EINVAL. */
static int op_parse(const char *arg, unsigned index, Op *ops) {
        _cleanup_free_ char *copy = strdup(arg);
        char *kind = copy, *unit, *more;
        uint64_t ms;
        unsigned n;

        if (!copy || !(unit = strchr(copy, ':')))
                return -EINVAL;
        *unit++ = 0;
        more = strchr(unit, ':');
        if (more)
                *more++ = 0;
        if (streq(kind, "version")) {
                if (safe_atou(unit, &n) < 0 || n == 0)
                        return -EINVAL;
                for (unsigned i = 0; i < n; i++) {
                        ops[i] = (Op) { .index = index + i, .kind = strdup(kind) };
                        if (!ops[i].kind || asprintf(&ops[i].unit, "%u", i) < 0)
                                return -ENOMEM;
                }
                return (int) n;
        }
        ops[0] = (Op) { .index = index, .kind = strdup(kind), .unit = strdup(unit), .timeout = USEC_INFINITY };
        if (!ops[0].kind || !ops[0].unit)
                return -ENOMEM;
        if (streq(kind, "transient")) {
                if (!more || !(ops[0].command = strdup(more)))
                        return -EINVAL;
        } else if (more) {
                if (safe_atou64(more, &ms) < 0)
                        return -EINVAL;
                ops[0].timeout = ms * USEC_PER_MSEC;
        }
        return 1;
}

static int op_start(SystemdClient *c, Op *op) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        if (streq(op->kind, "version")) {
                r = sd_bus_message_new_method_call(systemd_client_bus(c), &m, SYSTEMD_SERVICE, SYSTEMD_PATH,
                                                   DBUS_PROPERTIES_INTERFACE, "Get");
                if (r >= 0)
                        r = sd_bus_message_append(m, "ss", SYSTEMD_MANAGER_INTERFACE, "Version");
                return r < 0 ? r : systemd_call(c, m, on_done, op, NULL);
        }
        if (streq(op->kind, "transient")) {
                r = systemd_new_transient_unit(c, op->unit, &m);
                if (r >= 0)
                        r = sd_bus_message_append(m, "(sv)(sv)", "Type", "s", "oneshot", "ExecStart", "a(sasb)", 1,
                                                  "/bin/sh", 3, "/bin/sh", "-c", op->command, false);
                return r < 0 ? r : systemd_start_transient_unit(c, op->unit, m, op->timeout, on_done, op, NULL);
        }
        if (streq(op->kind, "state"))
                return systemd_unit_state(c, op->unit, on_done, op, NULL);
        for (SystemdJobType t = 0; t < _SYSTEMD_JOB_TYPE_MAX; t++)
                if (streq(op->kind, systemd_job_type_to_string(t)))
                        return systemd_job(c, t, op->unit, op->timeout, on_done, op, NULL);
        return -EINVAL;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "user", no_argument, NULL, 'u' },
                { "limit", required_argument, NULL, 'l' },
                {},
        };
        SystemdClient *c = NULL;
        SystemdScope scope = SCOPE_SYSTEM;
        unsigned limit = 30, n_ops = 0;
        Op ops[4096] = {};
        int opt, r = 0;

        while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (opt) {
                case 'u':
                        scope = SCOPE_USER;
                        break;
                case 'l':
                        if (safe_atou(optarg, &limit) < 0)
                                return 2;
                        break;
                default:
                        return 2;
                }
        for (int i = optind; i < argc && r >= 0; i++) {
                r = n_ops + 1024 <= ELEMENTSOF(ops) ? op_parse(argv[i], n_ops, ops + n_ops) : -E2BIG;
                if (r > 0)
                        n_ops += (unsigned) r;
        }
        if (r < 0 || n_ops == 0) {
                fprintf(stderr, "usage: %s [--user] [--limit=SEC] OP...\n", argv[0]);
                r = 2;
                goto finish;
        }

        /* The limit's source has no callback: the loop exits with its userdata, 1. */
        if (sd_event_default(&event) < 0 || systemd_client_new(event, scope, &c) < 0 ||
            sd_event_add_time_relative(event, NULL, CLOCK_MONOTONIC, limit * USEC_PER_SEC, 0, NULL, (void *) 1) < 0) {
                fprintf(stderr, "cannot connect to the service manager\n");
                r = 2;
                goto finish;
        }
        for (unsigned i = 0; i < n_ops; i++) {
                r = op_start(c, &ops[i]);
                if (r < 0) {
                        fprintf(stderr, "cannot start operation %u: %s\n", i, strerror(-r));
                        r = 2;
                        goto finish;
                }
                pending++;
        }

        (void) sd_event_loop(event);
        for (unsigned i = 0; i < n_ops; i++)
                if (!ops[i].ended)
                        printf("pending %u\n", ops[i].index);
        r = pending > 0;
finish:
        systemd_client_free(c);
        sd_event_unref(event);
        for (unsigned i = 0; i < n_ops; i++) {
                free(ops[i].kind);
                free(ops[i].unit);
                free(ops[i].command);
        }
        return r;
}
