/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-flood CONNECTIONS CALLS CONFIG: what a hostile local user can do cheaply, for the
 * integration tests. Opens CONNECTIONS connections to the system bus and sends CALLS
 * StartBackup(CONFIG) calls on each, all outstanding at once; prints "sent" when they are out,
 * then, once each has its answer, one line per outcome: how many, and "ok" or the error name.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-names.h"

#define OUTCOMES_MAX 16

static struct {
        char name[128];
        unsigned n;
} outcomes[OUTCOMES_MAX];
static unsigned pending;

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *name = sd_bus_message_is_method_error(m, NULL) ? sd_bus_message_get_error(m)->name : "ok";

        for (unsigned i = 0; i < OUTCOMES_MAX; i++)
                if (!outcomes[i].name[0] || strcmp(outcomes[i].name, name) == 0) {
                        snprintf(outcomes[i].name, sizeof(outcomes[i].name), "%s", name);
                        outcomes[i].n++;
                        break;
                }
        if (--pending == 0)
                sd_event_exit(sd_bus_get_event(sd_bus_message_get_bus(m)), 0);
        return 0;
}

int main(int argc, char *argv[]) {
        sd_bus **buses;
        sd_event *e = NULL;
        unsigned connections, calls;

        if (argc != 4 || (connections = (unsigned) atoi(argv[1])) == 0 || (calls = (unsigned) atoi(argv[2])) == 0) {
                fprintf(stderr, "usage: %s CONNECTIONS CALLS CONFIG\n", argv[0]);
                return 2;
        }
        buses = calloc(connections, sizeof(sd_bus *));
        if (!buses || sd_event_default(&e) < 0)
                return 1;
        for (unsigned c = 0; c < connections; c++) {
                sd_bus *bus;

                if (sd_bus_open_system(&buses[c]) < 0 || sd_bus_attach_event(buses[c], e, 0) < 0)
                        return 1;
                bus = buses[c];
                for (unsigned i = 0; i < calls; i++) {
                        sd_bus_message *m = NULL;

                        if (sd_bus_message_new_method_call(bus, &m, AGENT_BUS_NAME, AGENT_OBJECT_PATH,
                                                           AGENT_MANAGER_INTERFACE, "StartBackup") < 0 ||
                            sd_bus_message_append(m, "s", argv[3]) < 0 ||
                            sd_bus_call_async(bus, NULL, m, on_reply, NULL, 120 * 1000000ULL) < 0)
                                return 1;
                        sd_bus_message_unref(m);
                        pending++;
                }
                if (sd_bus_flush(bus) < 0)
                        return 1;
        }
        printf("sent\n");
        fflush(stdout);
        if (sd_event_loop(e) < 0)
                return 1;
        for (unsigned i = 0; i < OUTCOMES_MAX && outcomes[i].name[0]; i++)
                printf("%u %s\n", outcomes[i].n, outcomes[i].name);
        for (unsigned c = 0; c < connections; c++)
                sd_bus_flush_close_unref(buses[c]);
        free(buses);
        sd_event_unref(e);
        return 0;
}
