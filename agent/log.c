/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Logging to the journal with fields, or to stderr. */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "log.h"

static bool use_journal = false;
static int max_level = LOG_INFO;

void log_open(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        /* The journal only when stderr is the very stream systemd connected to it: a child or a
         * redirected run must not log where nobody looks. */
        use_journal = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) >= 0 &&
                      st.st_dev == dev && st.st_ino == ino;
}

void log_set_max_level(int level) {
        max_level = level;
}

_printf_(4, 0) static int log_internal(int level, int error, char * const *fields, const char *fmt, va_list ap) {
        char message[2048];

        error = abs(error);
        if (level > max_level)
                return -error;

        errno = error; /* for %m */
        vsnprintf(message, sizeof(message), fmt, ap);

        if (use_journal) {
                char priority[16], errno_field[24];
                struct iovec iov[32];
                size_t n = 0;
                char *msg_field;

                if (asprintf(&msg_field, "MESSAGE=%s", message) < 0)
                        goto fallback;
                snprintf(priority, sizeof(priority), "PRIORITY=%i", level);
                iov[n++] = (struct iovec) { msg_field, strlen(msg_field) };
                iov[n++] = (struct iovec) { priority, strlen(priority) };
                iov[n++] = (struct iovec) { (char *) "SYSLOG_IDENTIFIER=etcd-backupd", strlen("SYSLOG_IDENTIFIER=etcd-backupd") };
                if (error > 0) {
                        snprintf(errno_field, sizeof(errno_field), "ERRNO=%i", error);
                        iov[n++] = (struct iovec) { errno_field, strlen(errno_field) };
                }
                for (char * const *f = fields; f && *f && n < ELEMENTSOF(iov); f++)
                        iov[n++] = (struct iovec) { *f, strlen(*f) };
                int r = sd_journal_sendv(iov, (int) n);
                free(msg_field);
                if (r >= 0)
                        return -error;
        }
fallback:
        fprintf(stderr, "%s\n", message);
        return -error;
}

int log_full_errno(int level, int error, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = log_internal(level, error, NULL, fmt, ap);
        va_end(ap);
        return r;
}

int log_fields_errno(int level, int error, char * const *fields, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = log_internal(level, error, fields, fmt, ap);
        va_end(ap);
        return r;
}
