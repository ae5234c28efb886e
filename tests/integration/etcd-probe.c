/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent's etcd client, one call per run, for test-etcd-client.sh: what the call returned, as
 * key=value lines the script can compare with what etcdctl says.
 *
 *   etcd-probe [OPTIONS] range KEY | members | hashkv | health | member-add | member-remove ID |
 *              member-promote ID
 *
 * Options: --endpoint URL, --cacert/--cert/--key FILE, --timeout-ms N (default 5000),
 * --cancel-after-ms N (sets the cancel flag from another thread), and for range --prefix,
 * --range-end KEY, --limit N, --rev N, --serializable, --count-only, --keys-only; hashkv --rev N;
 * members --linearizable; health --min-rev N, --compacted-rev N; member-add --peer URL (repeated),
 * --learner, --name NAME (also prints the --initial-cluster for NAME). IDs in decimal (or 0x hex),
 * as etcdctl -w fields prints them.
 * Always prints elapsed_ms=; on failure error=ENAME and message=, exit status 1.
 */

#include <getopt.h>
#include <grpc/grpc.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etcd-client.h"
#include "string-util.h"
#include "time-util.h"

static atomic_bool cancel_flag;

static void *cancel_after(void *userdata) {
        usec_t t = *(usec_t *) userdata;
        struct timespec ts = { .tv_sec = t / USEC_PER_SEC, .tv_nsec = (long) (t % USEC_PER_SEC * NSEC_PER_USEC) };

        nanosleep(&ts, NULL);
        atomic_store(&cancel_flag, true);
        return NULL;
}

static void print_header(const EtcdHeader *h) {
        printf("revision=%" PRIi64 "\ncluster_id=%" PRIu64 "\nmember_id=%" PRIu64 "\nraft_term=%" PRIu64 "\n", h->revision,
               h->cluster_id, h->member_id, h->raft_term);
}

static void print_members(const EtcdMemberList *l) {
        print_header(&l->header);
        printf("members=%zu\n", l->n_members);
        for (size_t i = 0; i < l->n_members; i++) {
                _cleanup_free_ char *peers = strv_join(l->members[i].peer_urls, ","),
                                    *clients = strv_join(l->members[i].client_urls, ",");
                printf("member id=%" PRIu64 " name=%s peer=%s client=%s learner=%i\n", l->members[i].id,
                       l->members[i].name, strempty(peers), strempty(clients), l->members[i].is_learner);
        }
}

int main(int argc, char *argv[]) {
        enum { ARG_ENDPOINT = 0x100, ARG_CACERT, ARG_CERT, ARG_KEY, ARG_TIMEOUT, ARG_CANCEL, ARG_PREFIX, ARG_RANGE_END,
               ARG_LIMIT, ARG_REV, ARG_SERIALIZABLE, ARG_COUNT_ONLY, ARG_KEYS_ONLY, ARG_LINEARIZABLE, ARG_MIN_REV,
               ARG_COMPACTED_REV, ARG_PEER, ARG_LEARNER, ARG_NAME };
        static const struct option options[] = {
                { "endpoint", required_argument, NULL, ARG_ENDPOINT },
                { "cacert", required_argument, NULL, ARG_CACERT },
                { "cert", required_argument, NULL, ARG_CERT },
                { "key", required_argument, NULL, ARG_KEY },
                { "timeout-ms", required_argument, NULL, ARG_TIMEOUT },
                { "cancel-after-ms", required_argument, NULL, ARG_CANCEL },
                { "prefix", no_argument, NULL, ARG_PREFIX },
                { "range-end", required_argument, NULL, ARG_RANGE_END },
                { "limit", required_argument, NULL, ARG_LIMIT },
                { "rev", required_argument, NULL, ARG_REV },
                { "serializable", no_argument, NULL, ARG_SERIALIZABLE },
                { "count-only", no_argument, NULL, ARG_COUNT_ONLY },
                { "keys-only", no_argument, NULL, ARG_KEYS_ONLY },
                { "linearizable", no_argument, NULL, ARG_LINEARIZABLE },
                { "min-rev", required_argument, NULL, ARG_MIN_REV },
                { "compacted-rev", required_argument, NULL, ARG_COMPACTED_REV },
                { "peer", required_argument, NULL, ARG_PEER },
                { "learner", no_argument, NULL, ARG_LEARNER },
                { "name", required_argument, NULL, ARG_NAME },
                {},
        };
        EtcdEndpoint e = {};
        EtcdRangeRequest q = {};
        EtcdHealthExpect expect = {};
        usec_t timeout = 5 * USEC_PER_SEC, cancel_usec = USEC_INFINITY, start;
        bool linearizable = false, learner = false;
        char *peers[8] = {};
        size_t n_peers = 0;
        const char *name = NULL;
        EtcdClient *c = NULL;
        char *message = NULL;
        pthread_t thread;
        int opt, r;

        while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (opt) {
                case ARG_ENDPOINT: e.url = optarg; break;
                case ARG_CACERT: e.trusted_ca_file = optarg; break;
                case ARG_CERT: e.cert_file = optarg; break;
                case ARG_KEY: e.key_file = optarg; break;
                case ARG_TIMEOUT: timeout = strtoull(optarg, NULL, 10) * USEC_PER_MSEC; break;
                case ARG_CANCEL: cancel_usec = strtoull(optarg, NULL, 10) * USEC_PER_MSEC; break;
                case ARG_PREFIX: q.prefix = true; break;
                case ARG_RANGE_END: q.range_end = optarg; break;
                case ARG_LIMIT: q.limit = strtoll(optarg, NULL, 10); break;
                case ARG_REV: q.revision = strtoll(optarg, NULL, 10); break;
                case ARG_SERIALIZABLE: q.serializable = true; break;
                case ARG_COUNT_ONLY: q.count_only = true; break;
                case ARG_KEYS_ONLY: q.keys_only = true; break;
                case ARG_LINEARIZABLE: linearizable = true; break;
                case ARG_MIN_REV: expect.min_revision = strtoll(optarg, NULL, 10); break;
                case ARG_COMPACTED_REV: expect.compacted_revision = strtoll(optarg, NULL, 10); break;
                case ARG_PEER:
                        if (n_peers >= ELEMENTSOF(peers) - 1)
                                return 2;
                        peers[n_peers++] = optarg;
                        break;
                case ARG_LEARNER: learner = true; break;
                case ARG_NAME: name = optarg; break;
                default: return 2;
                }
        if (!e.url || optind >= argc) {
                fprintf(stderr, "usage: %s --endpoint URL [OPTIONS] range KEY|members|hashkv|health|member-add|member-remove ID|member-promote ID\n", argv[0]);
                return 2;
        }
        const char *verb = argv[optind];

        grpc_init();
        if (cancel_usec != USEC_INFINITY && pthread_create(&thread, NULL, cancel_after, &cancel_usec) != 0)
                return 2;

        start = now(CLOCK_MONOTONIC);
        r = etcd_client_new(&e, &c, &message);
        if (r < 0)
                ;
        else if (streq(verb, "range") && optind + 1 < argc) {
                EtcdRange range = {};

                q.key = argv[optind + 1];
                r = etcd_client_range(c, &q, timeout, &cancel_flag, &range, &message);
                if (r >= 0) {
                        print_header(&range.header);
                        printf("count=%" PRIi64 "\nmore=%i\ntruncated=%i\nkvs=%zu\n", range.count, range.more,
                               range.truncated, range.n_kvs);
                        for (size_t i = 0; i < range.n_kvs; i++)
                                printf("kv=%s value=%s value_size=%zu create=%" PRIi64 " mod=%" PRIi64 " version=%" PRIi64 "\n",
                                       range.kvs[i].key, range.kvs[i].value, range.kvs[i].value_size,
                                       range.kvs[i].create_revision, range.kvs[i].mod_revision, range.kvs[i].version);
                }
                etcd_range_done(&range);
        } else if (streq(verb, "members")) {
                EtcdMemberList l = {};

                r = etcd_client_member_list(c, linearizable, timeout, &cancel_flag, &l, &message);
                if (r >= 0)
                        print_members(&l);
                etcd_member_list_done(&l);
        } else if (streq(verb, "member-add")) {
                EtcdMemberList l = {};
                uint64_t id = 0;

                r = etcd_client_member_add(c, peers, learner, timeout, &cancel_flag, &id, &l, &message);
                if (r >= 0) {
                        printf("added_id=%" PRIu64 "\n", id);
                        print_members(&l);
                        if (name) {
                                _cleanup_free_ char *ic = NULL;

                                r = etcd_member_list_initial_cluster(&l, id, name, &ic, &message);
                                if (r >= 0)
                                        printf("initial_cluster=%s\n", ic);
                        }
                }
                etcd_member_list_done(&l);
        } else if ((streq(verb, "member-remove") || streq(verb, "member-promote")) && optind + 1 < argc) {
                uint64_t id = strtoull(argv[optind + 1], NULL, 0);
                EtcdMemberList l = {};

                r = (streq(verb, "member-remove") ? etcd_client_member_remove : etcd_client_member_promote)(
                        c, id, timeout, &cancel_flag, &l, &message);
                if (r >= 0)
                        print_members(&l);
                etcd_member_list_done(&l);
        } else if (streq(verb, "hashkv")) {
                EtcdHashKV h = {};

                r = etcd_client_hash_kv(c, q.revision, timeout, &cancel_flag, &h, &message);
                if (r >= 0) {
                        print_header(&h.header);
                        printf("hash=%" PRIu32 "\ncompact_revision=%" PRIi64 "\n", h.hash, h.compact_revision);
                }
        } else if (streq(verb, "health")) {
                EtcdHealth h = {};

                r = etcd_client_check_health(c, &expect, timeout, &cancel_flag, &h, &message);
                /* Whatever the check got to, failed or not. */
                print_header(&h.header);
                printf("leader=%" PRIu64 "\nread_refused=%i\nalarms=%s\n", h.status.leader, h.read_refused,
                       strempty(h.status.errors));
                etcd_health_done(&h);
        } else {
                fprintf(stderr, "unknown verb %s\n", verb);
                return 2;
        }

        printf("elapsed_ms=%" PRIu64 "\n", (now(CLOCK_MONOTONIC) - start) / USEC_PER_MSEC);
        if (r < 0)
                printf("error=%s\nmessage=%s\n", strerrorname_np(-r), strna(message));
        free(message);
        etcd_client_free(c);
        grpc_shutdown();
        return r < 0 ? 1 : 0;
}
