/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Property getters for fields sd-bus's default getters do not cover, and the reader of a{sv}
 * options and settings. Non-logging. */

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

/* A char array inside the object (sd-bus's default "s" getter wants a char pointer). */
int bus_property_get_inline_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error);
/* A C bool (sd-bus's default "b" getter reads an int). */
int bus_property_get_bool(sd_bus *bus, const char *path, const char *interface, const char *property,
                          sd_bus_message *reply, void *userdata, sd_bus_error *error);

/* One key of an a{sv} of options: its D-Bus type, 's' (into a const char *, valid as long as the
 * message), 'b' (an int), 'u' (a uint32_t) or 't' (a uint64_t), and where in the caller's struct
 * the value goes. A table ends with {}. */
typedef struct BusOption {
        const char *key;
        char type;
        size_t offset;
} BusOption;

/* Reads an a{sv} into data as the table says, and which keys were given into ret_given (bit i for
 * table[i]; at most 64 keys). An unknown key, or a value of another type than its key's, is
 * refused with InvalidArgs naming the key and what is expected; what ("option", "setting") says
 * what the keys are called. A key given twice: the last one counts. */
int bus_read_options(sd_bus_message *m, const BusOption *table, void *data, const char *what, uint64_t *ret_given,
                     sd_bus_error *error);
