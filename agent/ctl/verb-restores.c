/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The verbs on restores: restore (start one and follow its phases to the end), cancel-restore,
 * list-restores and restore-status. What they print about a restore is in restore-report.c;
 * restore and cancel-restore return its exit status (RestoreExit).
 */

#include <stdio.h>

#include "bus-names.h"
#include "errors.h"
#include "options.h"
#include "output.h"
#include "restore-report.h"
#include "verbs.h"

static bool restore_is_done(const void *info) {
        return restore_phase_is_final(restore_info_phase(info));
}

const WaitKind restore_wait_kind = {
        .interface = RESTORE_INTERFACE,
        .map = restore_map,
        .finished_signal = "RestoreFinished",
        .result_property = "Phase",
        .is_done = restore_is_done,
        .progress = restore_progress_line,
        .stage = restore_stage,
        .stage_lines = restore_stage_lines,
};

/* The object path a Restore() or GetRestore() answered. */
static int reply_path(sd_bus_message *reply, char **ret_path) {
        const char *path;
        int r;

        r = sd_bus_message_read(reply, "o", &path);
        if (r >= 0)
                r = free_and_strdup(ret_path, path);
        if (r < 0)
                fprintf(stderr, "Failed to read the agent's answer: %s\n", strerror(-r));
        return r;
}

/* Makes the call m (built, or r < 0 when building it failed), whose answer is an object path. */
static int call_for_path(sd_bus *bus, sd_bus_message *m, int r, const char *what, char **ret_path) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;

        if (r < 0) {
                fprintf(stderr, "Failed to build the call: %s\n", strerror(-r));
                return r;
        }
        r = sd_bus_call(bus, m, 0, &error, &reply);
        if (r < 0)
                return error_bus(what, &error, r);
        return reply_path(reply, ret_path);
}

static int restore_call(sd_bus *bus, const char *backup, char **ret_path) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        const struct {
                const char *key;
                const char *value;
        } strings[] = {
                { "Name", arg_name },
                { "InitialCluster", arg_initial_cluster },
                { "InitialAdvertisePeerURLs", arg_initial_advertise_peer_urls },
                { "InitialClusterToken", arg_initial_cluster_token },
        };
        int r;

        r = sd_bus_message_new_method_call(bus, &m, AGENT_BUS_NAME, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "Restore");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", backup);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(strings); i++)
                if (strings[i].value)
                        r = sd_bus_message_append(m, "{sv}", strings[i].key, "s", strings[i].value);
        if (r >= 0 && arg_revision_bump_set)
                r = sd_bus_message_append(m, "{sv}", "RevisionBump", "t", arg_revision_bump);
        if (r >= 0 && arg_start_timeout >= 0)
                r = sd_bus_message_append(m, "{sv}", "StartTimeoutSec", "u", (uint32_t) arg_start_timeout);
        if (r >= 0 && arg_dry_run)
                r = sd_bus_message_append(m, "{sv}", "DryRun", "b", true);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return call_for_path(bus, m, r, "start the restore", ret_path);
}

static int restore_get_path(sd_bus *bus, const char *id, char **ret_path) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, AGENT_BUS_NAME, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "GetRestore", &error, &reply,
                               "s", id);
        if (r < 0)
                return error_bus("find the restore", &error, r);
        return reply_path(reply, ret_path);
}

static void print_restore_json(const RestoreInfo *info) {
        JsonWriter j = json_writer();

        json_restore(&j, info);
        json_finish(&j);
}

static int waiter_init_restore(Waiter *w, sd_bus *bus) {
        int r;

        r = waiter_init(w, bus, &restore_wait_kind, isatty(STDERR_FILENO) && arg_json == JSON_OFF && !arg_quiet);
        if (r < 0)
                fprintf(stderr, "Failed to watch the agent: %s\n", strerror(-r));
        /* With --json, standard output holds the one document. */
        /* -q: the end only, no step by step. */
        w->stages = arg_quiet ? NULL : arg_json == JSON_OFF ? stdout : stderr;
        return r;
}

/* Follows the restore at path to its end, then says how it ended: its exit status. Ctrl-C and a
 * lost agent leave the restore running, and say so. */
static RestoreExit restore_follow(Waiter *w, const char *path, RestoreInfo *info) {
        int r;

        r = waiter_follow(w, path, info, USEC_INFINITY);
        if (r < 0) {
                if (r == -ECANCELED)
                        fprintf(stderr, "Stopped waiting: restore %s goes on in the agent (now %s).\n", strna(info->id),
                                strna(info->phase));
                else
                        fprintf(stderr, "Lost track of restore %s; it may go on in the agent. See: etcd-backupctl list-restores\n",
                                info->id ?: path);
                if (info->id && !arg_quiet)
                        restore_print_hint(info, stderr);
                if (arg_json != JSON_OFF && info->id)
                        print_restore_json(info);
                return RESTORE_EXIT_UNKNOWN;
        }

        /* The final Phase comes in a PropertiesChanged of its own, before Finished, DowntimeUSec
         * and PreviousData: the end is read whole. */
        (void) get_properties(w->bus, path, RESTORE_INTERFACE, restore_map, info);
        if (arg_json != JSON_OFF)
                print_restore_json(info);
        else {
                putchar('\n');
                restore_print_status(info, /* full= */ false, stdout);
                if (!arg_quiet) {
                        putchar('\n');
                        restore_print_hint(info, stdout);
                }
        }
        return restore_exit_status(info);
}

/* Starts one (through start, before which the waiter is watching: not even one that fails at
 * once may end unseen), then follows it, or prints its id with --no-wait. */
static int start_and_follow(sd_bus *bus, int (*start)(sd_bus *bus, const char *arg, char **ret_path), const char *arg) {
        _cleanup_(waiter_done) Waiter w = {};
        _cleanup_(restore_info_done) RestoreInfo info = {};
        _cleanup_free_ char *path = NULL;
        int r;

        r = waiter_init_restore(&w, bus);
        if (r >= 0)
                r = start(bus, arg, &path);
        if (r < 0)
                return r;

        if (arg_wait)
                return restore_follow(&w, path, &info);

        if (get_properties(bus, path, RESTORE_INTERFACE, restore_map, &info) < 0)
                return RESTORE_EXIT_UNKNOWN;
        if (arg_json != JSON_OFF)
                print_restore_json(&info);
        else
                printf("%s\n", info.id);
        return 0;
}

int verb_restore(sd_bus *bus, int argc, char *argv[]) {
        return start_and_follow(bus, restore_call, argv[1]);
}

/* StopControlPlane() or Rejoin(), with the options given for it. */
static int cluster_call(sd_bus *bus, const char *method, char **ret_path) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        bool rejoin = streq(method, "Rejoin");
        int r;

        r = sd_bus_message_new_method_call(bus, &m, AGENT_BUS_NAME, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, method);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && rejoin)
                r = sd_bus_message_append(m, "{sv}", "Endpoint", "s", arg_endpoint);
        if (r >= 0 && rejoin && arg_cluster_id > 0)
                r = sd_bus_message_append(m, "{sv}", "ClusterID", "t", arg_cluster_id);
        if (r >= 0 && rejoin && arg_start_timeout >= 0)
                r = sd_bus_message_append(m, "{sv}", "StartTimeoutSec", "u", (uint32_t) arg_start_timeout);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return call_for_path(bus, m, r, rejoin ? "start the rejoin" : "stop the control plane", ret_path);
}

static int stop_call(sd_bus *bus, const char *arg, char **ret_path) {
        return cluster_call(bus, "StopControlPlane", ret_path);
}

static int rejoin_call(sd_bus *bus, const char *arg, char **ret_path) {
        return cluster_call(bus, "Rejoin", ret_path);
}

int verb_stop_control_plane(sd_bus *bus, int argc, char *argv[]) {
        return start_and_follow(bus, stop_call, NULL);
}

int verb_rejoin(sd_bus *bus, int argc, char *argv[]) {
        if (!arg_endpoint) {
                fputs("rejoin needs --endpoint=URL: a client URL of the restored cluster (the recovery node's etcd).\n", stderr);
                return -EINVAL;
        }
        return start_and_follow(bus, rejoin_call, NULL);
}

int verb_cancel_restore(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(waiter_done) Waiter w = {};
        _cleanup_(restore_info_done) RestoreInfo info = {};
        _cleanup_free_ char *path = NULL;
        int r;

        r = restore_get_path(bus, argv[1], &path);
        if (r >= 0)
                r = waiter_init_restore(&w, bus);
        if (r < 0)
                return r;
        r = sd_bus_call_method(bus, AGENT_BUS_NAME, path, RESTORE_INTERFACE, "Cancel", &error, NULL, NULL);
        if (r < 0)
                return error_bus("cancel the restore", &error, r);
        if (!arg_wait) {
                json_done("id", argv[1], "cancel_requested");
                return 0;
        }

        r = restore_follow(&w, path, &info);
        /* What was asked for: the restore ended with nothing stopped. */
        return streq_ptr(info.error_name, AGENT_ERROR_CANCELLED) && r == RESTORE_EXIT_FAILED ? 0 : r;
}

int verb_list_restores(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(objects_done) Objects o = {};
        int r;

        r = get_objects(bus, &o);
        if (r < 0)
                return r;

        if (arg_json != JSON_OFF) {
                JsonWriter w = json_writer();
                json_begin_array(&w);
                for (size_t i = 0; i < o.n_restores; i++)
                        json_restore(&w, &o.restores[i]);
                json_end_array(&w);
                json_finish(&w);
                return 0;
        }
        TableStyle style = table_style();
        return restore_print_table(o.restores, o.n_restores, &style, stdout);
}

int verb_restore_status(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(restore_info_done) RestoreInfo info = {};
        _cleanup_free_ char *path = NULL;
        int r;

        r = restore_get_path(bus, argv[1], &path);
        if (r >= 0)
                r = get_properties(bus, path, RESTORE_INTERFACE, restore_map, &info);
        if (r < 0)
                return r;

        if (arg_json != JSON_OFF) {
                print_restore_json(&info);
                return 0;
        }
        restore_print_status(&info, /* full= */ true, stdout);
        putchar('\n');
        restore_print_hint(&info, stdout);
        return 0;
}
