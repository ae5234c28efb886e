/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Endpoint URLs: an accepted one is one authority, HOST:PORT with a port gRPC can dial. */

#include "etcd-client.h"
#include "fuzz.h"
#include "string-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = fuzz_string(data, size), *target = NULL;
        const char *colon;
        unsigned port;
        bool tls;

        if (etcd_endpoint_parse_url(text, &target, &tls) < 0)
                return 0;
        FUZZ_CHECK(tls == !!startswith(text, "https://"));
        FUZZ_CHECK(utf8_is_printable(target) && !strpbrk(target, "/ ,@?#"));
        colon = strrchr(target, ':');
        FUZZ_CHECK(colon && colon > target);
        FUZZ_CHECK(safe_atou(colon + 1, &port) == 0 && port >= 1 && port <= 65535);
        return 0;
}
