/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CLI's tables of configurations and backups (restores: test-restore-report.c), as a person
 * reads them: single-word headers as systemctl's, local times with "left"/"ago", sizes as
 * systemd formats them (fitting a width: test-output.c); and the times of the JSON, each also
 * in µs. */

#include <stdlib.h>

#include "output.h"
#include "restore-report.h"
#include "tap.h"

#define NOW (1795573030ULL * USEC_PER_SEC) /* Wed 2026-11-25 02:17:10 UTC */
#define ID1 "3f2a1b0c-9d8e-4f7a-b6c5-d4e3f2a1b0c9"
#define ID2 "9b1c2d3e-4f50-4a6b-8c7d-8e9fa0b1c2d3"

static const TableStyle style = { .legend = true, .width = SIZE_MAX, .now = NOW };

static char *configs_table(const ConfigInfo *c, size_t n, bool full, const TableStyle *s) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        CHECK_EQ(configs_print_table(c, n, full, s, f), 0);
        fclose(f);
        return buf;
}

static char *backups_table(const BackupInfo *b, size_t n, const char *config, const TableStyle *s, size_t *ret_n) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        CHECK_EQ(backups_print_table(b, n, config, s, f, ret_n), 0);
        fclose(f);
        return buf;
}

static const ConfigInfo configs[] = {
        { .name = (char *) "default", .schedule = (char *) "daily", .calendar = (char *) "*-*-* 00:00:00", .keep = 7,
          .enabled = true, .last_backup = NOW - 2 * USEC_PER_HOUR, .last_result = (char *) "completed",
          .next_run = NOW + 5 * USEC_PER_MINUTE },
        { .name = (char *) "off", .schedule = (char *) "hourly", .calendar = (char *) "*-*-* *:00:00", .keep = 24 },
};

TEST(config_tables) {
        char *s;

        s = configs_table(configs, 2, /* full= */ true, &style);
        CHECK_STREQ(s, "NAME    SCHEDULE CALENDAR       KEEP ENABLED LAST                                    RESULT    NEXT                                  LOAD\n"
                       "default daily    *-*-* 00:00:00    7 yes     Wed 2026-11-25 00:17:10 UTC 2h 0min ago completed Wed 2026-11-25 02:22:10 UTC 5min left loaded\n"
                       "off     hourly   *-*-* *:00:00    24 no      -                                       -         disabled                              loaded\n");
        free(s);
        s = configs_table(configs, 2, /* full= */ false, &style);
        CHECK_STREQ(s, "CONFIG  SCHEDULE LAST                                    RESULT    NEXT\n"
                       "default daily    Wed 2026-11-25 00:17:10 UTC 2h 0min ago completed Wed 2026-11-25 02:22:10 UTC 5min left\n"
                       "off     hourly   -                                       -         disabled\n");
        free(s);
}

static const BackupInfo backups[] = {
        { .id = (char *) ID2, .config = (char *) "default", .state = (char *) "completed", .revision = 1234,
          .created = NOW - 90 * USEC_PER_SEC, .snapshot_size = 25165824, .size = 1536,
          .file = (char *) "/var/lib/etcd-backup/default-20261125T021540Z-" ID2 ".db.zst" },
        { .id = (char *) "failed-one", .config = (char *) "default", .state = (char *) "failed" },
        { .id = (char *) ID1, .config = (char *) "nightly", .state = (char *) "completed", .revision = 99,
          .created = NOW - 3 * USEC_PER_DAY, .snapshot_size = 512, .size = 300,
          .file = (char *) "/var/lib/etcd-backup/nightly-20261122T021710Z-" ID1 ".db.zst" },
};

TEST(backup_table) {
        size_t n;
        char *s;

        s = backups_table(backups, 3, NULL, &style, &n);
        CHECK_EQ(n, 2);
        CHECK(strstr(s, "ID                                   CONFIG  CREATED"));
        CHECK(strstr(s, " REVISION SNAPSHOT SIZE FILE\n"));
        /* Local times and how long ago, as in the configuration tables. */
        CHECK(strstr(s, ID2 " default Wed 2026-11-25 02:15:40 UTC 1min 30s ago "));
        CHECK(strstr(s, ID1 " nightly Sun 2026-11-22 02:17:10 UTC 3 days ago    "));
        CHECK(strstr(s, "/var/lib/etcd-backup/default-20261125T021540Z-" ID2 ".db.zst\n"));
        CHECK(!strstr(s, "failed-one"));
        /* Sizes as systemd's format_bytes(): base 1024, the tenths cut. */
        CHECK(strstr(s, "    24.0M 1.5K /var/lib/etcd-backup/default-"));
        CHECK(strstr(s, "     512B 300B /var/lib/etcd-backup/nightly-"));
        free(s);

        s = backups_table(backups, 3, "nightly", &style, &n);
        CHECK_EQ(n, 1);
        CHECK(!strstr(s, ID2));
        free(s);
        s = backups_table(backups, 3, "none", &style, &n);
        CHECK_EQ(n, 0);
        CHECK_STREQ(s, "");
        free(s);
}

static char *json_of(void (*f)(JsonWriter *w, const void *x), const void *x) {
        char *buf = NULL;
        size_t size = 0;
        FILE *m = open_memstream(&buf, &size);
        JsonWriter w = { .f = m };

        f(&w, x);
        fclose(m);
        return buf;
}

static void backup_json(JsonWriter *w, const void *x) {
        json_backup(w, x);
}
static void config_json(JsonWriter *w, const void *x) {
        json_config(w, x);
}
static void restore_json(JsonWriter *w, const void *x) {
        json_restore(w, x);
}

/* Each time twice: RFC 3339 as it always was, and µs since the epoch beside it, as systemd's JSON
 * tables have times; null both when it never happened. */
TEST(json_times) {
        RestoreInfo restore = { .id = (char *) ID1, .started = NOW + 1, .finished = 0 };
        char *s;

        s = json_of(backup_json, &backups[0]);
        CHECK(strstr(s, ",\"created\":\"2026-11-25T02:15:40Z\",\"created_usec\":1795572940000000,"));
        CHECK(strstr(s, ",\"completed\":null,\"completed_usec\":null,"));
        free(s);
        s = json_of(config_json, &configs[0]);
        CHECK(strstr(s, ",\"last_backup\":\"2026-11-25T00:17:10Z\",\"last_backup_usec\":1795565830000000,"));
        CHECK(strstr(s, ",\"next_run\":\"2026-11-25T02:22:10Z\",\"next_run_usec\":1795573330000000,"));
        free(s);
        s = json_of(config_json, &configs[1]);
        CHECK(strstr(s, ",\"last_backup\":null,\"last_backup_usec\":null,"));
        CHECK(strstr(s, ",\"next_run\":null,\"next_run_usec\":null,"));
        free(s);
        s = json_of(restore_json, &restore);
        CHECK(strstr(s, ",\"started\":\"2026-11-25T02:17:10Z\",\"started_usec\":1795573030000001,"));
        CHECK(strstr(s, ",\"finished\":null,\"finished_usec\":null,"));
        free(s);
}

/* The words of the first line. */
static size_t header_words(const char *s) {
        size_t n = 0;

        for (const char *p = s; *p && *p != '\n'; p++)
                n += *p != ' ' && (p == s || p[-1] == ' ');
        return n;
}

/* Every header one word, so that `awk '{print $N}'` finds the same column in the header as in
 * the rows: as many words in the header as there are columns. */
TEST(single_word_headers) {
        RestoreInfo restore = { .id = (char *) ID1, .kind = (char *) "restore", .phase = (char *) "completed" };
        char *buf = NULL, *s;
        size_t size = 0, n;
        FILE *f;

        s = configs_table(configs, 2, true, &style);
        CHECK_EQ(header_words(s), 9);
        free(s);
        s = configs_table(configs, 2, false, &style);
        CHECK_EQ(header_words(s), 5);
        free(s);
        s = backups_table(backups, 3, NULL, &style, &n);
        CHECK_EQ(header_words(s), 7);
        free(s);
        f = open_memstream(&buf, &size);
        CHECK_EQ(restore_print_table(&restore, 1, &style, f), 0);
        fclose(f);
        CHECK_EQ(header_words(buf), 7);
        free(buf);
}

int main(void) {
        setenv("TZ", "UTC", 1);
        tzset();
        RUN(config_tables);
        RUN(backup_table);
        RUN(single_word_headers);
        RUN(json_times);
        return tap_finish();
}
