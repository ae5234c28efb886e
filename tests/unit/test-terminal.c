/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CLI on a terminal: the color and pager decisions, the pager itself (on a pseudo-terminal),
 * and status's exit status from the configurations. */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "objects.h"
#include "tap.h"
#include "terminal.h"
#include "verbs.h"

TEST(colors_decide) {
        CHECK(colors_decide(NULL, NULL, "xterm-256color", true));
        CHECK(!colors_decide(NULL, NULL, "xterm-256color", false)); /* a pipe */
        CHECK(!colors_decide("", NULL, "xterm", true));             /* NO_COLOR, even empty */
        CHECK(!colors_decide("1", "1", "xterm", true));             /* NO_COLOR wins */
        CHECK(!colors_decide(NULL, "0", "xterm", true));
        CHECK(!colors_decide(NULL, "false", "xterm", true));
        CHECK(!colors_decide(NULL, "no", "xterm", true));
        CHECK(!colors_decide(NULL, NULL, "dumb", true));
        CHECK(!colors_decide(NULL, NULL, NULL, true));
        CHECK(colors_decide(NULL, "1", NULL, false));   /* forced, as systemd */
        CHECK(colors_decide(NULL, "true", "dumb", false));
        CHECK(colors_decide(NULL, "junk", "xterm", true)); /* not a boolean: the terminal decides */
}

TEST(pager_decide) {
        CHECK_STREQ(pager_decide(NULL, NULL), "");
        CHECK_STREQ(pager_decide("most", "more"), "most");
        CHECK_STREQ(pager_decide(NULL, "more -d"), "more -d");
        CHECK(!pager_decide("", "less"));    /* SYSTEMD_PAGER= turns it off, PAGER not asked */
        CHECK(!pager_decide("cat", "less"));
        CHECK(!pager_decide(NULL, " cat"));
        CHECK(!pager_decide(NULL, ""));
}

TEST(columns_decide) {
        CHECK_EQ(columns_decide(NULL, 120, false), 120);
        CHECK_EQ(columns_decide("100", 120, false), 100);    /* $COLUMNS first, as systemd */
        CHECK_EQ(columns_decide(NULL, 0, false), 80);        /* a terminal that does not say */
        CHECK_EQ(columns_decide("junk", 0, false), 80);
        CHECK_EQ(columns_decide("0", 90, false), 90);
        CHECK_EQ(columns_decide("70000", 90, false), 90);
        CHECK(columns_decide("100", 120, true) == SIZE_MAX); /* --full */
        CHECK(columns_decide("100", -1, false) == SIZE_MAX); /* not a terminal: values whole */
        CHECK(columns_decide(NULL, -1, false) == SIZE_MAX);
}

/* A child whose stdout is the slave side of a new pseudo-terminal; the parent gets the master. */
static pid_t fork_on_pty(int *ret_master) {
        int master = posix_openpt(O_RDWR | O_NOCTTY);
        pid_t pid;

        CHECK(master >= 0);
        CHECK(grantpt(master) == 0 && unlockpt(master) == 0);
        pid = fork();
        if (pid == 0) {
                int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
                if (slave < 0 || dup2(slave, STDOUT_FILENO) < 0)
                        _exit(2);
        }
        *ret_master = master;
        return pid;
}

/* The pager on a pseudo-terminal: what we print reaches it through the pipe, with LESS set,
 * and pager_close() returns after it ended (the file is whole). */
TEST(pager_on_tty) {
        char path[] = "/tmp/test-terminal.XXXXXX", cmd[256], buf[256] = {};
        int master, fd, status;
        pid_t pid;
        ssize_t n;

        fd = mkstemp(path);
        CHECK(fd >= 0);
        pid = fork_on_pty(&master);
        if (pid == 0) {
                snprintf(cmd, sizeof(cmd), "sed 's/^/P:/' > %s; echo \"LESS=$LESS\" >> %s", path, path);
                setenv("SYSTEMD_PAGER", cmd, 1);
                unsetenv("LESS");
                unsetenv("SYSTEMD_LESS");
                pager_open();
                printf("one\ntwo\n");
                pager_close();
                _exit(0);
        }
        CHECK(pid > 0);
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        n = pread(fd, buf, sizeof(buf) - 1, 0);
        CHECK(n > 0);
        CHECK_STREQ(buf, "P:one\nP:two\nLESS=FRSXMK\n");
        close(fd);
        close(master);
        unlink(path);
}

/* No pager to be found (neither variable, no less or more on PATH): the output is copied through
 * to the terminal, not lost, and pager_close() does not hang on it. */
TEST(pager_copy_through) {
        char buf[256] = {};
        int master, status;
        size_t got = 0;
        ssize_t n;
        pid_t pid;

        tap_deadline(20);
        pid = fork_on_pty(&master);
        if (pid == 0) {
                unsetenv("SYSTEMD_PAGER");
                unsetenv("PAGER");
                setenv("PATH", "/nonexistent", 1);
                pager_open();
                printf("copied\n");
                pager_close();
                _exit(0);
        }
        CHECK(pid > 0);
        /* Read before the child ends: a pty's buffer is small, and gone with its last slave. */
        while (got < strlen("copied\r\n") && (n = read(master, buf + got, sizeof(buf) - 1 - got)) > 0)
                got += (size_t) n;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        CHECK_STREQ(buf, "copied\r\n");
        close(master);
        tap_deadline(0);
}

/* Not a terminal: no pager, the output stays where it goes. */
TEST(pager_not_on_pipe) {
        char buf[64] = {};
        int p[2], status;
        pid_t pid;

        CHECK(pipe(p) == 0);
        pid = fork();
        if (pid == 0) {
                dup2(p[1], STDOUT_FILENO);
                setenv("SYSTEMD_PAGER", "sed s/^/P:/", 1);
                pager_open();
                printf("plain\n");
                pager_close();
                fflush(stdout);
                _exit(0);
        }
        close(p[1]);
        CHECK(read(p[0], buf, sizeof(buf) - 1) > 0);
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK_STREQ(buf, "plain\n");
        close(p[0]);
}

#define NOW (1795573030ULL * 1000000ULL)

TEST(config_health) {
        ConfigInfo ok = { .enabled = true, .last_result = (char *) "completed", .next_run = NOW + 3600000000ULL };
        ConfigInfo failed = { .enabled = true, .last_result = (char *) "failed", .next_run = NOW + 1 };
        ConfigInfo failed_disabled = { .enabled = false, .last_result = (char *) "failed" };
        ConfigInfo late = { .enabled = true, .last_result = (char *) "completed", .next_run = NOW - 60000000ULL };
        ConfigInfo overdue = { .enabled = true, .next_run = NOW - CONFIG_OVERDUE_USEC - 1 };
        ConfigInfo never = { .enabled = true };
        ConfigInfo broken = { .enabled = true, .load_error = (char *) "bad Keep=" };
        ConfigInfo both[] = { ok, failed };

        CHECK_EQ(config_info_health(&ok, NOW), CONFIG_OK);
        CHECK_EQ(config_info_health(&failed, NOW), CONFIG_FAILED);
        CHECK_EQ(config_info_health(&failed_disabled, NOW), CONFIG_OK);
        CHECK_EQ(config_info_health(&late, NOW), CONFIG_OK); /* within the grace */
        CHECK_EQ(config_info_health(&overdue, NOW), CONFIG_OVERDUE);
        CHECK_EQ(config_info_health(&never, NOW), CONFIG_OK);
        CHECK_EQ(config_info_health(&broken, NOW), CONFIG_BROKEN);

        CHECK_EQ(status_exit_status(&ok, 1, NOW), 0);
        CHECK_EQ(status_exit_status(NULL, 0, NOW), 0);
        CHECK_EQ(status_exit_status(both, 2, NOW), STATUS_EXIT_NOT_OK);
        CHECK_EQ(status_exit_status(&overdue, 1, NOW), 3);
}

int main(void) {
        RUN(colors_decide);
        RUN(pager_decide);
        RUN(columns_decide);
        RUN(pager_on_tty);
        RUN(pager_copy_through);
        RUN(pager_not_on_pipe);
        RUN(config_health);
        return tap_finish();
}
