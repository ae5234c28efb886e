/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The INI syntax of systemd's own *.conf files: [Section] headers, Key=Value assignments with
 * surrounding whitespace dropped, '#' and ';' comments, and a trailing backslash continuing a
 * line. Non-logging: what a key means, and whether an unknown one is worth a warning, is the
 * caller's business.
 */

/* Called for every assignment; a negative return stops the parse and is passed up. */
typedef int (*conf_assignment_t)(const char *section, const char *key, const char *value, unsigned line,
                                 void *userdata);

/* On a syntax error returns -EBADMSG and the offending line in *ret_line (also set when a
 * callback fails). */
int conf_parse_string(const char *text, conf_assignment_t cb, void *userdata, unsigned *ret_line);
int conf_parse_file(const char *path, conf_assignment_t cb, void *userdata, unsigned *ret_line);

/* The *.conf files of a drop-in directory in lexical order, as full paths. A missing directory
 * gives an empty list. */
int conf_list_dropins(const char *dir, char ***ret);
