/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The UTF-8 helpers, against sd-bus itself: utf8_is_valid() accepts exactly what sd-bus sends
 * as a string, and utf8_sanitize() makes anything into a string sd-bus sends, printable and
 * within its bound.
 */

#include <sys/socket.h>
#include <systemd/sd-bus.h>

#include "fuzz.h"
#include "macro.h"
#include "string-util.h"

/* A bus that never connects: enough to build messages, which is where sd-bus checks strings. */
static sd_bus *offline_bus(void) {
        static sd_bus *bus;
        int fds[2];

        if (bus)
                return bus;
        FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
        FUZZ_CHECK(sd_bus_new(&bus) >= 0);
        FUZZ_CHECK(sd_bus_set_fd(bus, fds[0], fds[0]) >= 0);
        FUZZ_CHECK(sd_bus_start(bus) >= 0);
        return bus;
}

static bool bus_takes(const char *s) {
        sd_bus_message *m = NULL;
        int r;

        FUZZ_CHECK(sd_bus_message_new_signal(offline_bus(), &m, "/", "org.example.Fuzz", "Text") >= 0);
        r = sd_bus_message_append(m, "s", s);
        sd_bus_message_unref(m);
        return r >= 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = fuzz_string(data, size), *safe = NULL;
        size_t max = size > 0 ? data[0] : 0;

        FUZZ_CHECK(utf8_is_valid(text) == bus_takes(text));
        FUZZ_CHECK(!utf8_is_printable(text) || utf8_is_valid(text));

        safe = utf8_sanitize(text, max);
        FUZZ_CHECK(safe && utf8_is_printable(safe) && bus_takes(safe));
        FUZZ_CHECK(strlen(safe) <= max);
        /* What needs nothing is left alone. */
        if (utf8_is_printable(text) && strlen(text) <= max)
                FUZZ_CHECK(streq(safe, text));
        return 0;
}
