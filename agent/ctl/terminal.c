/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Colors and the pager, as systemd's terminal-util.c and pager.c do them: the pager is a child
 * reading a pipe that becomes our stdout; at exit we close our end and wait for it, so that the
 * shell prompt comes back after the pager quits, not before.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "options.h"
#include "string-util.h"
#include "terminal.h"

#define strcaseeq(a, b) (strcasecmp((a), (b)) == 0)

static bool parse_false(const char *s) {
        return streq(s, "0") || strcaseeq(s, "no") || strcaseeq(s, "false") || strcaseeq(s, "off") || strcaseeq(s, "n");
}

static bool parse_true(const char *s) {
        return streq(s, "1") || strcaseeq(s, "yes") || strcaseeq(s, "true") || strcaseeq(s, "on") || strcaseeq(s, "y") ||
               strcaseeq(s, "16") || strcaseeq(s, "256") || strcaseeq(s, "24bit");
}

bool colors_decide(const char *no_color, const char *systemd_colors, const char *term, bool tty) {
        /* https://no-color.org: present, whatever its value, means no. */
        if (no_color)
                return false;
        if (systemd_colors && parse_false(systemd_colors))
                return false;
        if (systemd_colors && parse_true(systemd_colors))
                return true;
        if (!term || streq(term, "dumb"))
                return false;
        return tty;
}

bool colors_enabled(void) {
        static int cached = -1;

        if (cached < 0)
                cached = colors_decide(getenv("NO_COLOR"), getenv("SYSTEMD_COLORS"), getenv("TERM"), isatty(STDOUT_FILENO));
        return cached;
}

const char *color_of_state(const char *state) {
        if (!colors_enabled() || !state)
                return "";
        /* rolled-back: a restore that did not happen. */
        if (streq(state, "failed") || streq(state, "broken") || streq(state, "rolled-back"))
                return ANSI_RED;
        if (streq(state, "completed") || streq(state, "success"))
                return ANSI_GREEN;
        return "";
}

const char *color_normal(void) {
        return colors_enabled() ? ANSI_NORMAL : "";
}

size_t columns_decide(const char *columns_env, int tty_columns, bool full) {
        unsigned c;

        if (full || tty_columns < 0)
                return SIZE_MAX;
        if (columns_env && safe_atou(columns_env, &c) >= 0 && c > 0 && c <= 65535)
                return c;
        return tty_columns > 0 ? (size_t) tty_columns : 80;
}

size_t table_width(void) {
        struct winsize ws = {};
        int cols = -1;

        if (isatty(STDOUT_FILENO))
                cols = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) >= 0 ? ws.ws_col : 0;
        return columns_decide(getenv("COLUMNS"), cols, arg_full);
}

const char *pager_decide(const char *systemd_pager, const char *pager) {
        const char *p = systemd_pager ?: pager;

        if (!p)
                return "";
        p += strspn(p, " \t\n");
        if (isempty(p) || streq(p, "cat"))
                return NULL;
        return p;
}

static pid_t pager_pid = 0;
static int stored_stdout = -1;

void pager_close(void) {
        if (pager_pid <= 0)
                return;
        /* The pager sees the end of its input, shows what is left and quits when the user says. */
        fflush(stdout);
        (void) dup2(stored_stdout, STDOUT_FILENO);
        close(stored_stdout);
        stored_stdout = -1;
        (void) kill(pager_pid, SIGCONT);
        while (waitpid(pager_pid, NULL, 0) < 0 && errno == EINTR)
                ;
        pager_pid = 0;
}

static void pager_close_at_exit(void) {
        pager_close();
}

void pager_open(void) {
        const char *cmd;
        int fd[2];
        pid_t pid;

        if (arg_no_pager || arg_json != JSON_OFF || pager_pid > 0)
                return;
        if (!isatty(STDOUT_FILENO))
                return;
        cmd = pager_decide(getenv("SYSTEMD_PAGER"), getenv("PAGER"));
        if (!cmd)
                return;
        /* Decided before stdout becomes the pipe: the pager passes colors on (less -R). */
        (void) colors_enabled();

        if (pipe2(fd, O_CLOEXEC) < 0)
                return;
        fflush(stdout);
        pid = fork();
        if (pid < 0) {
                close(fd[0]);
                close(fd[1]);
                return;
        }
        if (pid == 0) {
                const char *less = getenv("SYSTEMD_LESS");

                if (dup2(fd[0], STDIN_FILENO) < 0)
                        _exit(EXIT_FAILURE);
                /* Not only at exec: the copy below must see the end of its input. */
                close(fd[1]);
                /* F: quit if it fits one screen (so short output just prints), R: pass colors,
                 * S: do not wrap, X: leave the output on screen, M: verbose prompt, K: quit on ^C. */
                if (less)
                        setenv("LESS", less, 1);
                else
                        setenv("LESS", "FRSXMK", 0);
                /* Quit with us, should we die without closing the pipe. */
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (!isempty(cmd))
                        execl("/bin/sh", "sh", "-c", cmd, (char *) NULL);
                else {
                        execlp("less", "less", (char *) NULL);
                        execlp("more", "more", (char *) NULL);
                }
                /* No pager: copy through, so the output is not lost. */
                char buf[4096];
                ssize_t n;
                while ((n = read(STDIN_FILENO, buf, sizeof(buf))) > 0)
                        if (write(STDOUT_FILENO, buf, (size_t) n) != n)
                                break;
                _exit(EXIT_SUCCESS);
        }

        stored_stdout = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
        if (stored_stdout < 0 || dup2(fd[1], STDOUT_FILENO) < 0) {
                /* Output stays on the terminal; the pager ends with its input. */
                if (stored_stdout >= 0)
                        close(stored_stdout);
                stored_stdout = -1;
                close(fd[0]);
                close(fd[1]);
                (void) waitpid(pid, NULL, 0);
                return;
        }
        close(fd[0]);
        close(fd[1]);
        pager_pid = pid;
        atexit(pager_close_at_exit);
}
