/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Strict UTF-8 decoding (RFC 3629, section 4's table of well-formed sequences). */

#include <errno.h>

#include "utf8.h"

int utf8_decode(const char *str, uint32_t *ret) {
        const unsigned char *s = (const unsigned char *) str;
        unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
        unsigned len;
        uint32_t c;

        if (s[0] < 0x80) {
                *ret = s[0];
                return 1;
        }
        if (s[0] < 0xC2) /* a continuation byte, or the start of an overlong 2-byte form */
                return -EILSEQ;
        if (s[0] < 0xE0) {
                len = 2;
                c = s[0] & 0x1F;
        } else if (s[0] < 0xF0) {
                len = 3;
                c = s[0] & 0x0F;
                if (s[0] == 0xE0)
                        lo = 0xA0; /* overlong */
                else if (s[0] == 0xED)
                        hi = 0x9F; /* surrogates */
        } else if (s[0] < 0xF5) {
                len = 4;
                c = s[0] & 0x07;
                if (s[0] == 0xF0)
                        lo = 0x90; /* overlong */
                else if (s[0] == 0xF4)
                        hi = 0x8F; /* past U+10FFFF */
        } else
                return -EILSEQ;

        for (unsigned i = 1; i < len; i++) {
                if (s[i] < lo || s[i] > hi)
                        return -EILSEQ;
                c = c << 6 | (s[i] & 0x3F);
                lo = 0x80;
                hi = 0xBF;
        }
        *ret = c;
        return (int) len;
}
