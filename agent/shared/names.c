/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Validation of the names users type, kept in one place so that the daemon, the CLI and the
 * tests agree on them. */

#include <errno.h>
#include <string.h>
#include <uuid/uuid.h>

#include "names.h"

bool config_name_is_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n < 1 || n > CONFIG_NAME_MAX)
                return false;
        if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789", s[0]))
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

int backup_id_normalize(const char *s, char ret[static BACKUP_ID_STRING_MAX]) {
        uuid_t u;

        /* uuid_parse() checks length, hyphen positions and hex digits. */
        if (!s || strlen(s) != 36 || uuid_parse(s, u) < 0)
                return -EINVAL;
        uuid_unparse_lower(u, ret);
        return 0;
}

void backup_id_generate(char ret[static BACKUP_ID_STRING_MAX]) {
        uuid_t u;

        uuid_generate_random(u);
        uuid_unparse_lower(u, ret);
}
