/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * etcd's bbolt database, read and edited in place for a restore: the header check of a
 * snapshot, the revisions a database holds, and the revision bump that
 * `etcdutl snapshot restore --bump-revision N --mark-compacted` makes, for etcd releases whose
 * restore tool lacks those flags (Debian 12's etcdctl 3.4.23). The format and the rules it
 * follows are described in bbolt.c. Non-logging: negative errno, and a message saying what did
 * not check out.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Page sizes accepted: bbolt takes the OS page size, which is 4 KiB on x86-64 and up to 64 KiB
 * on arm64 and ppc64le kernels. */
#define BBOLT_PAGE_SIZE_MIN 1024U
#define BBOLT_PAGE_SIZE_MAX 65536U
/* The start of a database that bbolt_check_header() needs at most: both meta pages. */
#define BBOLT_HEADER_MAX (2U * BBOLT_PAGE_SIZE_MAX)

typedef struct BboltHeader {
        uint32_t page_size;
        uint64_t txid;           /* of the meta page in use, the one with the higher txid */
        uint64_t root;           /* page of the root bucket */
        uint64_t high_water;     /* pages in use, meta page included: the file holds at least this many */
        bool freelist_synced;    /* false for etcd's NoFreelistSync databases */
} BboltHeader;

/* Revisions as etcd's mvcc stores them, main revisions only; -1 where a key is absent (etcd's
 * own "nothing compacted yet"). */
typedef struct BboltRevisions {
        int64_t latest;            /* of the largest key in bucket "key"; 0 when it is empty */
        int64_t latest_sub;
        int64_t scheduled_compact; /* bucket "meta", key "scheduledCompactRev" */
        int64_t finished_compact;  /* bucket "meta", key "finishedCompactRev" */
} BboltRevisions;

/*
 * Checks the two meta pages at the start of a database: magic, version, FNV-1a checksum, page
 * type and id, one page size, a root, freelist and high-water mark that lie inside a database
 * of db_size bytes. head holds the first MIN(db_size, BBOLT_HEADER_MAX) bytes (or more), which
 * is what a streaming reader of a snapshot can keep (-EINVAL if it holds less than both meta
 * pages). -EBADMSG with a message if anything does not check out.
 */
int bbolt_check_header(const void *head, size_t size, uint64_t db_size, BboltHeader *ret, char **ret_message);

/* Whether a process holds bbolt's lock on the database open at fd (etcd flock()s member/snap/db
 * for as long as it has it open): 1 if it does, 0 if not (the lock is tried and let go at
 * once), a negative errno if that cannot be told. Never blocks. */
int bbolt_lock_held(int fd);

/*
 * Reads the revisions of the database open at fd, checking the header and every page read on
 * the way (the right-most path of bucket "key", the path to the two meta keys). Holds bbolt's
 * shared lock (flock) for the call: -EBUSY while etcd has the database open. -EBADMSG for
 * anything that is not a sound etcd database.
 */
int bbolt_read_revisions(int fd, BboltRevisions *ret, char **ret_message);

/*
 * The revision bump, on a database no etcd runs on (the staged output of a restore, before
 * etcd starts on it). In one bbolt transaction: bucket "key" gets the empty entry
 * BE64(latest + bump) '_' BE64(0), bucket "meta" gets "scheduledCompactRev" = that revision, so
 * that etcd starts at latest + bump and treats every older revision as compacted. Holds bbolt's
 * exclusive lock for the call (-EBUSY if etcd has the file open). Everything is read and checked
 * before the first write (-EBADMSG, the file untouched); the new pages go past the high-water
 * mark and only the final meta page write makes them part of the database, so a crash or an
 * I/O error leaves either the old database or the bumped one. ret_before: the revisions as they
 * were. -EINVAL for bump 0, -EOVERFLOW if latest + bump leaves int64.
 *
 * -EFBIG for a node of more than 256 MiB, which etcd does not write.
 *
 * Not idempotent: a second call bumps again. A resumed restore that recorded the revision
 * before can tell a bump that completed (latest == scheduled_compact == that + bump); after a
 * crash in the meta page write, bbolt opens the old database but this module refuses the torn
 * meta page: stage again from the snapshot.
 */
int bbolt_bump_revision(int fd, uint64_t bump, BboltRevisions *ret_before, char **ret_message);
