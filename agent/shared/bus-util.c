/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Property getters for fields sd-bus's default getters do not cover; a{sv} options. */

#include <stdbool.h>
#include <stdio.h>

#include "bus-util.h"
#include "macro.h"

int bus_property_get_inline_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", (const char *) userdata);
}

int bus_property_get_bool(sd_bus *bus, const char *path, const char *interface, const char *property,
                          sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "b", (int) *(const bool *) userdata);
}

static int options_unknown(const BusOption *table, const char *what, const char *key, sd_bus_error *error) {
        char expected[256] = "";
        size_t n = 0;

        for (size_t i = 0; table[i].key && n < sizeof(expected); i++)
                n += (size_t) snprintf(expected + n, sizeof(expected) - n, "%s%s (%c)",
                                       i == 0 ? "" : table[i + 1].key ? ", " : " or ", table[i].key, table[i].type);
        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown %s '%s': expected %s.", what, key, expected);
}

int bus_read_options(sd_bus_message *m, const BusOption *table, void *data, const char *what, uint64_t *ret_given,
                     sd_bus_error *error) {
        uint64_t given = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *contents;
                size_t i;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                for (i = 0; table[i].key && !streq(table[i].key, key); i++)
                        ;
                if (!table[i].key)
                        return options_unknown(table, what, key, error);
                r = sd_bus_message_peek_type(m, NULL, &contents);
                if (r < 0)
                        return r;
                if (contents[0] != table[i].type || contents[1] != 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "The %s %s is of type %c, not %s.", what,
                                                 key, table[i].type, contents);
                r = sd_bus_message_enter_container(m, 'v', contents);
                if (r >= 0)
                        r = sd_bus_message_read_basic(m, table[i].type, (uint8_t *) data + table[i].offset);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
                given |= UINT64_C(1) << i;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        if (ret_given)
                *ret_given = given;
        return 0;
}
