/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* String and string-array helpers. Non-logging: errors come back as negative errno. */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

char *startswith(const char *s, const char *prefix);
bool endswith(const char *s, const char *suffix);
char *strstrip(char *s);

/* Lower-case hex of a byte buffer; ret must hold 2*size+1 bytes. */
char *hexmem(const void *p, size_t size, char *ret);
/* Parse exactly size bytes of hex (either case); -EINVAL on anything else. */
int unhexmem(const char *s, void *ret, size_t size);

size_t strv_length(char * const *l);
bool strv_contains(char * const *l, const char *s);
/* Append a copy of s to a NULL-terminated array, reallocating it. */
int strv_extend(char ***l, const char *s);
/* As strv_extend() for a list built in a loop, *n counting its entries: amortized constant
 * time. The list must be empty (NULL or just the terminator) or built by this function. */
int strv_extend_counted(char ***l, size_t *n, const char *s);
/* Appends copies of every string of add, in one allocation. */
int strv_extend_strv(char ***l, char * const *add);
/* Split at whitespace (unit lists such as "kube-apiserver.service kube-scheduler.service"). */
int strv_split_whitespace(const char *s, char ***ret);
char *strv_join(char * const *l, const char *sep);
/* The same for the first n strings of l, which need not be NULL-terminated (protobuf-c's
 * repeated strings are not). */
char *strv_join_n(char * const *l, size_t n, const char *sep);

int safe_atou64(const char *s, uint64_t *ret);
int safe_atoi64(const char *s, int64_t *ret);
int safe_atou(const char *s, unsigned *ret);
/* For functions that explain a refusal: sets *ret (if ret is not NULL) to the formatted
 * message, freeing what it held, and returns r. */
/* asprintf() into a new string, NULL when out of memory (asprintf() leaves its pointer undefined
 * then, and distribution build flags refuse an unchecked call). */
_printf_(1, 2) char *strdup_printf(const char *format, ...);
_printf_(3, 4) int set_message(char **ret, int r, const char *format, ...);
_printf_(3, 0) int set_messagev(char **ret, int r, const char *format, va_list ap);

/* yes/no, true/false, on/off, 1/0 as systemd's files take them: 1, 0 or -EINVAL. */
int parse_boolean(const char *s);

/* UTF-8 as D-Bus takes it (sd-bus refuses to send a string property that is not): the shortest
 * forms, no surrogates, nothing past U+10FFFF, no noncharacters. */
bool utf8_is_valid(const char *s);
/* Valid UTF-8 without control characters (C0, DEL, C1): text that is safe in a property, a
 * log line, a JSON document and on a terminal as it is. */
bool utf8_is_printable(const char *s);
/* A copy of text from outside (a peer's error message) that utf8_is_printable() accepts:
 * each byte of an invalid sequence becomes U+FFFD, each control character a \xNN escape, and
 * the result is cut at a character boundary to at most max bytes, ending in "..." when cut.
 * NULL when out of memory. */
char *utf8_sanitize(const char *s, size_t max);
