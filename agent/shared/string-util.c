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

int strv_extend_counted(char ***l, size_t *n, const char *s) {
        _cleanup_free_ char *c = strdup(s);
        size_t slots = 1;

        if (!c)
                return -ENOMEM;
        /* The allocation is kept at the power of two at or above n + 1 slots, so it grows only
         * when n + 2 passes one: a list of n costs n copies in all, not n squared. */
        while (slots < *n + 1)
                slots *= 2;
        if (*n + 2 > slots) {
                char **t = reallocarray(*l, slots * 2, sizeof(char *));
                if (!t)
                        return -ENOMEM;
                *l = t;
        }
        (*l)[(*n)++] = TAKE_PTR(c);
        (*l)[*n] = NULL;
        return 0;
}

int strv_extend_strv(char ***l, char * const *add) {
        size_t n = strv_length(*l), k = strv_length(add);
        char **t;

        t = reallocarray(*l, n + k + 1, sizeof(char *));
        if (!t)
                return -ENOMEM;
        *l = t;
        for (size_t i = 0; i < k; i++) {
                t[n + i] = strdup(add[i]);
                if (!t[n + i]) {
                        t[n + i] = NULL;
                        return -ENOMEM;
                }
        }
        t[n + k] = NULL;
        return 0;
}

int strv_split_whitespace(const char *s, char ***ret) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        const char *p = s;
        size_t n = 0;

        if (!l)
                return -ENOMEM;
        for (;;) {
                size_t k;
                _cleanup_free_ char *w = NULL;

                p += strspn(p, " \t\n");
                if (!*p)
                        break;
                k = strcspn(p, " \t\n");
                w = strndup(p, k);
                if (!w)
                        return -ENOMEM;
                if (strv_extend_counted(&l, &n, w) < 0)
                        return -ENOMEM;
                p += k;
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

/* The code point at s and its length in bytes, or 0 for a byte that starts no valid sequence.
 * Valid as sd-bus has it (D-Bus strings must be): the shortest form, no UTF-16 surrogates,
 * nothing past U+10FFFF, and none of Unicode's noncharacters (U+FDD0..U+FDEF, U+xFFFE and
 * U+xFFFF), which sd-bus refuses too. A NUL ends every sequence, so s is never read past it. */
static size_t utf8_decode(const char *s, uint32_t *ret) {
        const uint8_t *b = (const uint8_t *) s;
        size_t n;
        uint32_t c;

        if (b[0] < 0x80) {
                *ret = b[0];
                return 1;
        }
        if (b[0] < 0xc2) /* a continuation byte, or the start of an overlong form */
                return 0;
        if (b[0] < 0xe0)
                n = 2, c = b[0] & 0x1f;
        else if (b[0] < 0xf0)
                n = 3, c = b[0] & 0x0f;
        else if (b[0] < 0xf5)
                n = 4, c = b[0] & 0x07;
        else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((b[i] & 0xc0) != 0x80)
                        return 0;
                c = c << 6 | (b[i] & 0x3f);
        }
        if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) ||
            (c >= 0xfdd0 && c <= 0xfdef) || (c & 0xfffe) == 0xfffe)
                return 0;
        *ret = c;
        return n;
}

static bool unichar_is_control(uint32_t c) {
        return c < 0x20 || (c >= 0x7f && c < 0xa0);
}

bool utf8_is_valid(const char *s) {
        uint32_t c;

        for (size_t n; *s; s += n) {
                n = utf8_decode(s, &c);
                if (n == 0)
                        return false;
        }
        return true;
}

bool utf8_is_printable(const char *s) {
        uint32_t c;

        for (size_t n; *s; s += n) {
                n = utf8_decode(s, &c);
                if (n == 0 || unichar_is_control(c))
                        return false;
        }
        return true;
}

char *utf8_sanitize(const char *s, size_t max) {
        char *buf, *p;
        uint32_t c;

        /* At most 4 bytes out for each byte in: a control character's escape. */
        p = buf = malloc(strlen(s) * 4 + 1);
        if (!buf)
                return NULL;
        for (size_t n; *s; s += n) {
                n = utf8_decode(s, &c);
                if (n == 0) {
                        n = 1;
                        p = stpcpy(p, "\xef\xbf\xbd"); /* U+FFFD */
                } else if (unichar_is_control(c))
                        p += sprintf(p, "\\x%02x", (unsigned) c);
                else
                        p = mempcpy(p, s, n);
        }
        *p = 0;

        if ((size_t) (p - buf) > max) {
                /* Back to a character boundary with room for the mark. */
                p = buf + (max > 3 ? max - 3 : 0);
                while (p > buf && ((uint8_t) *p & 0xc0) == 0x80)
                        p--;
                strcpy(p, max >= 3 ? "..." : "");
        }
        return buf;
}

char *strdup_printf(const char *format, ...) {
        va_list ap;
        char *s;
        int r;

        va_start(ap, format);
        r = vasprintf(&s, format, ap);
        va_end(ap);
        return r < 0 ? NULL : s;
}
