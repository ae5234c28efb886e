/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Schedules to calendars, for a table of cases: the exact expression, the default retention,
 * and a cross-check with systemd's own parser: `systemd-analyze calendar` must give the same
 * next five elapses for our expression as for a reference written independently by hand.
 */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "backup-config.h"
#include "conf-parser.h"
#include "schedule.h"
#include "string-util.h"
#include "tap.h"

static const struct {
        const char *schedule;
        const char *calendar;
        unsigned keep;
        ScheduleKind kind;
        const char *reference; /* the same times, spelled differently */
} good[] = {
        { "hourly", "hourly", 24, SCHEDULE_PRESET, "*-*-* *:00:00" },
        { "daily", "daily", 7, SCHEDULE_PRESET, "*-*-* 00:00:00" },
        { "weekly", "weekly", 4, SCHEDULE_PRESET, "Mon *-*-* 00:00:00" },
        { "monthly", "monthly", 3, SCHEDULE_PRESET, "*-*-01 00:00:00" },
        { "@daily", "daily", 7, SCHEDULE_PRESET, "*-*-* 00:00" },
        { "hourly at :15", "*-*-* *:15:00", 24, SCHEDULE_PRESET_AT, "*:15" },
        { "daily at 02:30", "*-*-* 02:30:00", 7, SCHEDULE_PRESET_AT, "02:30" },
        { "weekly at 22:00", "Mon *-*-* 22:00:00", 4, SCHEDULE_PRESET_AT, "Monday 22:00" },
        { "monthly at 03:00", "*-*-01 03:00:00", 3, SCHEDULE_PRESET_AT, "*-*-1 03:00" },
        { "@every 20m", "*:0/20", 20, SCHEDULE_INTERVAL, "*:00,20,40" },
        { "@every 6h", "0/6:00", 20, SCHEDULE_INTERVAL, "00,06,12,18:00" },
        { "@every 1d", "*-*-* 00:00:00", 20, SCHEDULE_INTERVAL, "daily" },
        { "@every 1h", "0/1:00", 20, SCHEDULE_INTERVAL, "hourly" },
        { "@every 15min", "*:0/15", 20, SCHEDULE_INTERVAL, "*:00,15,30,45" },
        { "@every 2 hours", "0/2:00", 20, SCHEDULE_INTERVAL, "00,02,04,06,08,10,12,14,16,18,20,22:00" },
        { "@every 1h 0min", "0/1:00", 20, SCHEDULE_INTERVAL, "*:00" },
        { "@every 6h from 02:00", "02/6:00", 20, SCHEDULE_INTERVAL_FROM, "02,08,14,20:00" },
        { "@every 30m from 00:10", "*:10/30", 20, SCHEDULE_INTERVAL_FROM, "*:10,40" },
        { "@every 30m from 00:50", "*:20/30", 20, SCHEDULE_INTERVAL_FROM, "*:20,50" },
        { "@every 6h from 14:30", "02/6:30", 20, SCHEDULE_INTERVAL_FROM, "02,08,14,20:30" },
        { "@every 1d from 02:00", "*-*-* 02:00:00", 20, SCHEDULE_INTERVAL_FROM, "02:00" },
        { "0 2 * * *", "*-*-* 02:00:00", 20, SCHEDULE_CRON, "02:00" },
        { "*/15 * * * *", "*-*-* *:00/15:00", 20, SCHEDULE_CRON, "*:00,15,30,45" },
        { "30 1 * * 1-5", "Mon..Fri *-*-* 01:30:00", 20, SCHEDULE_CRON, "Mon,Tue,Wed,Thu,Fri 01:30" },
        { "0 3 * * sun", "Sun *-*-* 03:00:00", 20, SCHEDULE_CRON, "Sunday 03:00" },
        { "0 3 * * 0,6", "Sat..Sun *-*-* 03:00:00", 20, SCHEDULE_CRON, "Sat,Sun 03:00" },
        { "0 3 * * 7", "Sun *-*-* 03:00:00", 20, SCHEDULE_CRON, "Sun 03:00" },
        { "0 4 * * */2", "Tue,Thu,Sat..Sun *-*-* 04:00:00", 20, SCHEDULE_CRON, "Sun,Tue,Thu,Sat 04:00" },
        { "5 4 1,15 * *", "*-*-01,15 04:05:00", 20, SCHEDULE_CRON, "*-*-1,15 04:05" },
        { "0 0 1 */3 *", "*-01/3-01 00:00:00", 20, SCHEDULE_CRON, "*-01,04,07,10-01 00:00" },
        { "10-50/20 * * * *", "*-*-* *:10..50/20:00", 20, SCHEDULE_CRON, "*:10,30,50" },
        { "0 0 * jan,Jul *", "*-01,07-* 00:00:00", 20, SCHEDULE_CRON, "*-1,7-* 00:00" },
        { "0 12 * * MON-fri", "Mon..Fri *-*-* 12:00:00", 20, SCHEDULE_CRON, "Mon..Fri 12:00" },
        { "@hourly", "hourly", 24, SCHEDULE_PRESET, "*:00" },
        { "Mon..Fri *-*-* 01:30", "Mon..Fri *-*-* 01:30", 20, SCHEDULE_CALENDAR, "Mon,Tue,Wed,Thu,Fri 01:30:00" },
        { "*-*-1,15 04:00", "*-*-1,15 04:00", 20, SCHEDULE_CALENDAR, "*-*-01,15 04:00:00" },
        { "  daily  ", "daily", 7, SCHEDULE_PRESET, "00:00" },
        /* cron's day rule goes by the leading '*': both day fields restricted, either one
         * matching runs the job, so a field that matches every day makes it daily... */
        { "0 0 15 * 0-7", "*-*-* 00:00:00", 20, SCHEDULE_CRON, "daily" },
        { "0 0 15 * 0-6", "*-*-* 00:00:00", 20, SCHEDULE_CRON, "daily" },
        { "0 0 1-31 * 1", "*-*-* 00:00:00", 20, SCHEDULE_CRON, "daily" },
        { "30 6 1-31 * mon-fri", "*-*-* 06:30:00", 20, SCHEDULE_CRON, "06:30" },
        /* ...and with a '*' in front of either, both must match, as in a calendar. */
        { "0 0 */2 * 1", "Mon *-*-01/2 00:00:00", 20, SCHEDULE_CRON,
          "Mon *-*-1,3,5,7,9,11,13,15,17,19,21,23,25,27,29,31 00:00" },
        { "0 0 1 * */3", "Wed,Sat..Sun *-*-01 00:00:00", 20, SCHEDULE_CRON, "Sun,Wed,Sat *-*-1 00:00" },
        { "0 0 */10 * 6", "Sat *-*-01/10 00:00:00", 20, SCHEDULE_CRON, "Sat *-*-1,11,21,31 00:00" },
};

static const struct {
        const char *schedule;
        const char *message; /* a part of the message */
} bad[] = {
        { "@every 7m", "repeats evenly neither within an hour nor within a day" },
        { "@every 5h", "repeats evenly neither within an hour nor within a day" },
        { "@every 90m", "e.g. \"@every 20m\"" },
        { "@every 2d", "no calendar can express it" },
        { "@every 30s", "whole minutes" },
        { "@every 0m", "not a time span" },
        { "@every 1.5h", "not a time span" },
        { "@every 20 parsecs", "not a time span" },
        { "@every 20M", "not a time span" },
        { "@every", "expected \"@every SPAN\"" },
        { "@everyday", "expected \"@every SPAN\"" },
        { "@reboot", "@hourly, @daily" },
        { "@every 6h from 25:00", "time of day HH:MM after \"from\"" },
        { "@every 6h from 2:00", "time of day HH:MM after \"from\"" },
        { "daily at 25:00", "time of day HH:MM" },
        { "daily at noon", "time of day HH:MM" },
        { "hourly at 15", ":MM" },
        { "60 * * * *", "bad minute field" },
        { "0 24 * * *", "bad hour field" },
        { "0 0 0 * *", "bad day of month field" },
        { "0 0 * 13 *", "bad month field" },
        { "0 2 * * 8", "bad day of week field" },
        { "0 2 * * mon-sun-x", "bad day of week field" },
        { "5-1 * * * *", "bad minute field" },
        { "*/0 * * * *", "bad minute field" },
        { "0 2 1 * 1", "AND day of week" },
        { "0 0 1-30 * 1-5", "AND day of week" },
        { "0 0 1,15 * 0-5", "AND day of week" },
        { "daily\nOnCalendar=*:*", "control character" },
        { "\ndaily", "control character" },
        { "daily\n", "control character" },
        { "0\t2 * * *", "control character" },
        { "daily\x7f", "control character" },
        { "50%", "characters" },
        { "*-*-* 01:00 \\", "characters" },
        { "", "Empty schedule" },
        { "   ", "Empty schedule" },
        { "every day at [noon]", "not a preset" },
};

/* The next five elapses of a calendar, as systemd computes them. */
static char *next_elapses(const char *calendar) {
        char cmd[512], *out = NULL;
        size_t size = 0;
        FILE *f, *o;
        char line[256];

        snprintf(cmd, sizeof(cmd), "systemd-analyze calendar --iterations=5 '%s' 2>&1", calendar);
        f = popen(cmd, "re");
        o = open_memstream(&out, &size);
        while (f && fgets(line, sizeof(line), f))
                if (strstr(line, "Next elapse:") || strstr(line, "Iter. #"))
                        fputs(strchr(line, ':'), o);
        fclose(o);
        if (f && pclose(f) != 0) {
                free(out);
                return NULL;
        }
        return out;
}

TEST(translations) {
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                Schedule s = {};
                char *message = NULL;

                if (schedule_parse(good[i].schedule, &s, &message) < 0) {
                        printf("#   \"%s\" refused: %s\n", good[i].schedule, message);
                        tap_current_failed = true;
                } else if (!streq(s.calendar, good[i].calendar) || s.default_keep != good[i].keep || s.kind != good[i].kind) {
                        printf("#   \"%s\" -> \"%s\" keep %u kind %s; expected \"%s\" keep %u kind %s\n", good[i].schedule,
                               s.calendar, s.default_keep, schedule_kind_to_string(s.kind), good[i].calendar,
                               good[i].keep, schedule_kind_to_string(good[i].kind));
                        tap_current_failed = true;
                }
                schedule_done(&s);
                free(message);
        }
}

TEST(systemd_agrees) {
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                char *a = next_elapses(good[i].calendar), *b = next_elapses(good[i].reference);

                if (!a || !b || !*a || strcmp(a, b) != 0) {
                        printf("#   \"%s\" (%s) and its reference \"%s\" differ for systemd-analyze calendar:\n#   %s\n#   %s\n",
                               good[i].schedule, good[i].calendar, good[i].reference, a ?: "(refused)", b ?: "(refused)");
                        tap_current_failed = true;
                }
                free(a);
                free(b);
        }
}

TEST(refusals) {
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                Schedule s = {};
                char *message = NULL;
                int r = schedule_parse(bad[i].schedule, &s, &message);

                if (r != -EINVAL || !message || !strstr(message, bad[i].message)) {
                        printf("#   \"%s\": r=%d, message \"%s\", expected one containing \"%s\"\n", bad[i].schedule, r,
                               strna(message), bad[i].message);
                        tap_current_failed = true;
                }
                schedule_done(&s);
                free(message);
        }
}

TEST(unknown_forms_go_to_systemd) {
        /* Not refused here: systemd's parser decides (and does refuse these). */
        static const char * const texts[] = { "0 2 * *", "evry day", "Mon..Fri 25:00" };
        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                Schedule s = {};
                CHECK_EQ(schedule_parse(texts[i], &s, NULL), 0);
                CHECK_EQ(s.kind, SCHEDULE_CALENDAR);
                CHECK(next_elapses(s.calendar) == NULL);
                schedule_done(&s);
        }
}

TEST(timespans) {
        uint64_t v;

        CHECK_EQ(parse_timespan_sec("20m", &v), 0);
        CHECK_EQ(v, 1200);
        CHECK_EQ(parse_timespan_sec("1h 30min", &v), 0);
        CHECK_EQ(v, 5400);
        CHECK_EQ(parse_timespan_sec("2 hours", &v), 0);
        CHECK_EQ(v, 7200);
        CHECK_EQ(parse_timespan_sec("1d", &v), 0);
        CHECK_EQ(v, 86400);
        CHECK_EQ(parse_timespan_sec("90", &v), 0);
        CHECK_EQ(v, 90);
        CHECK(parse_timespan_sec("", &v) < 0);
        CHECK(parse_timespan_sec("m", &v) < 0);
        CHECK(parse_timespan_sec("5 fortnights", &v) < 0);
        CHECK(parse_timespan_sec("-5m", &v) < 0);
}

TEST(timespan_overflow) {
        /* Terms chosen to sum to 2^64 + 1200 s: wrapped around, every 20 minutes. */
        const uint64_t term = 42949672959ULL * 604800ULL;
        unsigned __int128 target = ((unsigned __int128) 1 << 64) + 1200;
        uint64_t m = (uint64_t) (target / term), rest = (uint64_t) (target - (unsigned __int128) m * term), v = 0;
        char *s = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&s, &size);

        for (uint64_t i = 0; i < m; i++)
                fputs("42949672959w ", f);
        fprintf(f, "%" PRIu64 "w %" PRIu64 "s", rest / 604800, rest % 604800);
        fclose(f);
        CHECK_EQ(parse_timespan_sec(s, &v), -ERANGE);
        CHECK(v != 1200);
        free(s);

        CHECK_EQ(parse_timespan_sec("30500568904943w", &v), -ERANGE); /* one term past 2^64 s */
        CHECK_EQ(parse_timespan_sec("30500568904w", &v), 0);
        CHECK_EQ(v, 30500568904ULL * 604800ULL);
}

TEST(length_limit) {
        char s[SCHEDULE_MAX + 2], *message = NULL;
        Schedule sch = {};

        /* A calendar with a list of a few hundred minutes: long, and still taken... */
        memset(s, 0, sizeof(s));
        strcpy(s, "*-*-* 00:0");
        for (size_t n = strlen(s); n + 3 < SCHEDULE_MAX; n += 2)
                strcat(s, ",0");
        CHECK_EQ(schedule_parse(s, &sch, &message), 0);
        schedule_done(&sch);
        /* ...but not past the limit, which is refused without repeating it. */
        memset(s, 'x', SCHEDULE_MAX + 1);
        s[SCHEDULE_MAX + 1] = 0;
        CHECK_EQ(schedule_parse(s, &sch, &message), -EINVAL);
        CHECK(message && strstr(message, "at most 1024") && !strstr(message, "xxx"));
        free(message);
}

/* What AddConfig accepts is saved by backup_config_save(), and must read back as the same
 * configuration: one that does not is gone after a restart, with its timer. */
TEST(saved_schedules_read_back) {
        char dir[] = "/tmp/test-schedule-XXXXXX", path[300];
        Manager m = {};

        CHECK(mkdtemp(dir) != NULL);
        m.config_dir = dir;
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                for (unsigned k = 0; k < 3; k++) {
                        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                        _cleanup_(backup_config_spec_done) BackupConfigSpec spec = {}, back = {};
                        _cleanup_free_ char *text = NULL, *message = NULL;
                        char schedule[256];

                        /* As given, with spaces around it, and without Keep. */
                        snprintf(schedule, sizeof(schedule), k == 1 ? "  %s " : "%s", good[i].schedule);
                        CHECK_EQ(backup_config_spec_init(&spec, schedule, k == 2 ? 0 : 5, k != 1, &error), 0);
                        CHECK_EQ(backup_config_save(&m, "saved", &spec, &error), 0);
                        snprintf(path, sizeof(path), "%s/saved.conf", dir);
                        CHECK_EQ(conf_read_file(path, CONF_FILE_MAX, &text), 0);
                        if (!text || backup_config_parse(text, &back, NULL, &message, NULL) < 0 ||
                            !backup_config_spec_equal(&spec, &back) || !streq(spec.parsed.calendar, back.parsed.calendar)) {
                                printf("#   \"%s\" saved as\n%s#   reads back as \"%s\" (%s)\n", schedule, strna(text),
                                       strna(back.schedule), strna(message));
                                tap_current_failed = true;
                        }
                }
        snprintf(path, sizeof(path), "rm -rf %s", dir);
        (void) !system(path);
}

TEST(config_file_refusals) {
        static const struct {
                const char *text;
                unsigned line;
                const char *message;
        } files[] = {
                { "[Backup]\nSchedule=daily\x19" "at 02:30\n", 0, "control character" }, /* found by fuzz-backup-config */
                { "[Backup]\nKeep=3\n", 0, "No Schedule=" },
                { "[Backup]\nSchedule=daily\nKeep=0\n", 3, "Invalid Keep=0" },
                { "[Backup]\nSchedule=daily\nEnabled=maybe\n", 3, "Invalid Enabled=maybe" },
                { "[Backup]\nSchedule=@every 7m\n", 0, "repeats evenly neither" },
                { "Schedule=daily\n", 1, "Syntax error" },
        };

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_(backup_config_spec_done) BackupConfigSpec spec = {};
                _cleanup_free_ char *message = NULL;
                unsigned line = 99;
                int r;

                /* -EINVAL whether or not the named errors are registered with sd-bus (they
                 * are not here). */
                r = backup_config_parse(files[i].text, &spec, &line, &message, NULL);
                if ((r != -EINVAL && r != -EBADMSG) || line != files[i].line || !message || !strstr(message, files[i].message)) {
                        printf("#   %s: r=%d line %u message \"%s\"\n", files[i].text, r, line, strna(message));
                        tap_current_failed = true;
                }
        }
}

int main(void) {
        RUN(translations);
        RUN(systemd_agrees);
        RUN(refusals);
        RUN(unknown_forms_go_to_systemd);
        RUN(timespans);
        RUN(timespan_overflow);
        RUN(length_limit);
        RUN(saved_schedules_read_back);
        RUN(config_file_refusals);
        return tap_finish();
}
