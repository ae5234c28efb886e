/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The benchmark's baseline: etcd's snapshot stream read through the agent's own gRPC client and
 * thrown away, with no hashing, compression or disk. What the agent adds on top of this is the
 * cost of a backup.
 *
 *   snapshot-discard ENDPOINT [CACERT CERT KEY]
 *
 * Prints the stream size in bytes.
 */

#include <grpc/grpc.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "etcd-client.h"

static int begin(uint64_t db_size, void *userdata) {
        return 0;
}

static int data(const void *p, size_t size, void *userdata) {
        *(uint64_t *) userdata += size;
        return 0;
}

int main(int argc, char *argv[]) {
        EtcdEndpoint e = {};
        EtcdClient *c = NULL;
        char *message = NULL;
        uint64_t bytes = 0;
        int r;

        if (argc != 2 && argc != 5) {
                fprintf(stderr, "usage: %s ENDPOINT [CACERT CERT KEY]\n", argv[0]);
                return 2;
        }
        e.url = argv[1];
        if (argc == 5) {
                e.trusted_ca_file = argv[2];
                e.cert_file = argv[3];
                e.key_file = argv[4];
        }

        grpc_init();
        r = etcd_client_new(&e, &c, &message);
        if (r >= 0) {
                EtcdSnapshotSink sink = { .begin = begin, .data = data, .userdata = &bytes };
                EtcdSnapshotOptions o = { .timeout = USEC_INFINITY, .stall_timeout = 60 * USEC_PER_SEC };
                r = etcd_client_snapshot(c, &o, &sink, &message);
        }
        if (r < 0)
                fprintf(stderr, "%s\n", message ?: "failed");
        else
                printf("%" PRIu64 "\n", bytes);
        etcd_client_free(c);
        free(message);
        grpc_shutdown();
        return r < 0 ? 1 : 0;
}
