/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Property getters for fields sd-bus's default getters do not cover. Non-logging. */

#include <systemd/sd-bus.h>

/* A char array inside the object (sd-bus's default "s" getter wants a char pointer). */
int bus_property_get_inline_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error);
/* A C bool (sd-bus's default "b" getter reads an int). */
int bus_property_get_bool(sd_bus *bus, const char *path, const char *interface, const char *property,
                          sd_bus_message *reply, void *userdata, sd_bus_error *error);
