/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The backup file format: the metadata codec, and the writer and reader against each other on
 * a synthetic snapshot (a bbolt header, data, then the SHA-256 trailer etcd appends). What stock
 * zstd and etcdctl make of real backups is the integration tests' business.
 */

#include <dirent.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../fuzz/forge-backup.h"
#include "backup-file.h"
#include "string-util.h"
#include "tap.h"

static char dir[] = "/tmp/test-backup-file-XXXXXX";
static int dir_fd = -1;

static BackupMeta sample_meta(void) {
        BackupMeta m = {};

        strcpy(m.id, "3f29df07-626f-47f1-8a08-f7b5b75bda46");
        strcpy(m.config, "daily-2");
        strcpy(m.node, "cp-1.example.com");
        strcpy(m.etcd_version, "3.4.23");
        m.cluster_id = 0x48276a8f75b6a87ULL;
        m.member_id = 0xfe1259d415f2a040ULL;
        m.revision = 9007199254740993LL;
        m.raft_term = 2;
        m.raft_index = 54;
        m.created = 1795573030194338ULL;
        m.completed = 1795573030197438ULL;
        m.snapshot_size = 24608;
        for (int i = 0; i < SHA256_DIGEST_SIZE; i++) {
                m.snapshot_sha256[i] = (uint8_t) i;
                m.compressed_sha256[i] = (uint8_t) (255 - i);
        }
        m.compressed_size = 1196;
        m.zstd_level = 3;
        strcpy(m.agent_version, "0.1.0");
        return m;
}

TEST(meta_roundtrip) {
        BackupMeta m = sample_meta(), p;
        char buf[BACKUP_META_FRAME_SIZE] = {};
        int n;

        n = backup_meta_format(&m, buf, sizeof(buf));
        CHECK(n > 0);
        CHECK(strncmp(buf, BACKUP_META_SIGNATURE, strlen(BACKUP_META_SIGNATURE)) == 0);
        CHECK(strstr(buf, "\nCLUSTER_ID=48276a8f75b6a87\n"));
        /* The NUL padding of the frame ends the text. */
        CHECK_EQ(backup_meta_parse(buf, sizeof(buf), &p), 0);
        CHECK(memcmp(&m, &p, sizeof(m)) == 0);
}

/* Replaces the META_SHA256= line of text by one that matches the text, as a writer would. */
static void reseal(char *text) {
        char *sum = strstr(text, "\nMETA_SHA256=") + 1;
        uint8_t digest[SHA256_DIGEST_SIZE];
        char hex[2 * SHA256_DIGEST_SIZE + 1];

        SHA256((const uint8_t *) text, (size_t) (sum - text), digest);
        sprintf(sum, "META_SHA256=%s\n", hexmem(digest, sizeof(digest), hex));
}

TEST(meta_forward_compatible) {
        BackupMeta m = sample_meta(), p;
        char buf[BACKUP_META_FRAME_SIZE] = {}, *sum;
        int n = backup_meta_format(&m, buf, sizeof(buf));

        CHECK(n > 0);
        /* Keys a later version adds are skipped. */
        sum = strstr(buf, "\nMETA_SHA256=") + 1;
        strcpy(sum, "OFFSITE_COPY=s3://bucket/x\nMETA_SHA256=\n");
        reseal(buf);
        CHECK_EQ(backup_meta_parse(buf, sizeof(buf), &p), 0);
        CHECK(memcmp(&m, &p, sizeof(m)) == 0);
}

TEST(meta_checksum) {
        BackupMeta m = sample_meta(), p;
        char buf[BACKUP_META_FRAME_SIZE] = {};

        CHECK(backup_meta_format(&m, buf, sizeof(buf)) > 0);
        /* A change that still parses is caught by the checksum... */
        strstr(buf, "REVISION=9")[strlen("REVISION=")] = '8';
        CHECK_EQ(backup_meta_parse(buf, sizeof(buf), &p), -EBADMSG);
        /* ...and so is a missing one or anything after it. */
        reseal(buf);
        CHECK_EQ(backup_meta_parse(buf, sizeof(buf), &p), 0);
        CHECK_EQ(p.revision, 8007199254740993LL);
        strcat(buf, "CONFIG=x\n");
        CHECK_EQ(backup_meta_parse(buf, sizeof(buf), &p), -EBADMSG);
        *strstr(buf, "\nMETA_SHA256=") = 0;
        CHECK_EQ(backup_meta_parse(buf, sizeof(buf), &p), -EBADMSG);
}

static void check_refused(const char *text) {
        BackupMeta p;

        if (backup_meta_parse(text, strlen(text), &p) != -EBADMSG) {
                printf("#   accepted: %s\n", text);
                tap_current_failed = true;
        }
}

TEST(meta_refused) {
        BackupMeta m = sample_meta();
        char buf[BACKUP_META_FRAME_SIZE] = {}, edited[BACKUP_META_FRAME_SIZE];
        char *p;

        CHECK(backup_meta_format(&m, buf, sizeof(buf)) > 0);

        check_refused("");
        check_refused("ETCD-BACKUP-METADATA 2\nID=x\n");
        /* each required key missing in turn */
        static const char * const required[] = { "ID=", "CONFIG=", "CREATED_USEC=", "COMPLETED_USEC=", "SNAPSHOT_SIZE=",
                                                 "SNAPSHOT_SHA256=", "COMPRESSED_SIZE=", "COMPRESSED_SHA256=" };
        for (size_t i = 0; i < ELEMENTSOF(required); i++) {
                strcpy(edited, buf);
                p = strstr(edited, required[i]);
                p[0] = 'X'; /* renames the key */
                reseal(edited);
                check_refused(edited);
        }
        /* bad values */
        static const struct {
                const char *from, *to;
        } edits[] = {
                { "ID=3f29df07-626f-47f1-8a08-f7b5b75bda46", "ID=../../etc/passwd" },
                { "CONFIG=daily-2", "CONFIG=../daily" },
                { "CLUSTER_ID=48276a8f75b6a87", "CLUSTER_ID=zz" },
                { "CLUSTER_ID=48276a8f75b6a87", "CLUSTER_ID=148276a8f75b6a87aa" },
                { "SNAPSHOT_SIZE=24608", "SNAPSHOT_SIZE=-1" },
                { "SNAPSHOT_SIZE=24608", "SNAPSHOT_SIZE=32" },
                { "SNAPSHOT_SIZE=24608", "SNAPSHOT_SIZE=99999999999999999999999" },
                { "REVISION=9007199254740993", "REVISION=1x" },
                { "ZSTD_LEVEL=3", "ZSTD_LEVEL=99999999999" },
                { "SNAPSHOT_SHA256=00", "SNAPSHOT_SHA256=0g" },
                { "CONFIG=daily-2", "CONFIG=daily-2\nCONFIG=daily-3" },
                { "CONFIG=daily-2", "no equals sign" },
                /* Text the writer would not write, which would reach properties and JSON. */
                { "NODE=cp-1.example.com", "NODE=cp-1\x1b[2J" },
                { "NODE=cp-1.example.com", "NODE=cp-1\r" },
                { "NODE=cp-1.example.com", "NODE=cp-1\t2" },
                { "NODE=cp-1.example.com", "NODE=cp-\xc2\x9b" "31m" },
                { "NODE=cp-1.example.com", "NODE=cp-\xff\xfe" },
                { "NODE=cp-1.example.com", "NODE=cp-\xc0\xaf" },
                { "ETCD_VERSION=3.4.23", "ETCD_VERSION=3.4.23\x7f" },
                { "AGENT_VERSION=0.1.0", "AGENT_VERSION=\xed\xa0\x80" },
        };
        for (size_t i = 0; i < ELEMENTSOF(edits); i++) {
                char *at;

                strcpy(edited, buf);
                at = strstr(edited, edits[i].from);
                CHECK(at);
                if (!at)
                        continue;
                memmove(at + strlen(edits[i].to), at + strlen(edits[i].from), strlen(at + strlen(edits[i].from)) + 1);
                memcpy(at, edits[i].to, strlen(edits[i].to));
                reseal(edited);
                check_refused(edited);
        }
}

TEST(meta_no_forged_keys) {
        BackupMeta m = sample_meta();
        char buf[BACKUP_META_FRAME_SIZE];

        strcpy(m.node, "evil\nCONFIG=other");
        CHECK_EQ(backup_meta_format(&m, buf, sizeof(buf)), -EINVAL);
        /* Nor is anything written that the reader refuses. */
        strcpy(m.node, "cp-\xff");
        CHECK_EQ(backup_meta_format(&m, buf, sizeof(buf)), -EINVAL);
        strcpy(m.node, "caf\xc3\xa9");
        CHECK(backup_meta_format(&m, buf, sizeof(buf)) > 0);
        m = sample_meta();
        CHECK_EQ(backup_meta_format(&m, buf, 64), -ENOBUFS);
}

TEST(file_name) {
        BackupMeta m = sample_meta();
        char *name = NULL;

        CHECK_EQ(backup_file_name(&m, &name), 0);
        CHECK_STREQ(name, "daily-2-20261125T021710Z-3f29df07-626f-47f1-8a08-f7b5b75bda46.db.zst");
        free(name);
        strcpy(m.config, "../x");
        CHECK(backup_file_name(&m, &name) < 0);
}

/* A stand-in for a bbolt file: meta page magic and version where bbolt has them, then data that
 * compresses somewhat, like a real database. */
static uint8_t *make_db(size_t size) {
        uint8_t *db = malloc(size);
        uint32_t x = 12345;

        for (size_t i = 0; i < size; i++) {
                x = x * 1103515245 + 12345;
                db[i] = (i / 4096) % 3 == 0 ? (uint8_t) (x >> 24) : (uint8_t) ('a' + i % 26);
        }
        memset(db, 0, 32);
        db[16] = 0xED, db[17] = 0xDA, db[18] = 0x0C, db[19] = 0xED; /* 0xED0CDAED, little endian */
        db[20] = 2;
        return db;
}

static size_t count_files(void) {
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        while ((de = readdir(d)))
                n += de->d_name[0] != '.';
        closedir(d);
        return n;
}

static void clean_dir(void) {
        DIR *d = opendir(dir);
        struct dirent *de;

        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        unlinkat(dir_fd, de->d_name, 0);
        closedir(d);
}

/* Streams db || sha256(db) (or a wrong trailer) into a writer in uneven pieces. */
static int write_backup(const uint8_t *db, size_t size, bool good_trailer, size_t stream_len, BackupMeta *ret_meta,
                        char **ret_file) {
        BackupWriter *w = NULL;
        BackupMeta m = sample_meta();
        uint8_t trailer[SHA256_DIGEST_SIZE];
        char *message = NULL;
        size_t pos = 0, piece = 1;
        int r;

        SHA256(db, size, trailer);
        if (!good_trailer)
                trailer[7] ^= 1;
        m.snapshot_size = m.compressed_size = 0;

        r = backup_writer_new(dir_fd, &m, NULL, &w, &message);
        if (r < 0)
                goto finish;
        r = backup_writer_begin(w, size);
        /* Pieces of 1, 7, 49, ... bytes up to 32 KiB: the ring wraps at odd places. */
        while (r >= 0 && pos < stream_len) {
                size_t n = MIN(piece, stream_len - pos);
                uint8_t buf[32768];
                for (size_t i = 0; i < n; i++)
                        buf[i] = pos + i < size ? db[pos + i] : trailer[pos + i - size];
                r = backup_writer_write(w, buf, n, &message);
                pos += n;
                piece = piece * 7 > 32768 ? 1 : piece * 7;
        }
        if (r >= 0)
                r = backup_writer_finish(w, ret_meta, ret_file, &message);
finish:
        if (r < 0)
                printf("#   writer: %s\n", message ?: "(no message)");
        free(message);
        backup_writer_free(w);
        return r;
}

TEST(writer_reader_roundtrip) {
        size_t size = 5 * 1024 * 1024 + 4096; /* beyond the 2 MiB ring */
        uint8_t *db = make_db(size), *out;
        BackupMeta meta, read;
        char *file = NULL, *message = NULL, out_path[300];
        int fd, out_fd;
        struct stat st;

        clean_dir();
        CHECK_EQ(write_backup(db, size, true, size + SHA256_DIGEST_SIZE, &meta, &file), 0);
        CHECK(file && endswith(file, ".db.zst"));
        CHECK_EQ(count_files(), 1);
        CHECK_EQ(meta.snapshot_size, size + SHA256_DIGEST_SIZE);
        CHECK(meta.compressed_size > 0 && meta.compressed_size < size);
        CHECK(meta.completed >= meta.created);
        CHECK_EQ(meta.zstd_level, 3);

        fd = openat(dir_fd, file, O_RDONLY | O_CLOEXEC);
        CHECK(fd >= 0);
        CHECK(fstat(fd, &st) == 0 && (st.st_mode & 0777) == 0600);
        CHECK_EQ((uint64_t) st.st_size, BACKUP_META_FRAME_SIZE + meta.compressed_size);
        CHECK_EQ(backup_file_read_meta(fd, &read, &message), 0);
        CHECK(memcmp(&read, &meta, sizeof(meta)) == 0);

        /* Extracting gives back the stream byte for byte. */
        snprintf(out_path, sizeof(out_path), "%s/.out", dir);
        out_fd = open(out_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        BackupProgress progress = {};
        CHECK_EQ(backup_file_extract(fd, out_fd, &progress, NULL, &read, &message), 0);
        CHECK_EQ(atomic_load(&progress.done), meta.compressed_size);
        out = malloc(size + SHA256_DIGEST_SIZE);
        CHECK_EQ(pread(out_fd, out, size + SHA256_DIGEST_SIZE, 0), (ssize_t) (size + SHA256_DIGEST_SIZE));
        CHECK(memcmp(out, db, size) == 0);
        uint8_t digest[SHA256_DIGEST_SIZE];
        SHA256(db, size, digest);
        CHECK(memcmp(out + size, digest, SHA256_DIGEST_SIZE) == 0);
        CHECK(memcmp(meta.snapshot_sha256, digest, SHA256_DIGEST_SIZE) == 0);

        close(out_fd);
        unlink(out_path);
        close(fd);
        free(out);
        free(file);
        free(message);
        free(db);
}

TEST(writer_refuses_bad_trailer) {
        size_t size = 256 * 1024;
        uint8_t *db = make_db(size);

        clean_dir();
        CHECK_EQ(write_backup(db, size, false, size + SHA256_DIGEST_SIZE, NULL, NULL), -EBADMSG);
        CHECK_EQ(count_files(), 0);
        free(db);
}

TEST(writer_refuses_short_stream) {
        size_t size = 256 * 1024;
        uint8_t *db = make_db(size);

        clean_dir();
        CHECK_EQ(write_backup(db, size, true, size + 16, NULL, NULL), -EBADMSG);
        CHECK_EQ(write_backup(db, size, true, size - 4096, NULL, NULL), -EBADMSG);
        CHECK_EQ(count_files(), 0);
        free(db);
}

TEST(writer_abandoned_leaves_nothing) {
        BackupWriter *w = NULL;
        BackupMeta m = sample_meta();
        uint8_t data[1000] = {};

        clean_dir();
        CHECK_EQ(backup_writer_new(dir_fd, &m, NULL, &w, NULL), 0);
        CHECK_EQ(backup_writer_begin(w, 1 << 20), 0);
        CHECK_EQ(backup_writer_write(w, data, sizeof(data), NULL), 0);
        CHECK_EQ(count_files(), 1); /* the .partial, while it runs */
        backup_writer_free(w);
        CHECK_EQ(count_files(), 0);
}

/* A cancel set before the data comes; a cancel reaching a writer blocked on a full ring is
 * test-ring's cancel_unblocks_a_waiting_producer. */
TEST(writer_cancelled) {
        BackupWriter *w = NULL;
        BackupMeta m = sample_meta();
        atomic_bool cancel = true;
        uint8_t data[1000] = {};

        clean_dir();
        CHECK_EQ(backup_writer_new(dir_fd, &m, &cancel, &w, NULL), 0);
        CHECK_EQ(backup_writer_begin(w, 1 << 20), 0);
        CHECK_EQ(backup_writer_write(w, data, sizeof(data), NULL), -ECANCELED);
        backup_writer_free(w);
        CHECK_EQ(count_files(), 0);
}

/* Writes a good backup, damages a copy of it at offset, and returns what extract says. */
static int damaged(off_t offset, uint8_t xor_value, off_t truncate_to) {
        size_t size = 512 * 1024;
        uint8_t *db = make_db(size);
        char *file = NULL, *message = NULL;
        BackupMeta meta;
        int fd, r;

        clean_dir();
        if (write_backup(db, size, true, size + SHA256_DIGEST_SIZE, &meta, &file) < 0)
                return 1;
        fd = openat(dir_fd, file, O_RDWR | O_CLOEXEC);
        if (xor_value) {
                uint8_t b;
                if (offset < 0) {
                        struct stat st;
                        CHECK(fstat(fd, &st) >= 0);
                        offset += st.st_size;
                }
                /* A damage that did not happen would pass for an undamaged file. */
                CHECK_EQ(pread(fd, &b, 1, offset), 1);
                b ^= xor_value;
                CHECK_EQ(pwrite(fd, &b, 1, offset), 1);
        }
        if (truncate_to >= 0)
                CHECK(ftruncate(fd, truncate_to) >= 0);
        r = backup_file_extract(fd, -1, NULL, NULL, NULL, &message);
        if (r < 0)
                printf("#   (expected) %s\n", message);
        close(fd);
        free(file);
        free(message);
        free(db);
        return r;
}

TEST(reader_detects_damage) {
        CHECK_EQ(damaged(0, 0, -1), 0);                                 /* undamaged control */
        CHECK_EQ(damaged(BACKUP_META_FRAME_SIZE + 100, 0x10, -1), -EBADMSG); /* inside the zstd frame */
        CHECK_EQ(damaged(-1, 0x01, -1), -EBADMSG);                      /* the frame checksum */
        CHECK_EQ(damaged(0, 0, BACKUP_META_FRAME_SIZE + 1000), -EBADMSG); /* truncated */
        CHECK_EQ(damaged(0, 0, 100), -EBADMSG);                         /* truncated metadata */
        CHECK_EQ(damaged(0, 0x01, -1), -EBADMSG);                       /* not a skippable frame */
        CHECK_EQ(damaged(8 + strlen(BACKUP_META_SIGNATURE) + 3, 0x01, -1), -EBADMSG); /* the id */
        CHECK_EQ(damaged(BACKUP_META_FRAME_SIZE - 10, 0x01, -1), -EBADMSG);   /* the padding */
}

TEST(writer_refuses_not_bbolt) {
        size_t size = 64 * 1024;
        uint8_t *db = make_db(size);

        /* What verification would call corrupt is not saved as a backup in the first place. */
        db[16] = 0;
        clean_dir();
        CHECK_EQ(write_backup(db, size, true, size + SHA256_DIGEST_SIZE, NULL, NULL), -EBADMSG);
        CHECK_EQ(count_files(), 0);
        free(db);
}

TEST(reader_checks_bbolt_header) {
        size_t size = 64 * 1024;
        uint8_t *db = make_db(size);
        char *message = NULL;
        int fd;

        /* Made by hand: the writer refuses such a snapshot. */
        fd = openat(dir_fd, "forged.db.zst", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        CHECK_EQ(forge_backup_of(fd, db, size, NULL), 0);
        CHECK_EQ(backup_file_extract(fd, -1, NULL, NULL, NULL, &message), 0);
        close(fd);

        db[16] = 0; /* no bbolt magic: whatever this is, etcd cannot restore it */
        fd = openat(dir_fd, "forged.db.zst", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        CHECK_EQ(forge_backup_of(fd, db, size, NULL), 0);
        CHECK_EQ(backup_file_extract(fd, -1, NULL, NULL, NULL, &message), -EBADMSG);
        CHECK(message && strstr(message, "bbolt"));
        close(fd);
        free(message);
        free(db);
}

TEST(snapshot_check) {
        size_t size = 4096;
        uint8_t *db = make_db(size), digest[SHA256_DIGEST_SIZE], sum[SHA256_DIGEST_SIZE];
        char *message = NULL;
        SnapshotCheck c;

        SHA256(db, size, sum);
        CHECK_EQ(snapshot_check_init(&c, size), 0);
        CHECK_EQ(snapshot_check_feed(&c, db, 100, &message), 0);
        CHECK_EQ(snapshot_check_feed(&c, db + 100, size - 100, &message), 0);
        CHECK_EQ(snapshot_check_feed(&c, sum, 10, &message), 0);
        /* Short by 22 bytes. */
        CHECK_EQ(snapshot_check_finish(&c, digest, &message), -EBADMSG);
        CHECK(message && strstr(message, "were announced"));
        CHECK_EQ(snapshot_check_feed(&c, sum + 10, 22, &message), 0);
        CHECK_EQ(snapshot_check_finish(&c, digest, &message), 0);
        CHECK(memcmp(digest, sum, sizeof(sum)) == 0);
        snapshot_check_done(&c);

        /* One byte more than announced is refused as it arrives. */
        CHECK_EQ(snapshot_check_init(&c, size), 0);
        CHECK_EQ(snapshot_check_feed(&c, db, size, &message), 0);
        CHECK_EQ(snapshot_check_feed(&c, db, SHA256_DIGEST_SIZE + 1, &message), -EBADMSG);
        CHECK(strstr(message, "longer than"));
        snapshot_check_done(&c);
        free(message);
        free(db);
}

int main(void) {
        int r;

        if (!mkdtemp(dir))
                return 1;
        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        RUN(meta_roundtrip);
        RUN(meta_forward_compatible);
        RUN(meta_checksum);
        RUN(meta_refused);
        RUN(meta_no_forged_keys);
        RUN(file_name);
        RUN(writer_reader_roundtrip);
        RUN(writer_refuses_bad_trailer);
        RUN(writer_refuses_short_stream);
        RUN(writer_abandoned_leaves_nothing);
        RUN(writer_cancelled);
        RUN(reader_detects_damage);
        RUN(writer_refuses_not_bbolt);
        RUN(reader_checks_bbolt_header);
        RUN(snapshot_check);
        r = tap_finish();

        clean_dir();
        close(dir_fd);
        rmdir(dir);
        return r;
}
