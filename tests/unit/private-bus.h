/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A private dbus-daemon for the unit tests of the CLI, and fake agents on it: each fake runs in
 * a child that says on a pipe when it owns its name, and is stopped with SIGTERM.
 */

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>

#include "macro.h"

static char bus_address[256];

static inline int bus_connect(sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, bus_address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, true);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

static inline void child_stop(pid_t pid) {
        if (pid <= 0)
                return;
        (void) kill(pid, SIGTERM);
        (void) waitpid(pid, NULL, 0);
}

/* Forks run(scenario, ready_fd), which writes one byte to ready_fd once it is on the bus, and
 * returns the child once it did; a negative errno if it never did. */
static inline pid_t fake_start(_noreturn_ void (*run)(int scenario, int ready_fd), int scenario) {
        int p[2];
        char c;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid == 0)
                run(scenario, p[1]);
        safe_close(p[1]);
        if (pid < 0 || read(p[0], &c, 1) != 1) {
                safe_close(p[0]);
                child_stop(pid);
                return -EIO;
        }
        safe_close(p[0]);
        return pid;
}

/* dbus-daemon --session prints its address once it listens. */
static inline pid_t bus_start(void) {
        int p[2];
        ssize_t n;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid == 0) {
                char arg[32];
                int out = dup(p[1]); /* without O_CLOEXEC */
                snprintf(arg, sizeof(arg), "--print-address=%i", out);
                execlp("dbus-daemon", "dbus-daemon", "--session", "--nofork", "--nopidfile", arg, NULL);
                _exit(EXIT_FAILURE);
        }
        safe_close(p[1]);
        n = pid > 0 ? read(p[0], bus_address, sizeof(bus_address) - 1) : -1;
        safe_close(p[0]);
        if (n <= 0) {
                child_stop(pid);
                return -EIO;
        }
        bus_address[n] = 0;
        bus_address[strcspn(bus_address, "\n")] = 0;
        return pid;
}
