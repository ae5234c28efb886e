/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The verbs on backup configurations: list-configs, add-config, set-config, remove-config. */

#include <stdio.h>

#include "bus-names.h"
#include "macro.h"
#include "options.h"
#include "output.h"
#include "verbs.h"

int verb_list_configs(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(objects_done) Objects o = {};
        int r;

        r = get_objects(bus, &o);
        if (r < 0)
                return r;
        if (arg_json != JSON_OFF) {
                JsonWriter w = json_writer();
                json_begin_array(&w);
                for (size_t i = 0; i < o.n_configs; i++)
                        json_config(&w, &o.configs[i]);
                json_end_array(&w);
                json_finish(&w);
                return 0;
        }
        TableStyle style = table_style();
        r = configs_print_table(o.configs, o.n_configs, /* full= */ true, &style, stdout);
        if (r >= 0 && arg_legend && !arg_quiet)
                printf("\n%zu configuration%s listed.\n", o.n_configs, o.n_configs == 1 ? "" : "s");
        return r;
}

/* With --json, the configuration as it now is. */
static int print_config_json(sd_bus *bus, const char *name) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(config_info_done) ConfigInfo c = {};
        const char *path;
        int r;

        if (arg_json == JSON_OFF)
                return 0;
        r = sd_bus_call_method(bus, AGENT_BUS_NAME, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "GetConfig", &error, &reply, "s", name);
        if (r < 0)
                return error_bus("read the configuration", &error, r);
        r = sd_bus_message_read(reply, "o", &path);
        if (r >= 0)
                r = get_properties(bus, path, CONFIG_INTERFACE, config_map, &c);
        if (r < 0)
                return r;
        JsonWriter w = json_writer();
        json_config(&w, &c);
        json_finish(&w);
        return 0;
}

/* AddConfig and SetConfig take the same settings: what was given on the command line. */
static int config_call(sd_bus *bus, const char *method, const char *name, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, AGENT_BUS_NAME, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, method);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", name);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && arg_schedule)
                r = sd_bus_message_append(m, "{sv}", "Schedule", "s", arg_schedule);
        if (r >= 0 && arg_keep >= 0)
                r = sd_bus_message_append(m, "{sv}", "Keep", "u", (uint32_t) arg_keep);
        if (r >= 0 && arg_enabled >= 0)
                r = sd_bus_message_append(m, "{sv}", "Enabled", "b", arg_enabled);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        return sd_bus_call(bus, m, 0, error, NULL);
}

int verb_add_config(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (!arg_schedule) {
                fprintf(stderr, "add-config needs --schedule=, e.g. --schedule=daily or --schedule=\"@every 6h from 02:00\".\n");
                return -EINVAL;
        }
        r = config_call(bus, "AddConfig", argv[1], &error);
        if (r < 0)
                return error_bus("add the configuration", &error, r);
        return print_config_json(bus, argv[1]);
}

int verb_set_config(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (!arg_schedule && arg_keep < 0 && arg_enabled < 0) {
                fprintf(stderr, "set-config needs at least one of --schedule=, --keep=, --enable, --disable.\n");
                return -EINVAL;
        }
        r = config_call(bus, "SetConfig", argv[1], &error);
        if (r < 0)
                return error_bus("change the configuration", &error, r);
        return print_config_json(bus, argv[1]);
}

int verb_remove_config(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(bus, AGENT_BUS_NAME, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "RemoveConfig", &error, NULL, "s", argv[1]);
        if (r < 0)
                return error_bus("remove the configuration", &error, r);
        json_done("name", argv[1], "removed");
        return 0;
}
