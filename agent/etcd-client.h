/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The etcd client: the Maintenance/Status, Maintenance/Snapshot, KV/Range, Cluster/MemberList and
 * Maintenance/HashKV calls of etcd's v3 gRPC API, and the membership changes a member rejoining a
 * (restored) cluster makes (Cluster/MemberAdd, MemberRemove, MemberPromote), over the gRPC core C
 * API, plain or with mutual TLS, and the health check a restore waits for. Every call blocks, so only worker threads
 * make them; gRPC's completion queue has no fd the event loop could watch. Non-logging: failures
 * come back as negative errno plus a message that names the endpoint and what to check.
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* Where the local member listens, and the client TLS files ([Etcd] in agent.conf). */
typedef struct EtcdEndpoint {
        char *url; /* http://host:port or https://host:port */
        char *trusted_ca_file;
        char *cert_file;
        char *key_file;
} EtcdEndpoint;

void etcd_endpoint_done(EtcdEndpoint *e);

/* Splits an endpoint URL into the gRPC target ("host:port", 2379 when no port is given) and
 * whether it wants TLS. -EINVAL for anything but http:// and https:// URLs without a path. */
int etcd_endpoint_parse_url(const char *url, char **ret_target, bool *ret_tls);

typedef struct EtcdStatus {
        uint64_t cluster_id;
        uint64_t member_id;
        uint64_t leader;
        uint64_t raft_term;
        uint64_t raft_index;
        int64_t revision; /* of the member's store when it answered: a lower bound for the snapshot */
        uint64_t db_size;
        uint64_t db_size_in_use;
        char version[32];
        bool is_learner;
        char *errors; /* the member's alarms ("NOSPACE", ...), "; "-separated, or NULL */
} EtcdStatus;

void etcd_status_done(EtcdStatus *s);

typedef struct EtcdClient EtcdClient;

/* Call grpc_init() before the first client and grpc_shutdown() after the last, on a thread
 * with every signal the loop handles blocked, since gRPC starts its own threads there. */
int etcd_client_new(const EtcdEndpoint *e, EtcdClient **ret, char **ret_message);
EtcdClient *etcd_client_free(EtcdClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(EtcdClient *, etcd_client_free);

/* A set cancel flag makes a call give up within a fraction of a second. */
int etcd_client_status(EtcdClient *c, usec_t timeout, const atomic_bool *cancel, EtcdStatus *ret,
                       char **ret_message);

/*
 * Where the snapshot stream goes. begin() learns the database size from the first message;
 * data() then receives the stream exactly as etcdctl would save it: the database bytes followed
 * by the 32-byte SHA-256 etcd sends last. A negative return from either cancels the call and is
 * passed up unchanged (the sink keeps its own account of why).
 */
typedef struct EtcdSnapshotSink {
        int (*begin)(uint64_t db_size, void *userdata);
        int (*data)(const void *p, size_t size, void *userdata);
        void *userdata;
} EtcdSnapshotSink;

typedef struct EtcdSnapshotOptions {
        usec_t timeout;         /* the whole stream; size it from the database size */
        usec_t stall_timeout;   /* less than stall_min_bytes for this long: give up, it pins a read txn in etcd */
        size_t stall_min_bytes;
        const atomic_bool *cancel;
} EtcdSnapshotOptions;

#define ETCD_SNAPSHOT_DIGEST_SIZE 32

int etcd_client_snapshot(EtcdClient *c, const EtcdSnapshotOptions *o, const EtcdSnapshotSink *sink,
                         char **ret_message);

/* What etcd says of itself in every answer. */
typedef struct EtcdHeader {
        uint64_t cluster_id;
        uint64_t member_id;
        int64_t revision; /* the member's store revision when it answered */
        uint64_t raft_term;
} EtcdHeader;

/* A read. key is a C string (the agent's keys are text); with prefix set, every key that starts
 * with it (every key at all for ""), else with range_end set, [key, range_end); else key alone. */
typedef struct EtcdRangeRequest {
        const char *key;
        const char *range_end;
        bool prefix;
        int64_t limit;     /* at most this many keys; 0: no limit */
        int64_t revision;  /* the store as of this revision; 0: the newest */
        bool serializable; /* answered by the member alone; else linearizable, through raft */
        bool count_only;   /* only count the keys */
        bool keys_only;    /* no values */
} EtcdRangeRequest;

typedef struct EtcdKeyValue {
        char *key; /* NUL-terminated copies; key_size and value_size do not count the NUL */
        size_t key_size;
        char *value;
        size_t value_size;
        int64_t create_revision;
        int64_t mod_revision;
        int64_t version;
        int64_t lease;
} EtcdKeyValue;

/* What a Range answered. An answer is at most 4 MiB (gRPC's default receive limit: a bigger one
 * fails with -EPROTO, "Received message larger than max"; ask with a limit), and of it kvs keeps
 * keys and values up to ETCD_RANGE_KEEP_BYTES in all: the rest is dropped and truncated set. */
#define ETCD_RANGE_KEEP_BYTES (1024U * 1024U)

typedef struct EtcdRange {
        EtcdHeader header;
        EtcdKeyValue *kvs;
        size_t n_kvs;
        int64_t count;  /* keys in the range, including those limit held back */
        bool more;      /* limit held keys back */
        bool truncated; /* etcd sent more than ETCD_RANGE_KEEP_BYTES: kvs holds the first keys only */
} EtcdRange;

void etcd_range_done(EtcdRange *r);

/*
 * KV/Range. Errors besides those every call has (-EHOSTUNREACH etcd cannot be reached or has no
 * leader, -ETIMEDOUT, -ECANCELED, -EKEYREJECTED credentials or permissions refused, -EPROTO,
 * -EBADMSG): -ESTALE when the revision has been compacted, -ERANGE when it is a future revision
 * (etcd answers OUT_OF_RANGE for both, "etcdserver: mvcc: required revision has been compacted"
 * and "... is a future revision"); -E2BIG for a request larger than etcd takes. *ret is set
 * on success only; etcd_range_done() it.
 */
int etcd_client_range(EtcdClient *c, const EtcdRangeRequest *req, usec_t timeout, const atomic_bool *cancel,
                      EtcdRange *ret, char **ret_message);

typedef struct EtcdMember {
        uint64_t id;
        char *name;        /* "" for a member added but not started yet */
        char **peer_urls;  /* NULL-terminated, never NULL */
        char **client_urls;
        bool is_learner;
} EtcdMember;

/* At most ETCD_MEMBERS_MAX members are kept (etcd recommends clusters of up to 7); more is
 * -EBADMSG. Names and URLs are etcd's, as it sent them. */
#define ETCD_MEMBERS_MAX 64U

typedef struct EtcdMemberList {
        EtcdHeader header; /* etcd leaves its revision 0 here */
        EtcdMember *members;
        size_t n_members;
} EtcdMemberList;

void etcd_member_list_done(EtcdMemberList *l);

/* Cluster/MemberList. linearizable asks etcd 3.5+ to answer through raft; 3.4 always answers
 * from the member's own view. *ret is set on success only; etcd_member_list_done() it. */
int etcd_client_member_list(EtcdClient *c, bool linearizable, usec_t timeout, const atomic_bool *cancel,
                            EtcdMemberList *ret, char **ret_message);

/* The member with this id, or NULL. */
const EtcdMember *etcd_member_list_find(const EtcdMemberList *l, uint64_t id);

/*
 * etcd's --initial-cluster for member self_id joining the cluster l lists (as MemberAdd answered
 * it): NAME=PEER_URL for every peer URL of every member, self_name for self_id, whose name etcd
 * does not know before it started, as etcdctl member add prints it. -EBUSY when another member
 * was added but has not started (--initial-cluster needs its name, which etcd learns when it starts);
 * -ENOENT when self_id is not in l; -EINVAL for an empty self_name or a name or URL that cannot
 * be written there.
 */
int etcd_member_list_initial_cluster(const EtcdMemberList *l, uint64_t self_id, const char *self_name, char **ret,
                                     char **ret_message);

/*
 * The membership changes, linearizable through raft. Errors besides those every call has
 * (-EHOSTUNREACH also for "etcdserver: unhealthy cluster", "... rpc not supported for learner"),
 * each with etcd's own text kept in the message:
 *   -EAGAIN     promote: the learner is not in sync with the leader yet ("can only promote a
 *               learner member which is in sync with leader"): try again later;
 *   -EALREADY   promote: the member is no learner ("can only promote a learner member");
 *   -EBUSY      add: the cluster has its one learner already ("too many learner members");
 *   -EHOSTDOWN  add, remove: the change would leave too few started members for a quorum
 *               ("re-configuration failed due to not enough started members");
 *   -EEXIST     add: a member with one of the peer URLs exists ("Peer URLs already exists");
 *   -ENOENT     remove, promote: no member has that id ("member not found");
 *   -EINVAL     add: a peer URL etcd does not take ("given member URLs are invalid");
 *   -EKEYREJECTED etcd authentication is on and the client is not root.
 * A change that timed out or was cancelled may still have been made: look at MemberList. etcd
 * refuses to remove a voter ("unhealthy cluster", -EHOSTUNREACH) until the others have been
 * connected for 5 s, so a removal right after a member started wants retrying.
 */

/* Cluster/MemberAdd of a member with these peer URLs (NULL-terminated, at least one), as a
 * learner or as a voter. *ret_id is the new member's id, *ret every member after the change,
 * the new one included (its name "" and no client URLs until it starts); set on success only. */
int etcd_client_member_add(EtcdClient *c, char * const *peer_urls, bool is_learner, usec_t timeout,
                           const atomic_bool *cancel, uint64_t *ret_id, EtcdMemberList *ret, char **ret_message);

/* Cluster/MemberRemove and Cluster/MemberPromote of member id. ret, if not NULL, gets every
 * member after the change; set on success only. */
int etcd_client_member_remove(EtcdClient *c, uint64_t id, usec_t timeout, const atomic_bool *cancel,
                              EtcdMemberList *ret, char **ret_message);
int etcd_client_member_promote(EtcdClient *c, uint64_t id, usec_t timeout, const atomic_bool *cancel,
                               EtcdMemberList *ret, char **ret_message);

typedef struct EtcdHashKV {
        EtcdHeader header;
        uint32_t hash;            /* CRC-32C over the keys and values up to the revision */
        int64_t compact_revision; /* the store's compaction when the hash began */
        int64_t hash_revision;    /* the revision hashed (etcd 3.6+; 0 from older servers) */
} EtcdHashKV;

/* Maintenance/HashKV at revision (0: the newest): equal hashes at one revision mean equal data
 * on two members. -ESTALE and -ERANGE as for Range; -EKEYREJECTED when etcd authentication is on
 * and the client is not root. */
int etcd_client_hash_kv(EtcdClient *c, int64_t revision, usec_t timeout, const atomic_bool *cancel,
                        EtcdHashKV *ret, char **ret_message);

/* What a restore expects of the etcd it just started. */
typedef struct EtcdHealthExpect {
        int64_t min_revision;       /* at least this (the backup's plus the bump); 0: not checked */
        int64_t compacted_revision; /* a read here must answer "compacted"; 0: not checked */
} EtcdHealthExpect;

typedef struct EtcdHealth {
        EtcdStatus status;  /* the Status answer */
        EtcdHeader header;  /* of the linearizable read (header.revision from Status when etcd
                             * authentication refused the read: it passed raft all the same) */
        bool read_refused;  /* etcd authentication refused the read; counts as healthy, as for
                             * etcdctl endpoint health */
} EtcdHealth;

void etcd_health_done(EtcdHealth *h);

/*
 * The health check after a restore, in order, with one timeout for all of it:
 *   1. Status answers (its errors), the member knows a leader (-ENOTCONN otherwise) and has no
 *      alarm raised (-ENOSPC for NOSPACE, -EUCLEAN for any other, CORRUPT included);
 *   2. a linearizable Range of key "health" succeeds, as etcdctl endpoint health does (its
 *      errors; permission denied counts as healthy);
 *   3. the revision is at least expect->min_revision (-ENODATA: etcd runs on other data than
 *      the restore put there);
 *   4. a Range at expect->compacted_revision answers "compacted" (-EEXIST when that revision is
 *      still readable, -ENODATA when etcd has not even reached it); not checked when etcd
 *      authentication refuses the reads (read_refused), as etcd then never says.
 * -EHOSTUNREACH, -ENOTCONN and -ETIMEDOUT are what a starting etcd gives before it serves; the
 * others mean that waiting longer will not help. *ret is zeroed first and filled as far as the
 * check got, failed or not: always pass it to etcd_health_done(). The message names the endpoint
 * and what was expected.
 */
int etcd_client_check_health(EtcdClient *c, const EtcdHealthExpect *expect, usec_t timeout,
                             const atomic_bool *cancel, EtcdHealth *ret, char **ret_message);
