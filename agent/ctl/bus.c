/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading the agent's properties through maps, and the messages for failed calls. */

#include <stdio.h>

#include "bus-names.h"
#include "bus.h"
#include "string-util.h"
#include "errors.h"
#include "macro.h"

static const PropertyMap *property_map_find(const PropertyMap *map, const char *name) {
        for (const PropertyMap *p = map; p->name; p++)
                if (streq(p->name, name))
                        return p;
        return NULL;
}

/* An a(sss) as one flat NULL-terminated list, three strings an entry. */
static int read_triples(sd_bus_message *m, char ***field) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(sss)");
        if (r < 0)
                return r;
        for (;;) {
                const char *a, *b, *c;

                r = sd_bus_message_read(m, "(sss)", &a, &b, &c);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (strv_extend_counted(&l, &n, a) < 0 || strv_extend_counted(&l, &n, b) < 0 ||
                    strv_extend_counted(&l, &n, c) < 0)
                        return -ENOMEM;
        }
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        strv_free(*field);
        *field = TAKE_PTR(l);
        return 0;
}

int map_properties(sd_bus_message *m, const PropertyMap *map, void *data) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const PropertyMap *p;
                const char *name;
                char sig[2] = {};

                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;
                p = property_map_find(map, name);
                if (!p)
                        r = sd_bus_message_skip(m, "v");
                else {
                        void *field = (uint8_t *) data + p->offset;

                        sig[0] = p->type;
                        r = sd_bus_message_enter_container(m, 'v', p->type == 'a' ? "as" : p->type == 'T' ? "a(sss)" : sig);
                        if (r >= 0 && p->type == 'T')
                                r = read_triples(m, field);
                        else if (r >= 0 && p->type == 'a') {
                                char **l = NULL;
                                r = sd_bus_message_read_strv(m, &l);
                                if (r >= 0) {
                                        strv_free(*(char ***) field);
                                        *(char ***) field = l;
                                }
                        } else if (r >= 0 && (p->type == 's' || p->type == 'o')) {
                                const char *s;
                                r = sd_bus_message_read_basic(m, p->type, &s);
                                if (r >= 0)
                                        r = free_and_strdup(field, s);
                        } else if (r >= 0 && p->type == 'b') {
                                int b;
                                r = sd_bus_message_read_basic(m, 'b', &b);
                                *(bool *) field = b;
                        } else if (r >= 0)
                                r = sd_bus_message_read_basic(m, p->type, field);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(m);
                }
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

void free_properties(const PropertyMap *map, void *data) {
        for (const PropertyMap *p = map; p->name; p++)
                if (p->type == 's' || p->type == 'o') {
                        char **field = (char **) ((uint8_t *) data + p->offset);
                        *field = mfree(*field);
                } else if (p->type == 'a' || p->type == 'T') {
                        char ***field = (char ***) ((uint8_t *) data + p->offset);
                        *field = strv_free(*field);
                }
}

char **property_string_field(const PropertyMap *map, void *data, const char *name) {
        const PropertyMap *p = property_map_find(map, name);

        return p && p->type == 's' ? (char **) ((uint8_t *) data + p->offset) : NULL;
}

int get_properties(sd_bus *bus, const char *path, const char *interface, const PropertyMap *map, void *data) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, AGENT_BUS_NAME, path, DBUS_PROPERTIES_INTERFACE, "GetAll", &error, &reply, "s",
                               interface);
        if (r < 0)
                return error_bus("read the agent's properties", &error, r);
        r = map_properties(reply, map, data);
        if (r < 0)
                fprintf(stderr, "Failed to read the agent's properties: %s\n", strerror(-r));
        return r;
}

int error_bus(const char *what, const sd_bus_error *e, int r) {
        const char *hint = NULL;

        if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                hint = "Is etcd-backupd running? Try: systemctl status etcd-backupd";
        else if (sd_bus_error_has_name(e, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED))
                hint = "Run as root, or without --no-ask-password to authenticate.";
        else if (sd_bus_error_has_names(e, AGENT_ERROR_NO_SUCH_BACKUP, AGENT_ERROR_BACKUP_EXISTS))
                hint = "See: etcd-backupctl list-backups";
        else if (sd_bus_error_has_name(e, AGENT_ERROR_NO_SUCH_CONFIG))
                hint = "See: etcd-backupctl list-configs";
        else if (sd_bus_error_has_name(e, AGENT_ERROR_NO_SUCH_RESTORE))
                hint = "See: etcd-backupctl list-restores";
        else if (sd_bus_error_has_name(e, AGENT_ERROR_BUSY))
                hint = "See: etcd-backupctl status";

        fprintf(stderr, "Failed to %s: %s\n", what, e && e->message ? e->message : strerror(-r));
        if (hint)
                fprintf(stderr, "%s\n", hint);
        return r;
}
