/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The metadata frame: what the reader accepts, the writer would write, and it reads back the
 * same. The first byte picks the mode: odd, the rest is text to which the target appends the
 * checksum line it needs, so that inputs reach the field parsers; even, the rest is the frame's
 * payload as it is.
 */

#include <openssl/sha.h>

#include "backup-file.h"
#include "fuzz.h"
#include "string-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = NULL;
        char frame[BACKUP_META_FRAME_SIZE - 8] = {};
        BackupMeta m, again;
        size_t n;

        if (size < 1)
                return 0;
        if (data[0] & 1) {
                uint8_t digest[SHA256_DIGEST_SIZE];
                char hex[2 * SHA256_DIGEST_SIZE + 1];

                /* Sealed as the writer seals it: "META_SHA256=" and the hash of what precedes. */
                text = malloc(size + 128);
                if (!text)
                        abort();
                memcpy(text, data + 1, size - 1);
                n = strnlen(text, size - 1);
                if (n == 0 || text[n - 1] != '\n')
                        text[n++] = '\n';
                SHA256((const uint8_t *) text, n, digest);
                n += (size_t) sprintf(text + n, "META_SHA256=%s\n", hexmem(digest, sizeof(digest), hex));
        } else {
                text = malloc(size);
                if (!text)
                        abort();
                memcpy(text, data + 1, size - 1);
                n = size - 1;
        }

        if (backup_meta_parse(text, n, &m) < 0)
                return 0;
        FUZZ_CHECK(config_name_is_valid(m.config));
        FUZZ_CHECK(utf8_is_printable(m.node) && utf8_is_printable(m.etcd_version) && utf8_is_printable(m.agent_version));
        FUZZ_CHECK(m.snapshot_size > SHA256_DIGEST_SIZE);
        FUZZ_CHECK(backup_meta_format(&m, frame, sizeof(frame)) > 0);
        FUZZ_CHECK(backup_meta_parse(frame, sizeof(frame), &again) == 0);
        FUZZ_CHECK(memcmp(&m, &again, sizeof(m)) == 0);
        return 0;
}
