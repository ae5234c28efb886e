/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The INI tokenizer: what reaches a callback is a well-formed assignment. */

#include <ctype.h>

#include "conf-parser.h"
#include "fuzz.h"
#include "macro.h"

static bool has_outer_space(const char *s) {
        return *s && (isspace((unsigned char) s[0]) || isspace((unsigned char) s[strlen(s) - 1]));
}

static int check(const char *section, const char *key, const char *value, unsigned line, void *userdata) {
        unsigned *last = userdata;

        FUZZ_CHECK(*section && *key);
        FUZZ_CHECK(!strchr(key, '=') && !strchr(key, '\n') && !strchr(value, '\n') && !strchr(section, '\n'));
        FUZZ_CHECK(!has_outer_space(key) && !has_outer_space(value));
        /* Assignments come in the order of their lines. */
        FUZZ_CHECK(line > *last);
        *last = line;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = fuzz_string(data, size);
        unsigned last = 0, line = 0;
        int r;

        r = conf_parse_string(text, check, &last, &line);
        FUZZ_CHECK(r == 0 || r == -EBADMSG);
        FUZZ_CHECK(r == 0 || line > 0);
        return 0;
}
