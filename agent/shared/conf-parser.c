/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The INI syntax of systemd's *.conf files, tokenized for a per-assignment callback. */

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "conf-parser.h"
#include "fs-util.h"
#include "macro.h"
#include "string-util.h"

static int parse_line(char *l, char **section, conf_assignment_t cb, void *userdata, unsigned line) {
        char *e, *key, *value;

        l = strstrip(l);
        if (!*l || strchr("#;", *l))
                return 0;

        if (*l == '[') {
                size_t n = strlen(l);
                char *s;

                if (n < 3 || l[n - 1] != ']')
                        return -EBADMSG;
                s = strndup(l + 1, n - 2);
                if (!s)
                        return -ENOMEM;
                free(*section);
                *section = s;
                return 0;
        }

        /* An assignment outside any section has no meaning in this syntax. */
        if (!*section)
                return -EBADMSG;
        e = strchr(l, '=');
        if (!e)
                return -EBADMSG;
        *e = 0;
        key = strstrip(l);
        value = strstrip(e + 1);
        if (!*key)
                return -EBADMSG;
        return cb(*section, key, value, line, userdata);
}

/* Appends n bytes of s to the logical line in *buf, doubling its allocation as needed: a long
 * run of continuation lines costs as much as reading it, not its square. */
static int line_append(char **buf, size_t *size, size_t *alloc, const char *s, size_t n) {
        if (*size + n + 1 > *alloc) {
                size_t a = MAX(*alloc * 2, *size + n + 1);
                char *t = realloc(*buf, a);
                if (!t)
                        return -ENOMEM;
                *buf = t;
                *alloc = a;
        }
        memcpy(*buf + *size, s, n);
        *size += n;
        (*buf)[*size] = 0;
        return 0;
}

int conf_parse_string(const char *text, conf_assignment_t cb, void *userdata, unsigned *ret_line) {
        _cleanup_free_ char *section = NULL, *buf = NULL;
        size_t size = 0, alloc = 0;
        bool continued = false;
        const char *p = text;
        unsigned line = 0, first_line = 0;
        int r;

        while (*p) {
                const char *l = p, *s, *e;
                size_t n = strcspn(p, "\n");

                p += n + (p[n] == '\n');
                line++;

                /* The line without surrounding whitespace is [s, e). */
                for (s = l; s < l + n && isspace((unsigned char) *s); s++)
                        ;
                for (e = l + n; e > s && isspace((unsigned char) e[-1]); e--)
                        ;

                if (continued) {
                        /* Inside a continuation, comment (and empty) lines are skipped, as systemd
                         * does; the others join the line after a space, without their own. */
                        if (s == e || strchr("#;", *s))
                                continue;
                        r = line_append(&buf, &size, &alloc, " ", 1);
                        if (r >= 0)
                                r = line_append(&buf, &size, &alloc, s, (size_t) (e - s));
                } else {
                        size = 0;
                        first_line = line;
                        r = line_append(&buf, &size, &alloc, l, n);
                }
                if (r < 0)
                        return r;

                continued = size > 0 && buf[size - 1] == '\\';
                if (continued) {
                        buf[--size] = 0;
                        continue;
                }

                r = parse_line(buf, &section, cb, userdata, first_line);
                if (r < 0) {
                        if (ret_line)
                                *ret_line = first_line;
                        return r;
                }
        }

        if (continued) {
                r = parse_line(buf, &section, cb, userdata, first_line);
                if (r < 0) {
                        if (ret_line)
                                *ret_line = first_line;
                        return r;
                }
        }
        return 0;
}

int conf_read_file(const char *path, size_t max, char **ret) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = read_full_file(path, max, &text, &size);
        if (r < 0)
                return r;
        /* A NUL inside the file would silently cut it short. */
        if (strlen(text) != size)
                return -EBADMSG;
        *ret = TAKE_PTR(text);
        return 0;
}

int conf_parse_file(const char *path, size_t max, conf_assignment_t cb, void *userdata, unsigned *ret_line) {
        _cleanup_free_ char *text = NULL;
        int r;

        if (ret_line)
                *ret_line = 0;
        r = conf_read_file(path, max, &text);
        if (r < 0)
                return r;
        return conf_parse_string(text, cb, userdata, ret_line);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char * const *) a, *(char * const *) b);
}

int conf_list_dropins(const char *dir, char ***ret) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        DIR *d;
        struct dirent *de;
        size_t n = 0;
        int r = 0;

        if (!l)
                return -ENOMEM;
        d = opendir(dir);
        if (!d) {
                if (errno != ENOENT)
                        return -errno;
                *ret = TAKE_PTR(l);
                return 0;
        }
        while ((de = readdir(d))) {
                _cleanup_free_ char *p = NULL;

                if (de->d_name[0] == '.' || !endswith(de->d_name, ".conf"))
                        continue;
                if (asprintf(&p, "%s/%s", dir, de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                r = strv_extend_counted(&l, &n, p);
                if (r < 0)
                        break;
        }
        closedir(d);
        if (r < 0)
                return r;
        qsort(l, n, sizeof(char *), cmp_str);
        *ret = TAKE_PTR(l);
        return 0;
}
