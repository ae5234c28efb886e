/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pkttyagent, started for the duration of a verb, as systemctl does. */

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "macro.h"
#include "polkit-agent.h"

pid_t polkit_agent_open(void) {
        int pipe_fd[2];
        char notify[16];
        pid_t pid;

        if (geteuid() == 0 || !isatty(STDIN_FILENO) || access("/usr/bin/pkttyagent", X_OK) < 0)
                return 0;
        if (pipe2(pipe_fd, O_CLOEXEC) < 0)
                return 0;

        pid = fork();
        if (pid < 0) {
                safe_close(pipe_fd[0]);
                safe_close(pipe_fd[1]);
                return 0;
        }
        if (pid == 0) {
                char process[32];
                /* pkttyagent closes the notify fd once it is registered for our process. */
                int fd = dup(pipe_fd[1]);
                snprintf(notify, sizeof(notify), "%i", fd);
                snprintf(process, sizeof(process), "%i", (int) getppid());
                execl("/usr/bin/pkttyagent", "pkttyagent", "--notify-fd", notify, "--fallback", "--process", process,
                      NULL);
                _exit(EXIT_FAILURE);
        }
        safe_close(pipe_fd[1]);
        struct pollfd p = { .fd = pipe_fd[0], .events = POLLIN };
        (void) poll(&p, 1, 5000);
        safe_close(pipe_fd[0]);
        return pid;
}

void polkit_agent_close(pid_t pid) {
        if (pid <= 0)
                return;
        (void) kill(pid, SIGTERM);
        (void) waitpid(pid, NULL, 0);
}
