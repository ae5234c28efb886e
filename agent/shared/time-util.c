/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Clocks and the human and machine forms of times and sizes. */

#include <inttypes.h>
#include <stdio.h>

#include "time-util.h"

usec_t now(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / NSEC_PER_USEC;
}

static struct tm *utc(usec_t t, struct tm *tm) {
        time_t sec = (time_t) (t / USEC_PER_SEC);
        return gmtime_r(&sec, tm);
}

char *format_timestamp_rfc3339(char *buf, size_t l, usec_t t) {
        struct tm tm;
        return utc(t, &tm) && strftime(buf, l, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0 ? buf : NULL;
}

char *format_timestamp_local(char *buf, size_t l, usec_t t) {
        time_t sec = (time_t) (t / USEC_PER_SEC);
        struct tm tm;

        return localtime_r(&sec, &tm) && strftime(buf, l, "%a %Y-%m-%d %H:%M:%S %Z", &tm) > 0 ? buf : NULL;
}

char *format_timestamp_relative(char *buf, size_t l, usec_t t, usec_t now_usec) {
        const char *suffix = t > now_usec ? "left" : "ago";
        usec_t d = t > now_usec ? t - now_usec : now_usec - t;
        uint64_t days = d / USEC_PER_DAY, hours = d / USEC_PER_HOUR % 24, minutes = d / USEC_PER_MINUTE % 60,
                 seconds = d / USEC_PER_SEC % 60;
        int n;

        if (days >= 2)
                n = snprintf(buf, l, "%" PRIu64 " days %s", days, suffix);
        else if (days == 1)
                n = snprintf(buf, l, "1 day %" PRIu64 "h %s", hours, suffix);
        else if (hours >= 6)
                n = snprintf(buf, l, "%" PRIu64 "h %s", hours, suffix);
        else if (hours > 0)
                n = snprintf(buf, l, "%" PRIu64 "h %" PRIu64 "min %s", hours, minutes, suffix);
        else if (minutes >= 5)
                n = snprintf(buf, l, "%" PRIu64 "min %s", minutes, suffix);
        else if (minutes > 0)
                n = snprintf(buf, l, "%" PRIu64 "min %" PRIu64 "s %s", minutes, seconds, suffix);
        else
                n = snprintf(buf, l, "%" PRIu64 "s %s", seconds, suffix);
        return n > 0 && (size_t) n < l ? buf : NULL;
}

char *format_timestamp_compact(char *buf, size_t l, usec_t t) {
        struct tm tm;
        return utc(t, &tm) && strftime(buf, l, "%Y%m%dT%H%M%SZ", &tm) > 0 ? buf : NULL;
}

char *format_seconds(char *buf, size_t l, usec_t t) {
        uint64_t tenths = t / (USEC_PER_SEC / 10) + (t % (USEC_PER_SEC / 10) >= USEC_PER_SEC / 20);

        snprintf(buf, l, "%" PRIu64 ".%" PRIu64 " s", tenths / 10, tenths % 10);
        return buf;
}

char *format_bytes(char *buf, size_t l, uint64_t bytes) {
        static const char units[] = "KMGTPE";
        uint64_t factor = 1024, tenths;
        size_t k = 0;

        if (bytes == UINT64_MAX) /* systemd's "unset" */
                return NULL;
        if (bytes < 1024) {
                snprintf(buf, l, "%" PRIu64 "B", bytes);
                return buf;
        }
        /* The largest unit not above it (without computing 1024^7, which does not fit). */
        while (k + 2 < sizeof(units) && bytes / 1024 >= factor) {
                factor *= 1024;
                k++;
        }
        /* The tenths cut, not rounded, and taken from the value in the unit below, as systemd's
         * format_bytes() has them: 1500 is "1.4K", 3 GiB "3.0G". */
        tenths = bytes / (factor / 1024) * 10 / 1024 % 10;
        snprintf(buf, l, "%" PRIu64 ".%" PRIu64 "%c", bytes / factor, tenths, units[k]);
        return buf;
}
