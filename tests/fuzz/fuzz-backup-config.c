/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Backup configuration files: an accepted file, saved again, reads back as the same
 * configuration (a configuration that does not is lost, with its timer, at the next start). */

#include "backup-config.h"
#include "fuzz.h"
#include "string-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = fuzz_string(data, size), *saved = NULL, *message = NULL;
        _cleanup_strv_free_ char **warnings = NULL;
        _cleanup_(backup_config_spec_done) BackupConfigSpec spec = {}, again = {};
        int r;

        r = backup_config_parse(text, &spec, NULL, &message, &warnings);
        FUZZ_CHECK(r >= 0 || r == -EINVAL || r == -EBADMSG || r == -ERANGE);
        FUZZ_CHECK(r >= 0 || message);
        if (r < 0)
                return 0;

        FUZZ_CHECK(utf8_is_printable(spec.schedule) && utf8_is_printable(spec.parsed.calendar));
        FUZZ_CHECK(backup_config_format("fuzz", &spec, &saved) == 0);
        message = mfree(message);
        r = backup_config_parse(saved, &again, NULL, &message, NULL);
        if (r < 0)
                fprintf(stderr, "Saved as:\n%s\nwhich reads back as: %s\n", saved, message);
        FUZZ_CHECK(r == 0);
        FUZZ_CHECK(backup_config_spec_equal(&spec, &again));
        FUZZ_CHECK(streq(spec.parsed.calendar, again.parsed.calendar) && spec.parsed.kind == again.parsed.kind);
        return 0;
}
