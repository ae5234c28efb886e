/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/*
 * The INI syntax of systemd's own *.conf files: [Section] headers, Key=Value assignments with
 * surrounding whitespace dropped, '#' and ';' comments, and a trailing backslash continuing a
 * line. Non-logging: what a key means, and whether an unknown one is worth a warning, is the
 * caller's business.
 */

/* Called for every assignment; a negative return stops the parse and is passed up. */
typedef int (*conf_assignment_t)(const char *section, const char *key, const char *value, unsigned line,
                                 void *userdata);

/* The size limit of agent.conf, its drop-ins and the backup configuration files: each holds a
 * handful of settings, so anything near this is not one of them, and a parse of a file this
 * size is over in milliseconds (parsing is linear). */
#define CONF_FILE_MAX (64U * 1024U)

/* On a syntax error returns -EBADMSG and the offending line in *ret_line (also set when a
 * callback fails). Linear in the length of text, continuation lines included. */
int conf_parse_string(const char *text, conf_assignment_t cb, void *userdata, unsigned *ret_line);
/* The text of a regular file of at most max bytes (read_full_file(): -EFBIG past it, -EBADFD for
 * what is not a regular file), -EBADMSG if it holds a NUL. */
int conf_read_file(const char *path, size_t max, char **ret);
/* As conf_parse_string() for a regular file of at most max bytes (conf_read_file()'s
 * errors come with *ret_line 0). */
int conf_parse_file(const char *path, size_t max, conf_assignment_t cb, void *userdata, unsigned *ret_line);

/* The *.conf files of a drop-in directory in lexical order, as full paths. A missing directory
 * gives an empty list. */
int conf_list_dropins(const char *dir, char ***ret);
