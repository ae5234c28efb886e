/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The backup file reader, over a memfd: backup_file_read_meta() and backup_file_extract(). The
 * first byte picks the mode: 0, the rest is a file as it is; 1, the next 4 bytes are the
 * snapshot size and the rest compressed data, in a correct metadata frame (so zstd and the
 * snapshot checks see the data); 2, the rest is a database, made into the backup the writer
 * would make, which must extract to the very stream exactly when it is bbolt.
 */

#include <sys/mman.h>

#include "forge-backup.h"
#include "fuzz.h"
#include "string-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *message = NULL, *message2 = NULL;
        _cleanup_close_ int fd = -EBADF, out = -EBADF;
        BackupMeta forged = {}, m, m2;
        unsigned mode;
        int r, r2;

        if (size < 1)
                return 0;
        mode = data[0] % 3;
        fd = memfd_create("backup", MFD_CLOEXEC);
        out = memfd_create("snapshot", MFD_CLOEXEC);
        FUZZ_CHECK(fd >= 0 && out >= 0);

        if (mode == 0)
                FUZZ_CHECK(write(fd, data + 1, size - 1) == (ssize_t) (size - 1));
        else if (mode == 1) {
                if (size < 5)
                        return 0;
                forged = forge_meta();
                forged.snapshot_size = MAX((uint64_t) data[1] | (uint64_t) data[2] << 8 | (uint64_t) data[3] << 16 |
                                                   (uint64_t) data[4] << 24,
                                           SHA256_DIGEST_SIZE + 1);
                FUZZ_CHECK(forge_backup(fd, &forged, data + 5, size - 5) == 0);
        } else {
                if (size < 2)
                        return 0; /* a snapshot is never empty: no metadata says so */
                FUZZ_CHECK(forge_backup_of(fd, data + 1, size - 1, &forged) == 0);
        }

        r = backup_file_read_meta(fd, &m, &message);
        FUZZ_CHECK(r == 0 || (r == -EBADMSG && message));
        if (mode != 0)
                FUZZ_CHECK(r == 0 && memcmp(&m, &forged, sizeof(m)) == 0);

        r2 = backup_file_extract(fd, out, NULL, NULL, &m2, &message2);
        FUZZ_CHECK(r2 == 0 || (r2 == -EBADMSG && message2));
        if (r2 == 0) {
                /* What extracts completely was read completely. */
                FUZZ_CHECK(r == 0 && memcmp(&m, &m2, sizeof(m)) == 0);
                FUZZ_CHECK(lseek(out, 0, SEEK_CUR) == (off_t) m2.snapshot_size);
        }
        if (mode == 2) {
                static const uint8_t magic[] = { 0xed, 0xda, 0x0c, 0xed, 0x02, 0x00, 0x00, 0x00 };
                bool bbolt = size - 1 >= 24 && memcmp(data + 1 + 16, magic, sizeof(magic)) == 0;
                FUZZ_CHECK((r2 == 0) == bbolt);
                if (r2 == 0) {
                        uint8_t *back = malloc(size);
                        FUZZ_CHECK(back && pread(out, back, size - 1, 0) == (ssize_t) (size - 1));
                        FUZZ_CHECK(memcmp(back, data + 1, size - 1) == 0);
                        free(back);
                }
        }
        return 0;
}
