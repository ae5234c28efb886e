/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* String and string-array helpers shared by the daemon, the CLI and the tests. */

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "string-util.h"

char *startswith(const char *s, const char *prefix) {
        size_t l = strlen(prefix);
        return strncmp(s, prefix, l) == 0 ? (char *) s + l : NULL;
}

bool endswith(const char *s, const char *suffix) {
        size_t sl = strlen(s), xl = strlen(suffix);
        return sl >= xl && memcmp(s + sl - xl, suffix, xl) == 0;
}

char *strstrip(char *s) {
        char *e;

        while (isspace((unsigned char) *s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char) e[-1]))
                e--;
        *e = 0;
        return s;
}

char *hexmem(const void *p, size_t size, char *ret) {
        static const char digits[] = "0123456789abcdef";
        const uint8_t *b = p;

        for (size_t i = 0; i < size; i++) {
                ret[2 * i] = digits[b[i] >> 4];
                ret[2 * i + 1] = digits[b[i] & 15];
        }
        ret[2 * size] = 0;
        return ret;
}

static int unhexchar(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -EINVAL;
}

int unhexmem(const char *s, void *ret, size_t size) {
        uint8_t *b = ret;

        if (strlen(s) != 2 * size)
                return -EINVAL;
        for (size_t i = 0; i < size; i++) {
                int hi = unhexchar(s[2 * i]), lo = unhexchar(s[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                b[i] = (uint8_t) (hi << 4 | lo);
        }
        return 0;
}

size_t strv_length(char * const *l) {
        size_t n = 0;
        if (l)
                while (l[n])
                        n++;
        return n;
}

bool strv_contains(char * const *l, const char *s) {
        for (char * const *i = l; i && *i; i++)
                if (streq(*i, s))
                        return true;
        return false;
}

int strv_extend(char ***l, const char *s) {
        size_t n = strv_length(*l);
        _cleanup_free_ char *c = strdup(s);
        char **t;

        if (!c)
                return -ENOMEM;
        t = realloc(*l, sizeof(char *) * (n + 2));
        if (!t)
                return -ENOMEM;
        t[n] = TAKE_PTR(c);
        t[n + 1] = NULL;
        *l = t;
        return 0;
}

int strv_split_whitespace(const char *s, char ***ret) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        const char *p = s;

        if (!l)
                return -ENOMEM;
        for (;;) {
                size_t n;
                _cleanup_free_ char *w = NULL;

                p += strspn(p, " \t\n");
                if (!*p)
                        break;
                n = strcspn(p, " \t\n");
                w = strndup(p, n);
                if (!w)
                        return -ENOMEM;
                if (strv_extend(&l, w) < 0)
                        return -ENOMEM;
                p += n;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

char *strv_join_n(char * const *l, size_t n, const char *sep) {
        size_t size = 1, k = strlen(sep);
        char *r, *p;

        for (size_t i = 0; i < n; i++)
                size += strlen(l[i]) + k;
        p = r = malloc(size);
        if (!r)
                return NULL;
        *p = 0;
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        p = stpcpy(p, sep);
                p = stpcpy(p, l[i]);
        }
        return r;
}

char *strv_join(char * const *l, const char *sep) {
        return strv_join_n(l, strv_length(l), sep);
}

int safe_atou64(const char *s, uint64_t *ret) {
        char *e;
        unsigned long long v;

        /* strtoull() accepts a sign and leading space; a count or size never has either. */
        if (!s || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &e, 10);
        if (errno > 0)
                return -errno;
        if (*e)
                return -EINVAL;
        *ret = v;
        return 0;
}

int safe_atoi64(const char *s, int64_t *ret) {
        char *e;
        long long v;

        if (!s || !(isdigit((unsigned char) s[0]) || (s[0] == '-' && isdigit((unsigned char) s[1]))))
                return -EINVAL;
        errno = 0;
        v = strtoll(s, &e, 10);
        if (errno > 0)
                return -errno;
        if (*e)
                return -EINVAL;
        *ret = v;
        return 0;
}

int safe_atou(const char *s, unsigned *ret) {
        uint64_t v;
        int r = safe_atou64(s, &v);
        if (r < 0)
                return r;
        if (v > UINT_MAX)
                return -ERANGE;
        *ret = (unsigned) v;
        return 0;
}

int set_messagev(char **ret, int r, const char *format, va_list ap) {
        if (ret) {
                int saved_errno = errno; /* for a %m in format */

                free(*ret);
                errno = saved_errno;
                if (vasprintf(ret, format, ap) < 0)
                        *ret = NULL;
        }
        return r;
}

int set_message(char **ret, int r, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        r = set_messagev(ret, r, format, ap);
        va_end(ap);
        return r;
}

int parse_boolean(const char *s) {
        static const char * const yes[] = { "yes", "true", "on", "1" }, * const no[] = { "no", "false", "off", "0" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        }
        return -EINVAL;
}
