/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What every fuzz target shares. A target is one LLVMFuzzerTestOneInput(): libFuzzer drives it
 * in a -Dfuzz=true build (clang), fuzz-main.c runs it over its checked-in corpus in every build.
 * A target checks properties, not just survival: FUZZ_CHECK() aborts, which both drivers
 * report as a failure, with the input that caused it.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(expr)                                                                        \
        do {                                                                                    \
                if (!(expr)) {                                                                  \
                        fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed\n", __FILE__, __LINE__, #expr); \
                        abort();                                                                \
                }                                                                               \
        } while (0)

/* The input as a C string: what a file or a bus argument gives the parsers, which stop at a
 * NUL (files with one are refused before they are parsed). */
static inline char *fuzz_string(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);

        if (!s)
                abort();
        memcpy(s, data, size);
        s[size] = 0;
        return s;
}
