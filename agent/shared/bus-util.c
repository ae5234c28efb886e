/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Property getters for fields sd-bus's default getters do not cover. */

#include <stdbool.h>

#include "bus-util.h"

int bus_property_get_inline_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", (const char *) userdata);
}

int bus_property_get_bool(sd_bus *bus, const char *path, const char *interface, const char *property,
                          sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "b", (int) *(const bool *) userdata);
}
