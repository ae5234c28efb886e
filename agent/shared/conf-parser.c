/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The INI syntax of systemd's *.conf files, tokenized for a per-assignment callback. */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "conf-parser.h"
#include "fs-util.h"
#include "macro.h"
#include "string-util.h"

/* Big enough for any sane configuration; a file past it is surely not one. */
#define CONF_FILE_MAX (4U * 1024U * 1024U)

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

int conf_parse_string(const char *text, conf_assignment_t cb, void *userdata, unsigned *ret_line) {
        _cleanup_free_ char *section = NULL, *continued = NULL;
        const char *p = text;
        unsigned line = 0, first_line = 0;

        while (*p) {
                size_t n = strcspn(p, "\n");
                _cleanup_free_ char *l = strndup(p, n);
                size_t k;
                int r;

                if (!l)
                        return -ENOMEM;
                p += n + (p[n] == '\n');
                line++;

                /* Inside a continuation, comment lines are skipped as systemd does. */
                if (continued && strchr("#;", *strstrip(l)))
                        continue;

                if (continued) {
                        char *j;
                        if (asprintf(&j, "%s %s", continued, strstrip(l)) < 0)
                                return -ENOMEM;
                        free(continued);
                        continued = j;
                } else {
                        continued = TAKE_PTR(l);
                        first_line = line;
                }

                k = strlen(continued);
                if (k > 0 && continued[k - 1] == '\\') {
                        continued[k - 1] = 0;
                        continue;
                }

                r = parse_line(continued, &section, cb, userdata, first_line);
                continued = mfree(continued);
                if (r < 0) {
                        if (ret_line)
                                *ret_line = first_line;
                        return r;
                }
        }

        if (continued) {
                int r = parse_line(continued, &section, cb, userdata, first_line);
                if (r < 0) {
                        if (ret_line)
                                *ret_line = first_line;
                        return r;
                }
        }
        return 0;
}

int conf_parse_file(const char *path, conf_assignment_t cb, void *userdata, unsigned *ret_line) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = read_full_file(path, CONF_FILE_MAX, &text, &size);
        if (r < 0)
                return r;
        /* A NUL inside the file would silently cut it short. */
        if (strlen(text) != size) {
                if (ret_line)
                        *ret_line = 0;
                return -EBADMSG;
        }
        return conf_parse_string(text, cb, userdata, ret_line);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char * const *) a, *(char * const *) b);
}

int conf_list_dropins(const char *dir, char ***ret) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        DIR *d;
        struct dirent *de;
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
                r = strv_extend(&l, p);
                if (r < 0)
                        break;
        }
        closedir(d);
        if (r < 0)
                return r;
        qsort(l, strv_length(l), sizeof(char *), cmp_str);
        *ret = TAKE_PTR(l);
        return 0;
}
