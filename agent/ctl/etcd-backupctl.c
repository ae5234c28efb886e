/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * etcd-backupctl: the command line client of etcd-backupd, in the manner of systemctl. Every
 * verb talks to org.etcdbackup.Agent1 on the system bus, prints a table (or, with --json, one
 * JSON document) and exits 0 on success, 1 with a message on stderr otherwise (restore and
 * cancel-restore: a status that says how the restore ended). Verbs that wait follow the agent's
 * signals and, on a terminal, show progress. On a terminal, long output goes through a pager and
 * states are colored (terminal.c).
 *
 * This file has the verb table and main(). Beside it: options.c (every option, --help),
 * verb-*.c (the verbs, one file per kind of object; verbs.h lists them), objects.c (the agent's
 * objects as property maps), output.c (their JSON and table forms), restore-report.c (what a
 * restore looks like to a person, and its exit status), wait.c (following an
 * operation until it ends, waiting for the Manager), bus.c (property reading, error messages),
 * polkit-agent.c (pkttyagent for password prompts).
 */

#include <getopt.h>
#include <stdio.h>
#include <systemd/sd-bus.h>

#include "errors.h"
#include "macro.h"
#include "options.h"
#include "polkit-agent.h"
#include "terminal.h"
#include "verbs.h"

typedef struct Verb {
        const char *name;
        int min_args, max_args; /* counting the verb itself */
        int (*dispatch)(sd_bus *bus, int argc, char *argv[]);
        /* Prints a document that may be long: through the pager on a terminal. Not the verbs that
         * wait and draw progress, nor those that print an id for scripts. */
        bool pager;
} Verb;

static const Verb verbs[] = {
        { "status", 1, 1, verb_status, .pager = true },
        { "backup", 1, 2, verb_backup },
        { "list-backups", 1, 2, verb_list_backups, .pager = true },
        { "verify", 2, 2, verb_verify },
        { "delete-backup", 2, 2, verb_delete_backup },
        { "import", 2, 2, verb_import },
        { "list-configs", 1, 1, verb_list_configs, .pager = true },
        { "add-config", 2, 2, verb_add_config },
        { "set-config", 2, 2, verb_set_config },
        { "remove-config", 2, 2, verb_remove_config },
        { "restore", 2, 2, verb_restore },
        { "cancel-restore", 2, 2, verb_cancel_restore },
        { "list-restores", 1, 1, verb_list_restores, .pager = true },
        { "restore-status", 2, 2, verb_restore_status, .pager = true },
        { "stop-control-plane", 1, 1, verb_stop_control_plane },
        { "rejoin", 1, 1, verb_rejoin },
};

int main(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        static char *status_argv[] = { (char *) "status", NULL };
        const Verb *verb = NULL;
        char **args;
        pid_t agent;
        int r, n;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        n = argc - optind;
        args = n > 0 ? argv + optind : status_argv;
        n = MAX(n, 1);
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, args[0]))
                        verb = &verbs[i];
        if (!verb) {
                fprintf(stderr, "Unknown command '%s'. See %s --help.\n", args[0], program_invocation_short_name);
                return EXIT_FAILURE;
        }
        if (n < verb->min_args || n > verb->max_args) {
                fprintf(stderr, "'%s' takes %s%i argument%s. See %s --help.\n", args[0],
                        verb->min_args == verb->max_args ? "" : "at most ", verb->max_args - 1,
                        verb->max_args == 2 ? "" : "s", program_invocation_short_name);
                return EXIT_FAILURE;
        }

        r = agent_errors_register();
        if (r >= 0)
                r = sd_bus_open_system(&bus);
        if (r < 0) {
                fprintf(stderr, "Failed to connect to the system bus: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        (void) sd_bus_set_allow_interactive_authorization(bus, arg_ask_password);

        if (verb->pager)
                pager_open();
        agent = arg_ask_password ? polkit_agent_open() : 0;
        r = verb->dispatch(bus, n, args);
        polkit_agent_close(agent);
        pager_close();
        return r < 0 ? EXIT_FAILURE : r;
}
