/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Backup files made by hand, for the tests of the reader: what the writer would never write (a
 * snapshot that is not bbolt, arbitrary compressed data) wrapped in a metadata frame that is
 * itself correct, so that the reader's later checks are reached. Used by the backup-file fuzz
 * target and the unit tests.
 */

#include <openssl/sha.h>
#include <unistd.h>
#include <zstd.h>

#include "backup-file.h"

/* Metadata that passes every check of its own. */
static inline BackupMeta forge_meta(void) {
        BackupMeta m = {
                .id = "3f29df07-626f-47f1-8a08-f7b5b75bda46",
                .config = "forged",
                .node = "cp-1",
                .etcd_version = "3.4.23",
                .revision = 42,
                .created = 1795573030194338ULL,
                .completed = 1795573030197438ULL,
                .snapshot_size = SHA256_DIGEST_SIZE + 1,
                .zstd_level = 3,
                .agent_version = "0.1.0",
        };
        return m;
}

/* Writes the frame for m and then payload to fd, with m's compressed size and SHA-256 set to
 * the payload's. -errno, or -EINVAL when m cannot be formatted. */
static inline int forge_backup(int fd, BackupMeta *m, const void *payload, size_t n) {
        uint8_t frame[BACKUP_META_FRAME_SIZE] = { 0x5e, 0x2a, 0x4d, 0x18 }; /* BACKUP_META_MAGIC, LE */
        uint32_t k = BACKUP_META_FRAME_SIZE - 8;

        m->compressed_size = n;
        SHA256(payload, n, m->compressed_sha256);
        for (unsigned i = 0; i < 4; i++)
                frame[4 + i] = (uint8_t) (k >> (8 * i));
        if (backup_meta_format(m, (char *) frame + 8, k) < 0)
                return -EINVAL;
        if (write(fd, frame, sizeof(frame)) != (ssize_t) sizeof(frame) || write(fd, payload, n) != (ssize_t) n)
                return -EIO;
        return 0;
}

/* The snapshot of db as etcd streams it (db, then its SHA-256), compressed, in a file with
 * the metadata that describes it: the one a writer would have made, had it written it. */
static inline int forge_backup_of(int fd, const void *db, size_t size, BackupMeta *ret_meta) {
        BackupMeta m = forge_meta();
        size_t bound = ZSTD_compressBound(size + SHA256_DIGEST_SIZE), n;
        uint8_t *snapshot = malloc(size + SHA256_DIGEST_SIZE), *z = malloc(bound);
        int r = -ENOMEM;

        if (snapshot && z) {
                memcpy(snapshot, db, size);
                SHA256(db, size, snapshot + size);
                memcpy(m.snapshot_sha256, snapshot + size, SHA256_DIGEST_SIZE);
                m.snapshot_size = size + SHA256_DIGEST_SIZE;
                n = ZSTD_compress(z, bound, snapshot, size + SHA256_DIGEST_SIZE, 1);
                r = ZSTD_isError(n) ? -EIO : forge_backup(fd, &m, z, n);
        }
        free(snapshot);
        free(z);
        if (r >= 0 && ret_meta)
                *ret_meta = m;
        return r;
}
