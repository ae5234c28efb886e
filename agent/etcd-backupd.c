/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * etcd-backupd, the node agent: sets up the process (signals, memory, named errors), then hands
 * over to the Manager and its event loop until SIGTERM.
 */

#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "errors.h"
#include "log.h"
#include "manager.h"

static const char *arg_config = NULL;

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "The etcd backup agent: takes verified, compressed etcd snapshots and serves\n"
               AGENT_BUS_NAME " on the system bus.\n\n"
               "  -h --help          Show this help\n"
               "     --version       Show the version\n"
               "     --config=PATH   Read PATH (and PATH.d/) instead of " AGENT_CONFIG_PATH "\n",
               program_invocation_short_name);
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_CONFIG };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "config", required_argument, NULL, ARG_CONFIG },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("etcd-backupd %s\n", PROJECT_VERSION);
                        return 0;
                case ARG_CONFIG:
                        arg_config = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "%s takes no arguments.", program_invocation_short_name);
        return 1;
}

static int run(void) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        r = manager_new(arg_config, &m);
        if (r < 0)
                return r;
        r = manager_start(m);
        if (r < 0)
                return r;
        if (r > 0) {
                /* Stopped while finishing an interrupted restore, which is now final. */
                (void) sd_notify(false, "STOPPING=1\nSTATUS=Shutting down...");
                return 0;
        }

        manager_update_state(m);
        manager_release_memory(m);
        (void) sd_notify(false, "READY=1");
        r = sd_event_loop(m->event);
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Shutting down...");
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return 0;
}

int main(int argc, char *argv[]) {
        sigset_t ss;
        int r;

        log_open();
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        /* Blocked before any thread exists, so that every thread inherits the mask and the loop's
         * signalfd alone receives these. */
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        sigaddset(&ss, SIGCHLD);
        sigprocmask(SIG_BLOCK, &ss, NULL);

        r = agent_errors_register();
        if (r < 0) {
                log_error_errno(r, "Failed to register the error names: %m");
                return EXIT_FAILURE;
        }

        /* Large buffers (the ring, zstd's window) always mmap()ed, so freeing them returns them
         * to the kernel: glibc's default raises the threshold after the first such free, after
         * which they would stay resident between backups. One arena: the threads allocate
         * little, and per-thread arenas would each keep their own free memory. */
        (void) mallopt(M_MMAP_THRESHOLD, 128 * 1024);
        (void) mallopt(M_ARENA_MAX, 1);

        r = run();

        if (r < 0) {
                (void) sd_notifyf(false, "ERRNO=%i", -r);
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}
