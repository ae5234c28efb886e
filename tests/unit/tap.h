/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A minimal TAP harness for the unit tests: each TEST() is one "ok"/"not ok" line, a failed
 * CHECK() says where and what on a "#" line and marks its test failed. TAP lets the runner count
 * every case, not just every binary.
 */

#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static unsigned tap_count, tap_failed;
static bool tap_current_failed;

#define TEST(name) static void test_##name(void)

#define CHECK(expr)                                                                           \
        do {                                                                                  \
                if (!(expr)) {                                                                \
                        printf("#   %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #expr);   \
                        tap_current_failed = true;                                            \
                }                                                                             \
        } while (0)

#define CHECK_STREQ(a, b)                                                                              \
        do {                                                                                           \
                const char *_a = (a), *_b = (b);                                                       \
                if (!_a || !_b || strcmp(_a, _b) != 0) {                                               \
                        printf("#   %s:%d: \"%s\" != \"%s\" (%s vs %s)\n", __FILE__, __LINE__,         \
                               _a ?: "(null)", _b ?: "(null)", #a, #b);                                \
                        tap_current_failed = true;                                                     \
                }                                                                                      \
        } while (0)

#define CHECK_EQ(a, b)                                                                                 \
        do {                                                                                           \
                long long _a = (long long) (a), _b = (long long) (b);                                  \
                if (_a != _b) {                                                                        \
                        printf("#   %s:%d: %lld != %lld (%s vs %s)\n", __FILE__, __LINE__, _a, _b, #a, #b); \
                        tap_current_failed = true;                                                     \
                }                                                                                      \
        } while (0)

static inline void tap_run(const char *name, void (*f)(void)) {
        tap_current_failed = false;
        f();
        tap_count++;
        if (tap_current_failed)
                tap_failed++;
        printf("%sok %u - %s\n", tap_current_failed ? "not " : "", tap_count, name);
        fflush(stdout);
}

#define RUN(name) tap_run(#name, test_##name)

static inline void tap_on_deadline(int sig) {
        static const char m[] = "not ok - a call that must not block blocked\nBail out!\n";
        (void) !write(STDOUT_FILENO, m, sizeof(m) - 1);
        _exit(1);
}

/* For calls that would wait forever if what they test broke (an open of a FIFO): the run fails
 * after seconds, as a blocked call cannot be interrupted to go on. tap_deadline(0) lifts it. */
static inline void tap_deadline(unsigned seconds) {
        signal(SIGALRM, tap_on_deadline);
        alarm(seconds);
}

static inline int tap_finish(void) {
        printf("1..%u\n", tap_count);
        return tap_failed > 0 ? 1 : 0;
}
