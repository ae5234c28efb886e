/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The etcd client: the Maintenance/Status and Maintenance/Snapshot calls of etcd's v3 gRPC API
 * over the gRPC core C API, plain or with mutual TLS. Every call blocks, so only worker threads
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
