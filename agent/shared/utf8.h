/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* UTF-8, strictly as RFC 3629 has it. Non-logging. */

#include <stdint.h>

/* Decodes the character at the start of the NUL-terminated s into *ret and returns its length
 * (1 to 4 bytes), or -EILSEQ if s does not start with a valid sequence: a continuation byte, an
 * overlong form, a surrogate, a code point past U+10FFFF, a sequence cut short (by the NUL
 * too, so that nothing past it is read). NUL itself decodes as 0, length 1. */
int utf8_decode(const char *s, uint32_t *ret);
