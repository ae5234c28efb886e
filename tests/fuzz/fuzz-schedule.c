/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Schedules: an accepted one becomes a calendar fit for a unit file line, and is saved so that
 * it reads back as what was accepted. */

#include "backup-config.h"
#include "fuzz.h"
#include "schedule.h"
#include "string-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = fuzz_string(data, size), *message = NULL, *saved = NULL;
        _cleanup_(backup_config_spec_done) BackupConfigSpec spec = {}, again = {};
        _cleanup_(schedule_done) Schedule s = {};
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = schedule_parse(text, &s, &message);
        FUZZ_CHECK(r == 0 || (r == -EINVAL && message));
        if (r < 0)
                return 0;

        FUZZ_CHECK(s.kind >= 0 && s.kind < _SCHEDULE_KIND_MAX && s.default_keep > 0);
        /* One line of a unit file, without specifiers, escapes or quotes. */
        FUZZ_CHECK(*s.calendar && utf8_is_printable(s.calendar));
        FUZZ_CHECK(!strpbrk(s.calendar, "\\%\"'"));
        for (const char *p = s.calendar; *p; p++)
                FUZZ_CHECK((unsigned char) *p < 0x80);
        FUZZ_CHECK(s.kind == SCHEDULE_CALENDAR || strlen(s.calendar) < 4096);

        /* As AddConfig keeps it, saved and read back. */
        FUZZ_CHECK(backup_config_spec_init(&spec, text, 0, true, &error) == 0);
        FUZZ_CHECK(streq(spec.parsed.calendar, s.calendar));
        FUZZ_CHECK(backup_config_format("fuzz", &spec, &saved) == 0);
        message = mfree(message);
        FUZZ_CHECK(backup_config_parse(saved, &again, NULL, &message, NULL) == 0);
        FUZZ_CHECK(backup_config_spec_equal(&spec, &again) && streq(again.parsed.calendar, s.calendar));
        return 0;
}
