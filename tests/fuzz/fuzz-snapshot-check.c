/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The checks a snapshot stream goes through (etcd's stream into the writer, a backup's content
 * in the reader), fed in pieces. The first byte picks the mode: odd, the rest is a database to
 * which the target appends its real SHA-256, so the stream must pass exactly when the database
 * starts with bbolt's header; even, the next 4 bytes announce a database size and the rest is
 * the stream. Either way the bytes after that give the sizes of the pieces.
 */

#include <openssl/sha.h>

#include "backup-file.h"
#include "fuzz.h"

static bool bbolt_header(const uint8_t *db, size_t n) {
        static const uint8_t magic[] = { 0xed, 0xda, 0x0c, 0xed, 0x02, 0x00, 0x00, 0x00 };
        return n >= 24 && memcmp(db + 16, magic, sizeof(magic)) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ uint8_t *stream = NULL;
        _cleanup_free_ char *message = NULL;
        uint8_t digest[SHA256_DIGEST_SIZE];
        SnapshotCheck c;
        uint64_t db_size;
        size_t n, pos = 0, piece = 1;
        int r = 0;

        if (size < 5)
                return 0;
        if (data[0] & 1) {
                db_size = size - 1;
                n = size - 1 + SHA256_DIGEST_SIZE;
                stream = malloc(n);
                if (!stream)
                        abort();
                memcpy(stream, data + 1, size - 1);
                SHA256(data + 1, size - 1, stream + size - 1);
        } else {
                db_size = (uint64_t) data[1] | (uint64_t) data[2] << 8 | (uint64_t) data[3] << 16 | (uint64_t) data[4] << 24;
                n = size - 5;
                stream = malloc(n + 1);
                if (!stream)
                        abort();
                memcpy(stream, data + 5, n);
        }

        FUZZ_CHECK(snapshot_check_init(&c, db_size) == 0);
        while (r >= 0 && pos < n) {
                size_t k = MIN(piece, n - pos);
                r = snapshot_check_feed(&c, stream + pos, k, &message);
                pos += k;
                piece = stream[pos - 1] % 64 + 1;
        }
        /* Never a byte more than announced. */
        FUZZ_CHECK(c.received <= db_size + SHA256_DIGEST_SIZE);
        FUZZ_CHECK(r == 0 || (r == -EBADMSG && n > db_size + SHA256_DIGEST_SIZE));
        if (r >= 0)
                r = snapshot_check_finish(&c, digest, &message);
        if (data[0] & 1)
                FUZZ_CHECK((r == 0) == bbolt_header(stream, db_size));
        if (r == 0) {
                SHA256(stream, db_size, digest);
                FUZZ_CHECK(n == db_size + SHA256_DIGEST_SIZE && memcmp(stream + db_size, digest, sizeof(digest)) == 0);
                FUZZ_CHECK(bbolt_header(stream, db_size));
        } else
                FUZZ_CHECK(r == -EBADMSG && message);
        snapshot_check_done(&c);
        return 0;
}
