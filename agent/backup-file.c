/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The backup file format (see backup-file.h for the layout): the metadata codec, the streaming
 * writer and the verifying reader. The writer hands the stream through a ring (ring.h): the
 * gRPC worker hashes chunks and copies them in, the compressor thread compresses them straight
 * out of the ring and writes the output. zstd runs single-threaded on that thread, at level 3:
 * the ratio of `zstd -3` in a few MiB, where zstd's own worker pool would want ~40 MiB.
 */

#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <zstd.h>

#include "backup-file.h"
#include "fs-util.h"
#include "ring.h"
#include "string-util.h"
#include "time-util.h"

/* Sized so the stream never waits on a short compression hiccup; together with zstd's ~3 MiB at
 * level 3 this is the writer's whole footprint, whatever the database size. */
#define RING_SIZE (2U * 1024U * 1024U)
#define IO_BUFFER_SIZE (128U * 1024U)
/* Writeback is started every this many bytes of output, so that the final fsync() finds little
 * left to write and the disk works while zstd does: otherwise the whole file (a third of the
 * database) goes out only at the end, with etcd's stream already done. */
#define WRITEBACK_CHUNK (8U * 1024U * 1024U)
/* The metadata frame is fixed at 4 KiB, but a later format may grow it; this bounds a reader. */
#define META_FRAME_MAX (64U * 1024U)
/* bbolt's first meta page: 16 bytes of page header, then the magic and the format version. */
#define BOLT_MAGIC 0xED0CDAEDU
#define BOLT_VERSION 2U

static void write_le32(uint8_t *p, uint32_t v) {
        for (unsigned i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static uint32_t read_le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static EVP_MD_CTX *sha256_new(void) {
        EVP_MD_CTX *c = EVP_MD_CTX_new();

        if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
                EVP_MD_CTX_free(c);
                return NULL;
        }
        return c;
}

static void sha256_final(EVP_MD_CTX *c, uint8_t ret[static SHA256_DIGEST_SIZE]) {
        unsigned n = SHA256_DIGEST_SIZE;
        (void) EVP_DigestFinal_ex(c, ret, &n);
}

/* ---- metadata ---------------------------------------------------------------------------- */

typedef enum FieldType {
        FIELD_ID,
        FIELD_CONFIG,
        FIELD_TEXT, /* a sized char array of printable UTF-8 (utf8_is_printable()) */
        FIELD_U64,
        FIELD_X64, /* etcd's ids, in the hex etcdctl prints */
        FIELD_I64,
        FIELD_INT,
        FIELD_SHA256,
} FieldType;

static const struct {
        const char *key;
        FieldType type;
        size_t offset;
        size_t size;
        bool required;
} meta_fields[] = {
#define F(k, t, member, req) { k, t, offsetof(BackupMeta, member), sizeof(((BackupMeta *) 0)->member), req }
        F("ID", FIELD_ID, id, true),
        F("CONFIG", FIELD_CONFIG, config, true),
        F("NODE", FIELD_TEXT, node, false),
        F("ETCD_VERSION", FIELD_TEXT, etcd_version, false),
        F("CLUSTER_ID", FIELD_X64, cluster_id, false),
        F("MEMBER_ID", FIELD_X64, member_id, false),
        F("REVISION", FIELD_I64, revision, false),
        F("RAFT_TERM", FIELD_U64, raft_term, false),
        F("RAFT_INDEX", FIELD_U64, raft_index, false),
        F("CREATED_USEC", FIELD_U64, created, true),
        F("COMPLETED_USEC", FIELD_U64, completed, true),
        F("SNAPSHOT_SIZE", FIELD_U64, snapshot_size, true),
        F("SNAPSHOT_SHA256", FIELD_SHA256, snapshot_sha256, true),
        F("COMPRESSED_SIZE", FIELD_U64, compressed_size, true),
        F("COMPRESSED_SHA256", FIELD_SHA256, compressed_sha256, true),
        F("ZSTD_LEVEL", FIELD_INT, zstd_level, false),
        F("AGENT_VERSION", FIELD_TEXT, agent_version, false),
#undef F
};

/* The metadata is not covered by any other hash: its last line is a SHA-256 of the text above
 * it, so that a flipped bit in a revision or an id is caught, not believed. */
#define META_CHECKSUM_KEY "META_SHA256="

static void meta_checksum(const char *text, size_t n, char ret[static 2 * SHA256_DIGEST_SIZE + 1]) {
        uint8_t digest[SHA256_DIGEST_SIZE];
        unsigned k = SHA256_DIGEST_SIZE;

        (void) EVP_Digest(text, n, digest, &k, EVP_sha256(), NULL);
        hexmem(digest, sizeof(digest), ret);
}

static int meta_append_checksum(char *buf, size_t size, size_t n) {
        char hex[2 * SHA256_DIGEST_SIZE + 1];
        int k;

        meta_checksum(buf, n, hex);
        k = snprintf(buf + n, size - n, META_CHECKSUM_KEY "%s\n", hex);
        if (k < 0 || (size_t) k >= size - n)
                return -ENOBUFS;
        return (int) (n + (size_t) k);
}

int backup_meta_format(const BackupMeta *m, char *buf, size_t size) {
        size_t n = 0;

        for (size_t i = 0; i <= ELEMENTSOF(meta_fields); i++) {
                char value[2 * SHA256_DIGEST_SIZE + 1];
                const void *p;
                int k;

                if (i == 0) {
                        k = snprintf(buf, size, "%s", BACKUP_META_SIGNATURE);
                        if (k < 0 || (size_t) k >= size)
                                return -ENOBUFS;
                        n = (size_t) k;
                        continue;
                }

                p = (const uint8_t *) m + meta_fields[i - 1].offset;
                switch (meta_fields[i - 1].type) {
                case FIELD_ID:
                case FIELD_CONFIG:
                case FIELD_TEXT:
                        /* A newline in a value would forge another key; what the reader
                         * would refuse is not written either. */
                        if (!utf8_is_printable(p))
                                return -EINVAL;
                        k = snprintf(buf + n, size - n, "%s=%s\n", meta_fields[i - 1].key, (const char *) p);
                        break;
                case FIELD_U64:
                        k = snprintf(buf + n, size - n, "%s=%" PRIu64 "\n", meta_fields[i - 1].key, *(const uint64_t *) p);
                        break;
                case FIELD_X64:
                        k = snprintf(buf + n, size - n, "%s=%" PRIx64 "\n", meta_fields[i - 1].key, *(const uint64_t *) p);
                        break;
                case FIELD_I64:
                        k = snprintf(buf + n, size - n, "%s=%" PRIi64 "\n", meta_fields[i - 1].key, *(const int64_t *) p);
                        break;
                case FIELD_INT:
                        k = snprintf(buf + n, size - n, "%s=%i\n", meta_fields[i - 1].key, *(const int *) p);
                        break;
                case FIELD_SHA256:
                        k = snprintf(buf + n, size - n, "%s=%s\n", meta_fields[i - 1].key,
                                     hexmem(p, SHA256_DIGEST_SIZE, value));
                        break;
                default:
                        return -EINVAL;
                }
                if (k < 0 || (size_t) k >= size - n)
                        return -ENOBUFS;
                n += (size_t) k;
        }
        return meta_append_checksum(buf, size, n);
}

static int parse_field(size_t i, const char *value, BackupMeta *m) {
        void *p = (uint8_t *) m + meta_fields[i].offset;
        char *e;
        int r;

        switch (meta_fields[i].type) {
        case FIELD_ID:
                return backup_id_normalize(value, p);
        case FIELD_CONFIG:
                if (!config_name_is_valid(value))
                        return -EINVAL;
                strcpy(p, value);
                return 0;
        case FIELD_TEXT:
                /* Shown as a property, listed as JSON: refused as the writer refuses it. */
                if (strlen(value) >= meta_fields[i].size || !utf8_is_printable(value))
                        return -EINVAL;
                strcpy(p, value);
                return 0;
        case FIELD_U64:
                return safe_atou64(value, p);
        case FIELD_I64:
                return safe_atoi64(value, p);
        case FIELD_INT: {
                int64_t v;
                r = safe_atoi64(value, &v);
                if (r < 0 || v < INT32_MIN || v > INT32_MAX)
                        return -EINVAL;
                *(int *) p = (int) v;
                return 0;
        }
        case FIELD_X64:
                if (!*value || strlen(value) > 16 || strspn(value, "0123456789abcdef") != strlen(value))
                        return -EINVAL;
                errno = 0;
                *(uint64_t *) p = strtoull(value, &e, 16);
                return errno > 0 || *e ? -EINVAL : 0;
        case FIELD_SHA256:
                return unhexmem(value, p, SHA256_DIGEST_SIZE);
        }
        return -EINVAL;
}

int backup_meta_parse(const char *text, size_t size, BackupMeta *ret) {
        _cleanup_free_ char *copy = NULL;
        BackupMeta m = {};
        bool seen[ELEMENTSOF(meta_fields)] = {};
        char *p, *line;

        /* The frame is NUL padded; the text ends at the first NUL. */
        copy = strndup(text, size);
        if (!copy)
                return -ENOMEM;
        if (!startswith(copy, BACKUP_META_SIGNATURE))
                return -EBADMSG;

        /* The checksum line comes last and covers everything before it. */
        char hex[2 * SHA256_DIGEST_SIZE + 1], *sum = strstr(copy, "\n" META_CHECKSUM_KEY);
        if (!sum)
                return -EBADMSG;
        sum++;
        meta_checksum(copy, (size_t) (sum - copy), hex);
        if (strlen(sum) != strlen(META_CHECKSUM_KEY) + 2 * SHA256_DIGEST_SIZE + 1 ||
            strncmp(sum + strlen(META_CHECKSUM_KEY), hex, 2 * SHA256_DIGEST_SIZE) != 0 ||
            sum[strlen(sum) - 1] != '\n')
                return -EBADMSG;
        *sum = 0;
        p = copy + strlen(BACKUP_META_SIGNATURE);

        while ((line = strsep(&p, "\n"))) {
                char *eq = strchr(line, '=');
                size_t i;

                if (!*line)
                        continue;
                if (!eq)
                        return -EBADMSG;
                *eq = 0;
                for (i = 0; i < ELEMENTSOF(meta_fields); i++)
                        if (streq(line, meta_fields[i].key))
                                break;
                if (i >= ELEMENTSOF(meta_fields))
                        continue;
                if (seen[i] || parse_field(i, eq + 1, &m) < 0)
                        return -EBADMSG;
                seen[i] = true;
        }

        for (size_t i = 0; i < ELEMENTSOF(meta_fields); i++)
                if (meta_fields[i].required && !seen[i])
                        return -EBADMSG;
        /* A snapshot always holds at least the digest: anything shorter cannot be one. */
        if (m.snapshot_size <= SHA256_DIGEST_SIZE)
                return -EBADMSG;

        *ret = m;
        return 0;
}

int backup_file_name(const BackupMeta *m, char **ret) {
        char t[FORMAT_TIMESTAMP_MAX];

        if (!config_name_is_valid(m->config) || !format_timestamp_compact(t, sizeof(t), m->created))
                return -EINVAL;
        return asprintf(ret, "%s-%s-%s" BACKUP_FILE_SUFFIX, m->config, t, m->id) < 0 ? -ENOMEM : 0;
}

static int write_full(int fd, const void *buf, size_t size) {
        const uint8_t *p = buf;

        while (size > 0) {
                ssize_t k = write(fd, p, size);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                size -= (size_t) k;
        }
        return 0;
}

/* Returns the size of the metadata frame, i.e. where the compressed snapshot begins. */
static int read_meta_frame(int fd, BackupMeta *ret, uint32_t *ret_frame_size, char **ret_message) {
        _cleanup_free_ char *payload = NULL;
        uint8_t header[8];
        uint32_t size;
        int r;

        r = pread_full(fd, header, sizeof(header), 0);
        if (r == -EBADMSG)
                return set_message(ret_message, r, "File too short to be a backup");
        if (r < 0)
                return set_message(ret_message, r, "Cannot read backup: %s", strerror(-r));
        if (read_le32(header) != BACKUP_META_MAGIC)
                return set_message(ret_message, -EBADMSG, "Not a backup file: no metadata frame at its start");
        size = read_le32(header + 4);
        if (size > META_FRAME_MAX)
                return set_message(ret_message, -EBADMSG, "Metadata frame of %" PRIu32 " bytes is implausibly large", size);

        payload = malloc(size);
        if (!payload)
                return -ENOMEM;
        r = pread_full(fd, payload, size, sizeof(header));
        if (r == -EBADMSG)
                return set_message(ret_message, r, "Backup is truncated inside its metadata frame");
        if (r < 0)
                return set_message(ret_message, r, "Cannot read backup: %s", strerror(-r));
        if (backup_meta_parse(payload, size, ret) < 0)
                return set_message(ret_message, -EBADMSG, "Backup metadata is incomplete or malformed");
        /* Every byte of the file is accounted for: the padding after the text too. */
        for (size_t i = strnlen(payload, size); i < size; i++)
                if (payload[i] != 0)
                        return set_message(ret_message, -EBADMSG, "Backup metadata frame is damaged at offset %zu",
                                           8 + i);

        *ret_frame_size = (uint32_t) sizeof(header) + size;
        return 0;
}

int backup_file_read_meta(int fd, BackupMeta *ret, char **ret_message) {
        uint32_t frame_size;
        return read_meta_frame(fd, ret, &frame_size, ret_message);
}

/* ---- the snapshot's own checks ------------------------------------------------------------ */

int snapshot_check_init(SnapshotCheck *c, uint64_t db_size) {
        *c = (SnapshotCheck) { .db_size = db_size, .sha = sha256_new() };
        return c->sha ? 0 : -ENOMEM;
}

void snapshot_check_done(SnapshotCheck *c) {
        EVP_MD_CTX_free(c->sha);
        c->sha = NULL;
}

int snapshot_check_feed(SnapshotCheck *c, const void *data, size_t n, char **ret_message) {
        const uint8_t *p = data;

        if (n > c->db_size + SHA256_DIGEST_SIZE - c->received)
                return set_message(ret_message, -EBADMSG, "Snapshot is longer than the %" PRIu64 " bytes announced",
                                   c->db_size + SHA256_DIGEST_SIZE);
        if (c->received < sizeof(c->head))
                memcpy(c->head + c->received, p, (size_t) MIN((uint64_t) n, sizeof(c->head) - c->received));
        /* The database is hashed, the digest after it kept. */
        if (c->received < c->db_size)
                (void) EVP_DigestUpdate(c->sha, p, (size_t) MIN((uint64_t) n, c->db_size - c->received));
        for (uint64_t pos = MAX(c->received, c->db_size); pos < c->received + n; pos++)
                c->trailer[pos - c->db_size] = p[pos - c->received];
        c->received += n;
        return 0;
}

int snapshot_check_finish(SnapshotCheck *c, uint8_t ret_sha256[static SHA256_DIGEST_SIZE], char **ret_message) {
        char a[2 * SHA256_DIGEST_SIZE + 1], b[2 * SHA256_DIGEST_SIZE + 1];

        if (c->received != c->db_size + SHA256_DIGEST_SIZE)
                return set_message(ret_message, -EBADMSG, "Snapshot is %" PRIu64 " bytes, %" PRIu64 " were announced",
                                   c->received, c->db_size + SHA256_DIGEST_SIZE);
        sha256_final(c->sha, ret_sha256);
        if (memcmp(ret_sha256, c->trailer, SHA256_DIGEST_SIZE) != 0)
                return set_message(ret_message, -EBADMSG, "Snapshot does not match its SHA-256 trailer (trailer %s, computed %s)",
                                   hexmem(c->trailer, SHA256_DIGEST_SIZE, a), hexmem(ret_sha256, SHA256_DIGEST_SIZE, b));
        /* Whatever else it is, etcd could not restore it. */
        if (c->db_size < sizeof(c->head) || read_le32(c->head + 16) != BOLT_MAGIC || read_le32(c->head + 20) != BOLT_VERSION)
                return set_message(ret_message, -EBADMSG, "Snapshot is not a bbolt database (etcd's format)");
        return 0;
}

/* ---- reader ------------------------------------------------------------------------------ */

typedef struct Extract {
        int out_fd;
        SnapshotCheck check;
} Extract;

/* Feeds decompressed snapshot bytes through the checks and, if asked, into out_fd. */
static int extract_consume(Extract *x, const uint8_t *p, size_t n, char **ret_message) {
        int r;

        r = snapshot_check_feed(&x->check, p, n, ret_message);
        if (r < 0)
                return r;
        if (x->out_fd >= 0) {
                r = write_full(x->out_fd, p, n);
                if (r < 0)
                        return set_message(ret_message, r, "Cannot write the extracted snapshot: %s", strerror(-r));
        }
        return 0;
}

int backup_file_extract(int fd, int out_fd, BackupProgress *progress, const atomic_bool *cancel, BackupMeta *ret_meta,
                        char **ret_message) {
        _cleanup_free_ uint8_t *in_buf = NULL, *out_buf = NULL;
        ZSTD_DCtx *dctx = NULL;
        EVP_MD_CTX *file_sha = NULL;
        BackupMeta m;
        Extract x = { .out_fd = out_fd };
        uint8_t digest[SHA256_DIGEST_SIZE];
        uint64_t compressed = 0;
        uint32_t frame_size = 0;
        size_t last = 1;
        char a[2 * SHA256_DIGEST_SIZE + 1], b[2 * SHA256_DIGEST_SIZE + 1];
        int r;

        r = read_meta_frame(fd, &m, &frame_size, ret_message);
        if (r < 0)
                return r;
        if (progress) {
                atomic_store(&progress->total, m.compressed_size);
                atomic_store(&progress->done, 0);
        }

        in_buf = malloc(IO_BUFFER_SIZE);
        out_buf = malloc(IO_BUFFER_SIZE);
        dctx = ZSTD_createDCtx();
        file_sha = sha256_new();
        if (!in_buf || !out_buf || !dctx || !file_sha || snapshot_check_init(&x.check, m.snapshot_size - SHA256_DIGEST_SIZE) < 0) {
                r = -ENOMEM;
                goto finish;
        }

        for (;;) {
                ssize_t k = pread(fd, in_buf, IO_BUFFER_SIZE, (off_t) (frame_size + compressed));
                ZSTD_inBuffer in;

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = set_message(ret_message, -errno, "Cannot read backup: %m");
                        goto finish;
                }
                if (k == 0)
                        break;
                if (cancel && atomic_load(cancel)) {
                        r = set_message(ret_message, -ECANCELED, "Cancelled");
                        goto finish;
                }
                compressed += (uint64_t) k;
                (void) EVP_DigestUpdate(file_sha, in_buf, (size_t) k);
                if (progress)
                        atomic_store(&progress->done, compressed);

                in = (ZSTD_inBuffer) { in_buf, (size_t) k, 0 };
                while (in.pos < in.size) {
                        ZSTD_outBuffer out = { out_buf, IO_BUFFER_SIZE, 0 };

                        last = ZSTD_decompressStream(dctx, &out, &in);
                        if (ZSTD_isError(last)) {
                                r = set_message(ret_message, -EBADMSG, "Compressed snapshot is corrupt: %s",
                                                ZSTD_getErrorName(last));
                                goto finish;
                        }
                        r = extract_consume(&x, out_buf, out.pos, ret_message);
                        if (r < 0)
                                goto finish;
                }
        }

        /* Drain what zstd still holds for a frame whose input has ended. */
        while (last != 0) {
                ZSTD_inBuffer in = { NULL, 0, 0 };
                ZSTD_outBuffer out = { out_buf, IO_BUFFER_SIZE, 0 };

                last = ZSTD_decompressStream(dctx, &out, &in);
                if (ZSTD_isError(last) || out.pos == 0)
                        break;
                r = extract_consume(&x, out_buf, out.pos, ret_message);
                if (r < 0)
                        goto finish;
        }

        r = -EBADMSG;
        sha256_final(file_sha, digest);
        if (compressed != m.compressed_size)
                r = set_message(ret_message, r, "Backup is %" PRIu64 " bytes after its metadata, expected %" PRIu64 " (truncated?)",
                                compressed, m.compressed_size);
        else if (memcmp(digest, m.compressed_sha256, sizeof(digest)) != 0)
                r = set_message(ret_message, r, "SHA-256 of the compressed snapshot is %s, the metadata says %s",
                                hexmem(digest, sizeof(digest), a), hexmem(m.compressed_sha256, sizeof(digest), b));
        else if (last != 0)
                r = set_message(ret_message, r, "Compressed snapshot ends in the middle of its zstd frame");
        else {
                r = snapshot_check_finish(&x.check, digest, ret_message);
                if (r >= 0 && memcmp(digest, m.snapshot_sha256, sizeof(digest)) != 0)
                        r = set_message(ret_message, -EBADMSG, "Snapshot SHA-256 is %s, the metadata says %s",
                                        hexmem(digest, sizeof(digest), a), hexmem(m.snapshot_sha256, sizeof(digest), b));
        }
        if (r >= 0 && ret_meta)
                *ret_meta = m;

finish:
        ZSTD_freeDCtx(dctx);
        EVP_MD_CTX_free(file_sha);
        snapshot_check_done(&x.check);
        return r;
}

/* ---- writer ------------------------------------------------------------------------------ */

struct BackupWriter {
        int dir_fd;
        int fd;
        char *file; /* final name; the work in progress is file + BACKUP_PARTIAL_SUFFIX */
        char *partial;
        bool finished;

        BackupMeta meta;
        ZSTD_CCtx *cctx;
        uint64_t db_size;

        /* Stream side */
        SnapshotCheck check;

        /* Compressor side */
        EVP_MD_CTX *file_sha;
        uint8_t *out_buf;
        uint64_t consumed; /* stream bytes compressed */
        uint64_t written;  /* compressed bytes written */
        uint64_t writeback; /* file offset up to which writeback was started */
        _Atomic uint64_t bytes_done;

        pthread_t thread;
        bool thread_started;
        Ring *ring;
        /* The compressor's error: set before it aborts the ring, read by the stream once the
         * ring says so, or after the join. */
        int error;
        char *error_message;
};

/* Compressor thread side. */
static int writer_output(BackupWriter *w, ZSTD_outBuffer *out) {
        int r;

        if (out->pos == 0)
                return 0;
        r = write_full(w->fd, out->dst, out->pos);
        if (r < 0)
                return set_message(&w->error_message, r, "Cannot write %s: %s", w->partial, strerror(-r));
        (void) EVP_DigestUpdate(w->file_sha, out->dst, out->pos);
        w->written += out->pos;
        out->pos = 0;

        uint64_t end = BACKUP_META_FRAME_SIZE + w->written;
        if (end - w->writeback >= WRITEBACK_CHUNK) {
                /* Only started, never waited for: fsync() in backup_writer_finish() does that.
                 * A file system without it (EINVAL, ENOSYS) just leaves it all to fsync(). */
                (void) sync_file_range(w->fd, (off_t) w->writeback, (off_t) (end - w->writeback), SYNC_FILE_RANGE_WRITE);
                w->writeback = end;
        }
        return 0;
}

static int writer_compress(BackupWriter *w, const uint8_t *p, size_t n, ZSTD_EndDirective mode) {
        ZSTD_inBuffer in = { p, n, 0 };
        ZSTD_outBuffer out = { w->out_buf, IO_BUFFER_SIZE, 0 };

        w->consumed += n;

        for (;;) {
                size_t left = ZSTD_compressStream2(w->cctx, &out, &in, mode);
                int r;

                if (ZSTD_isError(left))
                        return set_message(&w->error_message, -EIO, "zstd compression failed: %s", ZSTD_getErrorName(left));
                if (out.pos == out.size || (mode == ZSTD_e_end && left == 0) || in.pos == in.size) {
                        r = writer_output(w, &out);
                        if (r < 0)
                                return r;
                }
                if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size)
                        return 0;
        }
}

static void *writer_thread(void *userdata) {
        BackupWriter *w = userdata;
        int r;

        for (;;) {
                const uint8_t *p;
                size_t n;

                r = ring_peek(w->ring, &p, &n);
                if (r <= 0)
                        break;
                /* The run stays ours until released, so the stream goes on meanwhile. */
                r = writer_compress(w, p, n, ZSTD_e_continue);
                if (r < 0) {
                        w->error = r;
                        ring_abort(w->ring, r);
                        return NULL;
                }
                ring_release(w->ring, n);
                atomic_store(&w->bytes_done, w->consumed);
        }
        if (r < 0) /* aborted by the stream's side */
                return NULL;

        /* zstd would only call a short stream "Src size is incorrect"; say what it is. */
        if (w->consumed != w->db_size + SHA256_DIGEST_SIZE)
                r = set_message(&w->error_message, -EBADMSG, "Snapshot stream ended after %" PRIu64 " of %" PRIu64 " bytes",
                                w->consumed, w->db_size + SHA256_DIGEST_SIZE);
        else
                r = writer_compress(w, NULL, 0, ZSTD_e_end);
        if (r < 0) {
                w->error = r;
                ring_abort(w->ring, r);
        }
        return NULL;
}

/* Stream side. */
static void writer_stop(BackupWriter *w, bool abort) {
        if (!w->thread_started)
                return;
        if (abort)
                ring_abort(w->ring, -ECANCELED);
        ring_close(w->ring);
        (void) pthread_join(w->thread, NULL);
        w->thread_started = false;
}

BackupWriter *backup_writer_free(BackupWriter *w) {
        if (!w)
                return NULL;
        writer_stop(w, /* abort= */ true);
        if (w->fd >= 0) {
                safe_close(w->fd);
                /* Nothing that did not check out may remain, not even under a .partial name. */
                if (!w->finished)
                        (void) unlinkat(w->dir_fd, w->partial, 0);
        }
        safe_close(w->dir_fd);
        ZSTD_freeCCtx(w->cctx);
        snapshot_check_done(&w->check);
        EVP_MD_CTX_free(w->file_sha);
        free(w->out_buf);
        ring_free(w->ring);
        free(w->file);
        free(w->partial);
        free(w->error_message);
        free(w);
        return NULL;
}

int backup_writer_new(int dir_fd, const BackupMeta *meta, const atomic_bool *cancel, BackupWriter **ret,
                      char **ret_message) {
        _cleanup_(backup_writer_freep) BackupWriter *w = NULL;
        uint8_t frame[BACKUP_META_FRAME_SIZE] = {};
        sigset_t all, saved;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->fd = w->dir_fd = -EBADF;
        w->meta = *meta;
        w->meta.zstd_level = BACKUP_ZSTD_LEVEL;

        r = backup_file_name(&w->meta, &w->file);
        if (r < 0)
                return set_message(ret_message, r, "Cannot name the backup file");
        if (asprintf(&w->partial, "%s" BACKUP_PARTIAL_SUFFIX, w->file) < 0)
                return -ENOMEM;

        w->dir_fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (w->dir_fd < 0)
                return -errno;

        r = ring_new(RING_SIZE, cancel, &w->ring);
        if (r < 0)
                return r;
        w->out_buf = malloc(IO_BUFFER_SIZE);
        w->cctx = ZSTD_createCCtx();
        w->file_sha = sha256_new();
        if (!w->out_buf || !w->cctx || !w->file_sha)
                return -ENOMEM;
        /* Level 3 with a 1 MiB match table instead of its 512 KiB: as fast, and no larger than
         * `zstd -3` (which splits its input into jobs for a worker thread) on etcd databases,
         * text or binaries, where single-threaded level 3 alone is up to 0.5% larger. */
        if (ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, BACKUP_ZSTD_LEVEL)) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_hashLog, 18)) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1)))
                return set_message(ret_message, -EIO, "Cannot set up zstd");

        w->fd = openat(w->dir_fd, w->partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (w->fd < 0)
                return set_message(ret_message, -errno, "Cannot create %s: %m", w->partial);

        /* A placeholder frame of the final size, completed in place by backup_writer_finish(). */
        write_le32(frame, BACKUP_META_MAGIC);
        write_le32(frame + 4, BACKUP_META_FRAME_SIZE - 8);
        r = write_full(w->fd, frame, sizeof(frame));
        if (r < 0)
                return set_message(ret_message, r, "Cannot write %s: %s", w->partial, strerror(-r));

        /* The loop's signals must reach the loop's thread, never this one. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &saved);
        r = -pthread_create(&w->thread, NULL, writer_thread, w);
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        if (r < 0)
                return set_message(ret_message, r, "Cannot start the compressor thread: %s", strerror(-r));
        w->thread_started = true;

        *ret = TAKE_PTR(w);
        return 0;
}

int backup_writer_begin(BackupWriter *w, uint64_t db_size) {
        /* Known before the first byte is compressed, so zstd records it in the frame header, as
         * `zstd` does for a file, and `zstd -l` shows it. */
        w->db_size = db_size;
        if (snapshot_check_init(&w->check, db_size) < 0)
                return -ENOMEM;
        if (ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(w->cctx, db_size + SHA256_DIGEST_SIZE)))
                return set_message(&w->error_message, -EIO, "zstd refused the snapshot size");
        return 0;
}

int backup_writer_write(BackupWriter *w, const void *p, size_t size, char **ret_message) {
        int r;

        /* Checked here, as the stream arrives, on the thread that otherwise mostly waits for
         * etcd; the compressor thread has enough to do. */
        r = snapshot_check_feed(&w->check, p, size, ret_message);
        if (r < 0)
                return r;

        r = ring_write(w->ring, p, size);
        /* Any error but a cancel is the compressor's, whose message was set before it aborted
         * the ring: seen here through the ring's lock. */
        if (r < 0 && r != -ECANCELED)
                (void) set_message(ret_message, r, "%s", strna(w->error_message));
        return r;
}

uint64_t backup_writer_bytes_done(BackupWriter *w) {
        return atomic_load(&w->bytes_done);
}

int backup_writer_finish(BackupWriter *w, BackupMeta *ret_meta, char **ret_file, char **ret_message) {
        char frame[BACKUP_META_FRAME_SIZE - 8] = {};
        int r;

        writer_stop(w, /* abort= */ false);
        if (w->error < 0)
                return set_message(ret_message, w->error, "%s", strna(w->error_message));

        /* The checks etcdctl leaves to restore time, done while the data is still in hand. */
        r = snapshot_check_finish(&w->check, w->meta.snapshot_sha256, ret_message);
        if (r < 0)
                return r;
        sha256_final(w->file_sha, w->meta.compressed_sha256);
        w->meta.snapshot_size = w->consumed;
        w->meta.compressed_size = w->written;
        w->meta.completed = now(CLOCK_REALTIME);

        r = backup_meta_format(&w->meta, frame, sizeof(frame));
        if (r < 0)
                return set_message(ret_message, r, "Cannot encode the backup metadata");
        ssize_t n = pwrite(w->fd, frame, sizeof(frame), 8);
        if (n < 0)
                return set_message(ret_message, -errno, "Cannot write %s: %m", w->partial);
        if (n != (ssize_t) sizeof(frame))
                return set_message(ret_message, -EIO, "Cannot write %s: short write of its metadata", w->partial);
        if (fsync(w->fd) < 0)
                return set_message(ret_message, -errno, "Cannot sync %s: %m", w->partial);
        /* Never replace: a name clash would mean two backups claim one id. */
        r = rename_noreplace(w->dir_fd, w->partial, w->dir_fd, w->file);
        if (r < 0)
                return set_message(ret_message, r, "Cannot rename %s into place: %s", w->partial, strerror(-r));
        r = fsync_dir(w->dir_fd);
        if (r < 0) {
                /* Not durable, so not reported as done: take it back rather than leave a file
                 * that might vanish with the next power cut. */
                (void) unlinkat(w->dir_fd, w->file, 0);
                return set_message(ret_message, r, "Cannot sync the backup directory: %s", strerror(-r));
        }
        w->finished = true;

        if (ret_meta)
                *ret_meta = w->meta;
        if (ret_file) {
                *ret_file = strdup(w->file);
                if (!*ret_file)
                        return -ENOMEM;
        }
        return 0;
}
