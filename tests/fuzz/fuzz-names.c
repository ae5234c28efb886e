/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Configuration names and backup ids: what is accepted is safe as a file name, a unit instance
 * and an object path, and normalizing is idempotent. */

#include <systemd/sd-bus.h>

#include "fuzz.h"
#include "macro.h"
#include "names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = fuzz_string(data, size), *path = NULL, *back = NULL;
        char id[BACKUP_ID_STRING_MAX], again[BACKUP_ID_STRING_MAX];

        if (config_name_is_valid(text)) {
                FUZZ_CHECK(strlen(text) <= CONFIG_NAME_MAX && !strchr(text, '/') && !strchr(text, '.'));
                FUZZ_CHECK(sd_bus_path_encode("/org/etcdbackup/Agent1/config", text, &path) >= 0);
                FUZZ_CHECK(sd_bus_path_decode(path, "/org/etcdbackup/Agent1/config", &back) > 0);
                FUZZ_CHECK(streq(back, text));
        }
        if (backup_id_normalize(text, id) == 0) {
                FUZZ_CHECK(strlen(id) == 36 && strspn(id, "0123456789abcdef-") == 36);
                FUZZ_CHECK(strcasecmp(id, text) == 0);
                FUZZ_CHECK(backup_id_normalize(id, again) == 0 && streq(id, again));
        }
        return 0;
}
