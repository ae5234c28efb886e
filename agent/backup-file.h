/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The backup file format. A backup is one file, NAME.db.zst:
 *
 *   offset 0     zstd skippable frame (magic 0x184D2A5E, 4-byte LE size): the metadata, as
 *                "KEY=value" lines after a "ETCD-BACKUP-METADATA 1" signature, ending in a
 *                META_SHA256= line over the text before it, NUL padded
 *   offset 4096  one zstd frame: the etcd snapshot exactly as `etcdctl snapshot save` writes
 *                it, i.e. the bbolt database followed by the SHA-256 of the database
 *
 * Stock `zstd -d` skips the first frame and writes the snapshot. The metadata frame has a fixed
 * size so that it can be written first and completed in place once the stream has ended.
 * COMPRESSED_SHA256 covers every byte after the metadata frame, so a file at rest can be
 * checked without decompressing it.
 *
 * The writer compresses on its own thread while the stream arrives, never holds more than a
 * fixed ring of data, writes NAME.db.zst.partial and renames it only once everything checked
 * out and was fsynced. Non-logging.
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "names.h"

#define BACKUP_FILE_SUFFIX ".db.zst"
#define BACKUP_PARTIAL_SUFFIX ".partial"
#define BACKUP_META_MAGIC 0x184D2A5EU
#define BACKUP_META_FRAME_SIZE 4096U
#define BACKUP_META_SIGNATURE "ETCD-BACKUP-METADATA 1\n"
#define BACKUP_ZSTD_LEVEL 3
#define SHA256_DIGEST_SIZE 32

typedef struct BackupMeta {
        char id[BACKUP_ID_STRING_MAX];
        char config[CONFIG_NAME_MAX + 1];
        char node[65];
        char etcd_version[32];
        uint64_t cluster_id;
        uint64_t member_id;
        int64_t revision; /* the member's revision when the snapshot began */
        uint64_t raft_term;
        uint64_t raft_index;
        usec_t created;   /* CLOCK_REALTIME, when the snapshot began */
        usec_t completed; /* CLOCK_REALTIME, when the file was complete */
        uint64_t snapshot_size; /* the snapshot as etcdctl saves it: database + 32-byte SHA-256 */
        uint8_t snapshot_sha256[SHA256_DIGEST_SIZE]; /* SHA-256 of the database: etcd's trailer */
        uint64_t compressed_size;                    /* bytes after the metadata frame */
        uint8_t compressed_sha256[SHA256_DIGEST_SIZE];
        int zstd_level;
        char agent_version[32];
} BackupMeta;

/* Metadata as text, and back. Unknown keys are ignored so that newer agents can add some. */
int backup_meta_format(const BackupMeta *m, char *buf, size_t size);
int backup_meta_parse(const char *text, size_t size, BackupMeta *ret);

/* "CONFIG-20261125T100000Z-ID.db.zst": sorts by time within a configuration for `ls`. */
int backup_file_name(const BackupMeta *m, char **ret);

/* Reads and checks the metadata frame at the start of fd. -EBADMSG for a file that is not a
 * complete backup. */
int backup_file_read_meta(int fd, BackupMeta *ret, char **ret_message);

/*
 * Decompresses a backup and checks it end to end against its metadata: the size and SHA-256 of
 * the compressed data, zstd's frame checksum, the snapshot's size, etcd's SHA-256 trailer and
 * the bbolt header. When out_fd >= 0 the snapshot is written there as it is checked (what a
 * restore needs). -EBADMSG with a message saying what does not match when the file is corrupt.
 */
typedef struct BackupProgress {
        _Atomic uint64_t done;
        _Atomic uint64_t total;
} BackupProgress;

int backup_file_extract(int fd, int out_fd, BackupProgress *progress, const atomic_bool *cancel, BackupMeta *ret_meta,
                        char **ret_message);

/*
 * What a snapshot must be, checked as it streams by (from etcd into the writer, out of a backup
 * in the reader): exactly the announced database size and then 32 bytes, the SHA-256 of the
 * database, which must begin with bbolt's meta page. feed() fails (-EBADMSG, with a message)
 * as soon as the stream is longer than announced, finish() when it is shorter, its trailer
 * does not match, or it is not bbolt; on success finish() gives the database's SHA-256.
 */
typedef struct SnapshotCheck {
        uint64_t db_size;  /* announced, without the trailer */
        uint64_t received; /* so far, the trailer included */
        struct evp_md_ctx_st *sha; /* OpenSSL's EVP_MD_CTX */
        uint8_t head[24];  /* bbolt's page header, magic and version */
        uint8_t trailer[SHA256_DIGEST_SIZE];
} SnapshotCheck;

int snapshot_check_init(SnapshotCheck *c, uint64_t db_size);
int snapshot_check_feed(SnapshotCheck *c, const void *p, size_t n, char **ret_message);
int snapshot_check_finish(SnapshotCheck *c, uint8_t ret_sha256[static SHA256_DIGEST_SIZE], char **ret_message);
void snapshot_check_done(SnapshotCheck *c);

typedef struct BackupWriter BackupWriter;

/* Creates dir_fd/NAME.db.zst.partial (mode 0600: a snapshot holds every secret of the cluster)
 * and starts the compressor thread. meta supplies id, config and what etcd reported; sizes,
 * hashes and the completion time are filled in by backup_writer_finish(). A set cancel flag
 * makes backup_writer_write() give up even while the disk does not take data. */
int backup_writer_new(int dir_fd, const BackupMeta *meta, const atomic_bool *cancel, BackupWriter **ret,
                      char **ret_message);
/* The database size from the first stream message; must precede backup_writer_write(). */
int backup_writer_begin(BackupWriter *w, uint64_t db_size);
/* Stream bytes as they arrive; blocks while the ring is full. Returns the compressor's error
 * and its message, if it had one, so that the caller stops the stream. */
int backup_writer_write(BackupWriter *w, const void *p, size_t size, char **ret_message);
/* Checks the trailer, completes the metadata, fsyncs, renames to NAME.db.zst, fsyncs the
 * directory. On success ret_meta holds what was written and ret_file the final file name. */
int backup_writer_finish(BackupWriter *w, BackupMeta *ret_meta, char **ret_file, char **ret_message);
/* Stops the thread and removes the .partial file unless finish succeeded. */
BackupWriter *backup_writer_free(BackupWriter *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(BackupWriter *, backup_writer_free);

/* Bytes the compressor has taken in so far: the progress of a backup. */
uint64_t backup_writer_bytes_done(BackupWriter *w);
