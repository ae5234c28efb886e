/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Schedules to systemd calendars. The forms are told apart by their shape: a preset word
 * (optionally "at" a time), "@every SPAN [from HH:MM]", five cron fields, and anything else is
 * taken for a systemd calendar. Intervals become a calendar with that cadence, which exists only
 * for intervals that divide an hour or a day: a calendar restarts every hour and every day, so
 * "@every 7m" or "@every 5h" would skip or bunch up at the boundaries, and are refused.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "schedule.h"
#include "string-util.h"

static const char * const schedule_kind_table[_SCHEDULE_KIND_MAX] = {
        [SCHEDULE_PRESET] = "preset",
        [SCHEDULE_PRESET_AT] = "preset-at",
        [SCHEDULE_INTERVAL] = "interval",
        [SCHEDULE_INTERVAL_FROM] = "interval-from",
        [SCHEDULE_CRON] = "cron",
        [SCHEDULE_CALENDAR] = "calendar",
};

const char *schedule_kind_to_string(ScheduleKind k) {
        return k >= 0 && k < _SCHEDULE_KIND_MAX ? schedule_kind_table[k] : NULL;
}

/* "PRESET at TIME" becomes DATE TIME: the date part of systemd's meaning of the word. */
static const struct {
        const char *word;
        const char *cron_alias;
        const char *date;
        unsigned keep;
} presets[] = {
        { "hourly", "@hourly", "*-*-*", 24 },
        { "daily", "@daily", "*-*-*", 7 },
        { "weekly", "@weekly", "Mon *-*-*", 4 },
        { "monthly", "@monthly", "*-*-01", 3 },
};

#define INTERVAL_HINT                                                                                  \
        "use minutes that divide an hour (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30m), hours that divide a " \
        "day (1, 2, 3, 4, 6, 8, 12h) or 1d, e.g. \"@every 20m\" or \"@every 6h from 02:00\""

void schedule_done(Schedule *s) {
        s->calendar = mfree(s->calendar);
}

int parse_timespan_sec(const char *s, uint64_t *ret) {
        static const struct {
                const char *suffix;
                uint64_t sec;
        } units[] = {
                { "seconds", 1 }, { "second", 1 }, { "sec", 1 },   { "s", 1 },        { "minutes", 60 },
                { "minute", 60 }, { "min", 60 },   { "m", 60 },    { "hours", 3600 }, { "hour", 3600 },
                { "hr", 3600 },   { "h", 3600 },   { "days", 86400 }, { "day", 86400 }, { "d", 86400 },
                { "weeks", 604800 }, { "week", 604800 }, { "w", 604800 },
        };
        uint64_t total = 0;
        bool any = false;

        for (const char *p = s;;) {
                uint64_t n = 0;
                size_t i, l;

                p += strspn(p, " ");
                if (!*p)
                        break;
                if (!isdigit((unsigned char) *p))
                        return -EINVAL;
                for (; isdigit((unsigned char) *p); p++) {
                        if (n > UINT32_MAX)
                                return -ERANGE;
                        n = n * 10 + (uint64_t) (*p - '0');
                }
                p += strspn(p, " ");
                l = strspn(p, "abcdefghijklmnopqrstuvwxyz");
                for (i = 0; i < ELEMENTSOF(units); i++)
                        if (l == strlen(units[i].suffix) && strncmp(p, units[i].suffix, l) == 0)
                                break;
                /* A bare number means seconds, as in systemd; anything else unknown is refused
                 * (systemd's "M" is a month, not a minute, and none of ours). */
                if (l > 0 && i >= ELEMENTSOF(units))
                        return -EINVAL;
                /* Terms add up: a sum that wraps around would be some other, short span. */
                if (__builtin_mul_overflow(n, l > 0 ? units[i].sec : 1, &n) || __builtin_add_overflow(total, n, &total))
                        return -ERANGE;
                p += l;
                any = true;
        }
        if (!any)
                return -EINVAL;
        *ret = total;
        return 0;
}

/* "HH:MM" with 0 <= HH <= 23, 0 <= MM <= 59; for hourly also ":MM". */
static int parse_time_of_day(const char *s, bool minute_only, unsigned *ret_hour, unsigned *ret_minute) {
        unsigned h = 0, m;
        int n = 0;

        if (minute_only) {
                if (sscanf(s, ":%2u%n", &m, &n) != 1 || (size_t) n != strlen(s) || strlen(s) != 3)
                        return -EINVAL;
        } else if (sscanf(s, "%2u:%2u%n", &h, &m, &n) != 2 || (size_t) n != strlen(s) || strlen(s) != 5)
                return -EINVAL;
        if (h > 23 || m > 59)
                return -EINVAL;
        *ret_hour = h;
        *ret_minute = m;
        return 0;
}

static int parse_interval(const char *text, const char *spec, Schedule *s, char **ret_message) {
        _cleanup_free_ char *span = NULL;
        const char *from = strstr(spec, " from ");
        unsigned from_h = 0, from_m = 0;
        uint64_t sec, minutes;
        int r;

        span = from ? strndup(spec, (size_t) (from - spec)) : strdup(spec);
        if (!span)
                return -ENOMEM;
        if (from) {
                if (parse_time_of_day(from + strlen(" from "), false, &from_h, &from_m) < 0)
                        return set_message(ret_message, -EINVAL, "Invalid schedule \"%s\": expected a time of day HH:MM after \"from\", e.g. \"@every 6h from 02:00\".",
                                    text);
        }
        if (parse_timespan_sec(span, &sec) < 0 || sec == 0)
                return set_message(ret_message, -EINVAL, "Invalid schedule \"%s\": \"%s\" is not a time span; expected e.g. \"@every 20m\", \"@every 6h\" or \"@every 1d\".",
                            text, span);
        if (sec % 60 != 0)
                return set_message(ret_message, -EINVAL, "Invalid schedule \"%s\": backups are scheduled in whole minutes; %s.", text,
                            INTERVAL_HINT);

        s->kind = from ? SCHEDULE_INTERVAL_FROM : SCHEDULE_INTERVAL;
        s->default_keep = SCHEDULE_DEFAULT_KEEP;
        minutes = sec / 60;
        /* The cadence is anchored at the given time and, since it divides the hour or the day,
         * passes through the same minutes (or hours) every hour (or day): start at the first of
         * them, the time modulo the interval. */
        if (minutes < 60 && 60 % minutes == 0)
                r = asprintf(&s->calendar, "*:%u/%u", (unsigned) (from_m % minutes), (unsigned) minutes);
        else if (minutes % 60 == 0 && minutes < 24 * 60 && (24 * 60) % minutes == 0)
                r = from ? asprintf(&s->calendar, "%02u/%u:%02u", (unsigned) (from_h % (minutes / 60)),
                                    (unsigned) (minutes / 60), from_m)
                         : asprintf(&s->calendar, "0/%u:00", (unsigned) (minutes / 60));
        else if (minutes == 24 * 60)
                r = asprintf(&s->calendar, "*-*-* %02u:%02u:00", from_h, from_m);
        else
                return set_message(ret_message, -EINVAL,
                            "Invalid schedule \"%s\": %s repeats evenly neither within an hour nor within a day, so no calendar can express it; %s.",
                            text, span, INTERVAL_HINT);
        return r < 0 ? -ENOMEM : 0;
}

/* ---- cron ---------------------------------------------------------------------------------- */

typedef struct CronField {
        const char *name;
        unsigned min, max;
        const char * const *names; /* JAN.., SUN.. */
} CronField;

static const char * const month_names[] = { "jan", "feb", "mar", "apr", "may", "jun",
                                            "jul", "aug", "sep", "oct", "nov", "dec", NULL };
static const char * const dow_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL };
/* systemd's weekdays, indexed by cron's numbers (0 and 7 are both Sunday). */
static const char * const dow_systemd[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };

static const CronField cron_fields[5] = {
        { "minute", 0, 59, NULL },
        { "hour", 0, 23, NULL },
        { "day of month", 1, 31, NULL },
        { "month", 1, 12, month_names },
        { "day of week", 0, 7, dow_names },
};

static int cron_value(const CronField *f, const char *s, size_t n, unsigned *ret) {
        char buf[8];
        unsigned v;
        char *e;

        if (n == 0 || n >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, n);
        buf[n] = 0;
        for (size_t i = 0; f->names && f->names[i]; i++)
                if (strcasecmp(buf, f->names[i]) == 0) {
                        *ret = (unsigned) i + (f->min == 1 ? 1 : 0);
                        return 0;
                }
        if (!isdigit((unsigned char) buf[0]))
                return -EINVAL;
        v = (unsigned) strtoul(buf, &e, 10);
        if (*e || v < f->min || v > f->max)
                return -EINVAL;
        *ret = v;
        return 0;
}

typedef struct CronItem {
        bool star;
        unsigned from, to, step; /* to == from for a single value; step 0 for none */
} CronItem;

static int cron_item(const CronField *f, const char *s, CronItem *ret) {
        const char *slash = strchr(s, '/'), *dash;
        size_t n = slash ? (size_t) (slash - s) : strlen(s);
        CronItem it = {};
        int r;

        if (slash) {
                char *e;
                unsigned long step = strtoul(slash + 1, &e, 10);
                if (!isdigit((unsigned char) slash[1]) || *e || step < 1 || step > f->max)
                        return -EINVAL;
                it.step = (unsigned) step;
        }
        if (n == 1 && s[0] == '*') {
                it.star = true;
                it.from = f->min;
                it.to = f->max == 7 ? 6 : f->max;
        } else {
                dash = memchr(s, '-', n);
                r = cron_value(f, s, dash ? (size_t) (dash - s) : n, &it.from);
                if (r < 0)
                        return r;
                if (dash) {
                        r = cron_value(f, dash + 1, n - (size_t) (dash - s) - 1, &it.to);
                        if (r < 0 || it.to < it.from)
                                return -EINVAL;
                } else
                        it.to = it.step > 0 ? (f->max == 7 ? 6 : f->max) : it.from; /* "a/n": a to the end */
        }
        *ret = it;
        return 0;
}

/* One cron field, minute to month, in systemd's syntax: "*", "05", "01..05", "00/15", "01..20/5",
 * comma-separated; and the set of values it matches, as bits. */
static int cron_field_to_calendar(const CronField *f, char *field, char **ret, uint64_t *ret_values) {
        _cleanup_free_ char *out = NULL;
        char *item, *save = NULL;
        uint64_t values = 0;
        size_t len = 0;

        for (item = strtok_r(field, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
                char piece[32];
                CronItem it;

                if (cron_item(f, item, &it) < 0)
                        return -EINVAL;
                for (unsigned v = it.from; v <= it.to; v += it.step ?: 1)
                        values |= UINT64_C(1) << v;
                if (it.star && it.step == 0)
                        snprintf(piece, sizeof(piece), "*");
                else if (it.star)
                        snprintf(piece, sizeof(piece), "%02u/%u", f->min, it.step);
                else if (it.from == it.to && it.step == 0)
                        snprintf(piece, sizeof(piece), "%02u", it.from);
                else if (it.step == 0)
                        snprintf(piece, sizeof(piece), "%02u..%02u", it.from, it.to);
                else
                        snprintf(piece, sizeof(piece), "%02u..%02u/%u", it.from, it.to, it.step);

                char *t = realloc(out, len + strlen(piece) + 2);
                if (!t)
                        return -ENOMEM;
                out = t;
                len += (size_t) sprintf(out + len, "%s%s", len > 0 ? "," : "", piece);
        }
        if (!out)
                return -EINVAL;
        *ret = TAKE_PTR(out);
        *ret_values = values;
        return 0;
}

/* Days of week become names: cron's 0-7 (Sunday twice) has no direct systemd range syntax when
 * it wraps, so the set is computed and printed in systemd's Mon..Sun order. "" for every day. */
static int cron_dow_to_calendar(char *field, char **ret) {
        static const unsigned order[] = { 1, 2, 3, 4, 5, 6, 0 }; /* Mon..Sun as cron numbers */
        bool days[7] = {}, all = true;
        char out[64] = "", *item, *save = NULL;

        for (item = strtok_r(field, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
                CronItem it;

                if (cron_item(&cron_fields[4], item, &it) < 0)
                        return -EINVAL;
                for (unsigned d = it.from; d <= it.to; d += it.step ?: 1)
                        days[d % 7] = true;
        }
        for (unsigned i = 0; i < 7; i++)
                all = all && days[i];
        if (!all)
                for (unsigned i = 0; i < 7;) {
                        unsigned j = i;

                        if (!days[order[i]]) {
                                i++;
                                continue;
                        }
                        while (j + 1 < 7 && days[order[j + 1]])
                                j++;
                        snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s%s%s", out[0] ? "," : "",
                                 dow_systemd[order[i]], j > i ? ".." : "", j > i ? dow_systemd[order[j]] : "");
                        i = j + 1;
                }
        *ret = strdup(out);
        return *ret ? 0 : -ENOMEM;
}

/* Every day of a month, as bits of the day-of-month field's values. */
#define CRON_EVERY_DAY_OF_MONTH (((UINT64_C(1) << 32) - 1) & ~UINT64_C(1))

static int parse_cron(const char *text, char **fields, Schedule *s, char **ret_message) {
        char *cal[4] = {};
        _cleanup_free_ char *dow = NULL;
        /* cron's own rule (a field is "restricted" unless it begins with '*'): when both day
         * fields are restricted, a day matching either runs the job; otherwise both must
         * match, as in a calendar. So "0 0 15 * 0-7" runs daily, and every other day of the
         * month written with a leading star, on a Monday only. */
        bool either = fields[2][0] != '*' && fields[4][0] != '*';
        uint64_t values[4];
        int r = 0;

        for (size_t i = 0; i < 4 && r >= 0; i++) {
                r = cron_field_to_calendar(&cron_fields[i], fields[i], &cal[i], &values[i]);
                if (r == -EINVAL)
                        r = set_message(ret_message, r, "Invalid schedule \"%s\": bad %s field in cron syntax; expected e.g. \"30 1 * * 1-5\" (minute hour day-of-month month day-of-week).",
                                 text, cron_fields[i].name);
        }
        if (r >= 0) {
                r = cron_dow_to_calendar(fields[4], &dow);
                if (r == -EINVAL)
                        r = set_message(ret_message, r, "Invalid schedule \"%s\": bad day of week field in cron syntax; expected e.g. \"30 1 * * 1-5\" or \"0 3 * * sun\".",
                                 text);
        }
        if (r >= 0 && either) {
                /* Either one matching is every day when one of them matches every day; any
                 * other union of days of the month and weekdays no single calendar says. */
                if (values[2] == CRON_EVERY_DAY_OF_MONTH || isempty(dow)) {
                        dow = mfree(dow);
                        free(cal[2]);
                        cal[2] = strdup("*");
                        dow = strdup("");
                        if (!cal[2] || !dow)
                                r = -ENOMEM;
                } else
                        r = set_message(ret_message, -EINVAL, "Invalid schedule \"%s\": cron's rule for a restricted day of month AND day of week (either one matches) has no calendar equivalent; restrict one of them, or give a systemd calendar such as \"*-*-01 02:00\".",
                                        text);
        }
        if (r >= 0) {
                s->kind = SCHEDULE_CRON;
                s->default_keep = SCHEDULE_DEFAULT_KEEP;
                if (asprintf(&s->calendar, "%s%s*-%s-%s %s:%s:00", strempty(dow), isempty(dow) ? "" : " ", cal[3], cal[2],
                             cal[1], cal[0]) < 0)
                        r = -ENOMEM;
        }
        for (size_t i = 0; i < 4; i++)
                free(cal[i]);
        return r;
}

/* ---- the forms, told apart -------------------------------------------------------------------- */

/* Each parse_*_form() returns 1 when the text has its form (and fills in s), 0 when it does
 * not, and a negative errno when it has the form but is wrong. */

static int parse_preset_form(const char *text, const char *t, Schedule *s, char **ret_message) {
        for (size_t i = 0; i < ELEMENTSOF(presets); i++) {
                bool hourly = i == 0;
                const char *rest;
                unsigned h, m;
                int r;

                if (streq(t, presets[i].word) || streq(t, presets[i].cron_alias)) {
                        s->kind = SCHEDULE_PRESET;
                        s->default_keep = presets[i].keep;
                        s->calendar = strdup(presets[i].word);
                        return s->calendar ? 1 : -ENOMEM;
                }
                if (!(rest = startswith(t, presets[i].word)) || !(rest = startswith(rest, " at ")))
                        continue;
                if (parse_time_of_day(rest, hourly, &h, &m) < 0)
                        return set_message(ret_message, -EINVAL, "Invalid schedule \"%s\": expected %s, e.g. \"%s\".", text,
                                    hourly ? "a minute as :MM after \"hourly at\"" : "a time of day HH:MM after \"at\"",
                                    hourly ? "hourly at :15" : "daily at 02:30");
                s->kind = SCHEDULE_PRESET_AT;
                s->default_keep = presets[i].keep;
                r = hourly ? asprintf(&s->calendar, "%s *:%02u:00", presets[i].date, m)
                           : asprintf(&s->calendar, "%s %02u:%02u:00", presets[i].date, h, m);
                return r < 0 ? -ENOMEM : 1;
        }
        return 0;
}

static int parse_interval_form(const char *text, const char *t, Schedule *s, char **ret_message) {
        const char *rest = startswith(t, "@every");
        int r;

        if (!rest) {
                if (t[0] == '@')
                        return set_message(ret_message, -EINVAL, "Invalid schedule \"%s\": expected \"@every SPAN\" or one of @hourly, @daily, @weekly, @monthly.",
                                    text);
                return 0;
        }
        if (*rest != ' ')
                return set_message(ret_message, -EINVAL, "Invalid schedule \"%s\": expected \"@every SPAN\", e.g. \"@every 20m\".", text);
        r = parse_interval(text, rest + 1, s, ret_message);
        return r < 0 ? r : 1;
}

static int parse_cron_form(const char *text, const char *t, Schedule *s, char **ret_message) {
        _cleanup_free_ char *copy = strdup(t);
        char *fields[6] = {}, *save = NULL;
        size_t n = 0;

        if (!copy)
                return -ENOMEM;
        /* Five fields of digits, names and * / , - only: cron. A calendar never looks like that:
         * its times have colons, its dates three parts joined by dashes. */
        if (strspn(t, "0123456789*/,- abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(t))
                return 0;
        for (char *f = strtok_r(copy, " ", &save); f; f = strtok_r(NULL, " ", &save))
                if (n < ELEMENTSOF(fields))
                        fields[n++] = f;
        if (n != 5)
                return 0;
        int r = parse_cron(text, fields, s, ret_message);
        return r < 0 ? r : 1;
}

static int parse_calendar_form(const char *text, const char *t, Schedule *s, char **ret_message) {
        /* Whatever is left is offered to systemd's calendar parser, which has the last word. */
        if (strspn(t, "0123456789*/,-.:~+_ abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(t))
                return set_message(ret_message, -EINVAL, "Invalid schedule \"%s\": not a preset, an @every interval, cron's five fields or a systemd calendar such as \"Mon..Fri *-*-* 01:30\".",
                            text);
        s->kind = SCHEDULE_CALENDAR;
        s->default_keep = SCHEDULE_DEFAULT_KEEP;
        s->calendar = strdup(t);
        return s->calendar ? 1 : -ENOMEM;
}

int schedule_parse(const char *text, Schedule *ret, char **ret_message) {
        _cleanup_(schedule_done) Schedule s = {};
        _cleanup_free_ char *copy = NULL;
        size_t n = strlen(text);
        char *t;
        int r;

        if (n > SCHEDULE_MAX)
                return set_message(ret_message, -EINVAL, "Invalid schedule of %zu characters: a schedule has at most %u.", n,
                                   SCHEDULE_MAX);
        /* Looked at before the spaces around it are dropped: a schedule is one line of a
         * configuration file, and a leading newline would not read back. The calendar ends up
         * on a line of a unit file too: a backslash would continue it, a % be taken for a unit
         * specifier. */
        for (const char *p = text; *p; p++) {
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return set_message(ret_message, -EINVAL, "Invalid schedule: it contains a control character (a newline, a tab, ...); a schedule is one line of text, e.g. \"daily at 02:30\".");
                if (strchr("\\%\"'", *p))
                        return set_message(ret_message, -EINVAL, "Invalid schedule \"%s\": it contains characters no schedule has.", text);
        }

        copy = strdup(text);
        if (!copy)
                return -ENOMEM;
        t = strstrip(copy);
        if (!*t)
                return set_message(ret_message, -EINVAL, "Empty schedule: expected e.g. \"daily\", \"@every 20m\" or \"0 2 * * *\".");

        r = parse_preset_form(text, t, &s, ret_message);
        if (r == 0)
                r = parse_interval_form(text, t, &s, ret_message);
        if (r == 0)
                r = parse_cron_form(text, t, &s, ret_message);
        if (r == 0)
                r = parse_calendar_form(text, t, &s, ret_message);
        if (r < 0)
                return r;

        *ret = s;
        s = (Schedule) {};
        return 0;
}
