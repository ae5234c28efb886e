/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Names users type: configuration names and backup ids. */

#include "names.h"
#include "tap.h"

TEST(config_names_accepted) {
        CHECK(config_name_is_valid("default"));
        CHECK(config_name_is_valid("a"));
        CHECK(config_name_is_valid("0"));
        CHECK(config_name_is_valid("daily-2_offsite"));
        /* 63 characters is the limit */
        CHECK(config_name_is_valid("a23456789012345678901234567890123456789012345678901234567890123"));
}

TEST(config_names_refused) {
        CHECK(!config_name_is_valid(NULL));
        CHECK(!config_name_is_valid(""));
        CHECK(!config_name_is_valid("../x"));
        CHECK(!config_name_is_valid("a/b"));
        CHECK(!config_name_is_valid("Daily"));
        CHECK(!config_name_is_valid("-daily"));
        CHECK(!config_name_is_valid("_daily"));
        CHECK(!config_name_is_valid("da ily"));
        CHECK(!config_name_is_valid("daily\n"));
        CHECK(!config_name_is_valid("a234567890123456789012345678901234567890123456789012345678901234"));
}

TEST(backup_ids) {
        char id[BACKUP_ID_STRING_MAX], id2[BACKUP_ID_STRING_MAX];

        CHECK_EQ(backup_id_normalize("3F29DF07-626F-47F1-8A08-F7B5B75BDA46", id), 0);
        CHECK_STREQ(id, "3f29df07-626f-47f1-8a08-f7b5b75bda46");
        CHECK(backup_id_normalize("3f29df07626f47f18a08f7b5b75bda46", id) < 0);
        CHECK(backup_id_normalize("3f29df07-626f-47f1-8a08-f7b5b75bda4", id) < 0);
        CHECK(backup_id_normalize("3f29df07-626f-47f1-8a08-f7b5b75bda46/..", id) < 0);
        CHECK(backup_id_normalize("../../etc/passwd", id) < 0);
        CHECK(backup_id_normalize("", id) < 0);
        CHECK(backup_id_normalize(NULL, id) < 0);

        backup_id_generate(id);
        backup_id_generate(id2);
        CHECK(strcmp(id, id2) != 0);
        CHECK_EQ(backup_id_normalize(id, id2), 0);
        CHECK_STREQ(id, id2);
}

int main(void) {
        RUN(config_names_accepted);
        RUN(config_names_refused);
        RUN(backup_ids);
        return tap_finish();
}
