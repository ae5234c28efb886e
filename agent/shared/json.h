/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A streaming JSON writer for the CLI's --json output. Non-logging. Commas, quoting and
 * indentation are its business; the caller only says what comes next.
 *
 * Strings may come from anywhere (a backup file's metadata, an error text from whatever listens
 * on the endpoint) and are written safely: JSON's own escapes, \u00XX for every other control
 * character (C0, DEL and C1, so that a string cannot move a terminal's cursor or recolour it),
 * valid UTF-8 as it is, and \ufffd (U+FFFD, the replacement character) for each byte that does
 * not start a valid UTF-8 sequence: JSON is UTF-8, and a consumer may refuse a whole document
 * over one bad byte. */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct JsonWriter {
        FILE *f;
        bool pretty;
        unsigned depth;
        bool need_comma;
        bool after_key;
} JsonWriter;

void json_begin_object(JsonWriter *w);
void json_end_object(JsonWriter *w);
void json_begin_array(JsonWriter *w);
void json_end_array(JsonWriter *w);
void json_key(JsonWriter *w, const char *key);
void json_string(JsonWriter *w, const char *s); /* NULL writes null */
void json_uint(JsonWriter *w, uint64_t v);
void json_int(JsonWriter *w, int64_t v);
void json_bool(JsonWriter *w, bool b);
void json_null(JsonWriter *w);
/* Ends the document with a newline. */
void json_finish(JsonWriter *w);
