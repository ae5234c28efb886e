/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The etcd client over gRPC core. Each call gets its own completion queue and is driven by
 * grpc_completion_queue_next() on the calling (worker) thread: gRPC only makes progress while a
 * thread sits in next(), so the stream loop waits in short slices and uses the gaps to notice a
 * cancel request or a stalled stream. The snapshot protocol is etcd's (maintenance.go): chunks of
 * the bbolt file, remaining_bytes counting down, then one extra message with the SHA-256 of the
 * file. etcd never fills in the header of these messages, so the size is learnt from the first
 * chunk and the digest is told apart by position, not by remaining_bytes == 0. The unary calls
 * (Status, Range, MemberList, MemberAdd, MemberRemove, MemberPromote, HashKV) all go through
 * unary_call(); the health check a restore
 * waits for is built from them.
 */

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>

#include "etcd-client.h"
#include "etcd.pb-c.h"
#include "fs-util.h"
#include "string-util.h"
#include "time-util.h"

#define METHOD_STATUS "/etcdserverpb.Maintenance/Status"
#define METHOD_SNAPSHOT "/etcdserverpb.Maintenance/Snapshot"

/* A unary method: its path, its name in messages, and what it answers. */
typedef struct Method {
        const char *path;
        const char *name;
        const ProtobufCMessageDescriptor *response;
} Method;

static const Method method_status = { METHOD_STATUS, "Status", &etcdserverpb__status_response__descriptor };
static const Method method_range = { "/etcdserverpb.KV/Range", "Range", &etcdserverpb__range_response__descriptor };
static const Method method_member_list = { "/etcdserverpb.Cluster/MemberList", "MemberList",
                                           &etcdserverpb__member_list_response__descriptor };
static const Method method_member_add = { "/etcdserverpb.Cluster/MemberAdd", "MemberAdd",
                                          &etcdserverpb__member_add_response__descriptor };
static const Method method_member_remove = { "/etcdserverpb.Cluster/MemberRemove", "MemberRemove",
                                             &etcdserverpb__member_remove_response__descriptor };
static const Method method_member_promote = { "/etcdserverpb.Cluster/MemberPromote", "MemberPromote",
                                              &etcdserverpb__member_promote_response__descriptor };
static const Method method_hash_kv = { "/etcdserverpb.Maintenance/HashKV", "HashKV",
                                       &etcdserverpb__hash_kvresponse__descriptor };

/* The slice the stream loop waits in before it looks at the cancel flag and the stall clock. */
#define STREAM_POLL_MSEC 250
/* The HTTP/2 window we announce, and the largest read from the socket: together with one
 * message, what gRPC holds of the stream at most (see etcd_client_new()). */
#define STREAM_WINDOW (1024 * 1024)
#define TCP_READ_MAX (256 * 1024)
/* PEM files larger than this are not certificates. */
#define PEM_FILE_MAX (1024U * 1024U)
/* etcd's default --max-request-bytes: a larger request would be refused anyway. */
#define REQUEST_MAX (1536U * 1024U)
/* The key etcdctl endpoint health reads. */
#define HEALTH_KEY "health"
/* Text from the peer, once made safe for a property: enough for any real error message. */
#define PEER_TEXT_MAX 1024U

struct EtcdClient {
        grpc_channel *channel;
        char *url;
        bool tls;
};

void etcd_endpoint_done(EtcdEndpoint *e) {
        e->url = mfree(e->url);
        e->trusted_ca_file = mfree(e->trusted_ca_file);
        e->cert_file = mfree(e->cert_file);
        e->key_file = mfree(e->key_file);
}

void etcd_status_done(EtcdStatus *s) {
        s->errors = mfree(s->errors);
}

void etcd_range_done(EtcdRange *r) {
        for (size_t i = 0; i < r->n_kvs; i++) {
                free(r->kvs[i].key);
                free(r->kvs[i].value);
        }
        r->kvs = mfree(r->kvs);
        r->n_kvs = 0;
}

void etcd_member_list_done(EtcdMemberList *l) {
        for (size_t i = 0; i < l->n_members; i++) {
                free(l->members[i].name);
                strv_free(l->members[i].peer_urls);
                strv_free(l->members[i].client_urls);
        }
        l->members = mfree(l->members);
        l->n_members = 0;
}

void etcd_health_done(EtcdHealth *h) {
        etcd_status_done(&h->status);
}

int etcd_endpoint_parse_url(const char *url, char **ret_target, bool *ret_tls) {
        const char *rest, *host, *port = NULL;
        size_t n, host_len;
        bool tls;
        char *t;

        if ((rest = startswith(url, "https://")))
                tls = true;
        else if ((rest = startswith(url, "http://")))
                tls = false;
        else
                return -EINVAL;

        /* etcd's client URLs are bare authorities, HOST or HOST:PORT; a trailing slash is
         * harmless, a path, a query, user info or a second URL are not. */
        n = strcspn(rest, "/");
        if (rest[n] && !streq(rest + n, "/"))
                return -EINVAL;

        host = rest;
        if (host[0] == '[') {
                /* An IPv6 literal, in brackets so that its colons are not taken for a port. */
                const char *close = memchr(host, ']', n);
                char literal[INET6_ADDRSTRLEN];
                struct in6_addr a;

                if (!close || (size_t) (close - host - 1) >= sizeof(literal))
                        return -EINVAL;
                memcpy(literal, host + 1, (size_t) (close - host - 1));
                literal[close - host - 1] = 0;
                if (inet_pton(AF_INET6, literal, &a) != 1)
                        return -EINVAL;
                host_len = (size_t) (close - host) + 1;
        } else {
                /* A host name or an IPv4 address: letters, digits, dots, dashes, underscores. */
                host_len = strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");
                if (host_len == 0 || host_len > 253 || host[0] == '.' || host[0] == '-' || memmem(host, host_len, "..", 2))
                        return -EINVAL;
        }
        if (host_len < n) {
                unsigned v = 0;

                port = host + host_len;
                if (*port++ != ':')
                        return -EINVAL;
                /* 1-65535, in decimal. */
                if (n - host_len - 1 < 1 || n - host_len - 1 > 5)
                        return -EINVAL;
                for (const char *d = port; d < rest + n; d++) {
                        if (*d < '0' || *d > '9')
                                return -EINVAL;
                        v = v * 10 + (unsigned) (*d - '0');
                }
                if (v < 1 || v > 65535)
                        return -EINVAL;
        }

        /* No port: etcd's default client port. */
        if (asprintf(&t, "%.*s%s", (int) n, rest, port ? "" : ":2379") < 0)
                return -ENOMEM;
        *ret_target = t;
        *ret_tls = tls;
        return 0;
}

static int read_pem(const char *what, const char *path, char **ret, char **ret_message) {
        int r;

        /* Opened without blocking: a FIFO in its place would hold the backup forever, deaf to
         * Cancel, as the worker would wait inside open(). */
        r = read_full_file(path, PEM_FILE_MAX, ret, NULL);
        if (r == -EBADFD)
                return set_message(ret_message, r, "Cannot read %s=%s: not a regular file", what, path);
        if (r < 0)
                return set_message(ret_message, r, "Cannot read %s=%s: %s", what, path, strerror(-r));
        return 0;
}

int etcd_client_new(const EtcdEndpoint *e, EtcdClient **ret, char **ret_message) {
        _cleanup_free_ char *target = NULL, *ca = NULL, *cert = NULL, *key = NULL;
        grpc_channel_credentials *creds;
        EtcdClient *c;
        bool tls;
        int r;

        r = etcd_endpoint_parse_url(e->url, &target, &tls);
        if (r < 0)
                return set_message(ret_message, r, "Invalid Endpoint=%s: expected http://HOST:PORT or https://HOST:PORT",
                                   e->url);

        if (tls) {
                grpc_ssl_pem_key_cert_pair pair = {};

                /* Read the files now, at every backup, so that rotated certificates are picked up. */
                if (e->trusted_ca_file && (r = read_pem("TrustedCAFile", e->trusted_ca_file, &ca, ret_message)) < 0)
                        return r;
                if (!!e->cert_file != !!e->key_file)
                        return set_message(ret_message, -EINVAL,
                                           "CertFile= and KeyFile= must be given together for client TLS");
                if (e->cert_file) {
                        if ((r = read_pem("CertFile", e->cert_file, &cert, ret_message)) < 0 ||
                            (r = read_pem("KeyFile", e->key_file, &key, ret_message)) < 0)
                                return r;
                        pair = (grpc_ssl_pem_key_cert_pair) { .private_key = key, .cert_chain = cert };
                }
                /* With no TrustedCAFile= gRPC falls back to the system's roots. */
                creds = grpc_ssl_credentials_create_ex(ca, cert ? &pair : NULL, /* verify_options= */ NULL, NULL);
        } else
                creds = grpc_insecure_credentials_create();
        if (!creds)
                return set_message(ret_message, -ENOMEM, "Cannot create gRPC credentials");

        grpc_arg args[] = {
                /* A dead peer in the middle of a long stream is noticed by keepalive pings. etcd
                 * answers pings more frequent than every 5 s with GOAWAY too_many_pings. */
                { .type = GRPC_ARG_INTEGER, .key = (char *) GRPC_ARG_KEEPALIVE_TIME_MS, .value.integer = 30000 },
                { .type = GRPC_ARG_INTEGER, .key = (char *) GRPC_ARG_KEEPALIVE_TIMEOUT_MS, .value.integer = 10000 },
                /* A restore asks a starting etcd again and again on one client. gRPC's reconnect
                 * backoff grows to 2 min, and it re-resolves the target at most every 30 s: with
                 * its defaults, an etcd that came up after 20 s was noticed 10 s late. */
                /* What gRPC may hold of a stream we have not consumed yet bounds the agent's
                 * memory during a backup. Its BDP probing grows the HTTP/2 window without limit
                 * when etcd sends faster than zstd compresses, and a loaded node made that 30-80 MiB
                 * of received slices. A fixed window of 1 MiB per stream (and so per connection,
                 * with our one stream) keeps etcd's 32 KiB chunks flowing on a link of a few ms;
                 * reads from the socket are cut to 256 KiB (default: up to 4 MiB). */
                { .type = GRPC_ARG_INTEGER, .key = (char *) GRPC_ARG_HTTP2_BDP_PROBE, .value.integer = 0 },
                { .type = GRPC_ARG_INTEGER, .key = (char *) GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, .value.integer = STREAM_WINDOW },
                { .type = GRPC_ARG_INTEGER, .key = (char *) GRPC_ARG_TCP_MAX_READ_CHUNK_SIZE, .value.integer = TCP_READ_MAX },
                { .type = GRPC_ARG_INTEGER, .key = (char *) GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, .value.integer = 1000 },
                { .type = GRPC_ARG_INTEGER, .key = (char *) GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, .value.integer = 1000 },
                { .type = GRPC_ARG_STRING,
                  .key = (char *) GRPC_ARG_PRIMARY_USER_AGENT_STRING,
                  .value.string = (char *) "etcd-backupd/" PROJECT_VERSION },
        };
        grpc_channel_args channel_args = { .num_args = ELEMENTSOF(args), .args = args };

        c = calloc(1, sizeof(*c));
        if (!c) {
                grpc_channel_credentials_release(creds);
                return -ENOMEM;
        }
        c->tls = tls;
        c->url = strdup(e->url);
        c->channel = grpc_channel_create(target, creds, &channel_args);
        grpc_channel_credentials_release(creds);
        if (!c->url || !c->channel) {
                etcd_client_free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

EtcdClient *etcd_client_free(EtcdClient *c) {
        if (!c)
                return NULL;
        if (c->channel)
                grpc_channel_destroy(c->channel);
        free(c->url);
        free(c);
        return NULL;
}

static gpr_timespec deadline_after(usec_t timeout) {
        if (timeout == USEC_INFINITY)
                return gpr_inf_future(GPR_CLOCK_MONOTONIC);
        return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                            gpr_time_from_micros((int64_t) MIN(timeout, (usec_t) INT64_MAX), GPR_TIMESPAN));
}

/* Turns a failed call's status into an errno and a message a person can act on. A call that
 * got going (progress says how far) gets no hint about reaching etcd: it did reach it. */
static int status_to_error(EtcdClient *c, const char *what, grpc_status_code status, grpc_slice details,
                           const char *error_string, const char *progress, char **ret_message) {
        _cleanup_free_ char *d = grpc_slice_to_c_string(details), *why = NULL;
        const char *hint = "";
        int r;

        switch (status) {
        case GRPC_STATUS_UNAVAILABLE:
                r = -EHOSTUNREACH;
                /* etcd's own "etcdserver: no leader", "... request timed out": it is running. */
                if (!startswith(d, "etcdserver: "))
                        hint = c->tls ? " (is etcd running there? check Endpoint=, TrustedCAFile=, CertFile=, KeyFile=)"
                                      : " (is etcd running there? does it want https:// and client certificates?)";
                break;
        case GRPC_STATUS_DEADLINE_EXCEEDED:
                r = -ETIMEDOUT;
                break;
        case GRPC_STATUS_CANCELLED:
                r = -ECANCELED;
                break;
        case GRPC_STATUS_UNAUTHENTICATED:
        case GRPC_STATUS_PERMISSION_DENIED:
                /* Not -EACCES: that would read as our own permission problem. */
                r = -EKEYREJECTED;
                if (status == GRPC_STATUS_PERMISSION_DENIED)
                        hint = startswith(what, "Member") && !streq(what, "MemberList") ? " (with etcd authentication on, membership changes need the root role)"
                                                          : " (with etcd authentication on, reads need a role that may read the key)";
                break;
        case GRPC_STATUS_OUT_OF_RANGE:
                /* How etcd (rpctypes) refuses a read at a revision it no longer has or does not have
                 * yet; both come with this one code. */
                r = strstr(d, "required revision has been compacted") ? -ESTALE
                    : strstr(d, "required revision is a future revision") ? -ERANGE
                                                                          : -EPROTO;
                break;
        case GRPC_STATUS_UNIMPLEMENTED:
                r = -EOPNOTSUPP;
                break;
        case GRPC_STATUS_FAILED_PRECONDITION:
                /* How etcd (rpctypes) refuses a membership change. "... in sync with leader" first:
                 * it extends "can only promote a learner member". */
                r = strstr(d, "can only promote a learner member which is in sync with leader") ? -EAGAIN
                    : strstr(d, "can only promote a learner member") ? -EALREADY
                    : strstr(d, "too many learner members in cluster") ? -EBUSY
                    : strstr(d, "not enough started members") ? -EHOSTDOWN
                    : strstr(d, "member ID already exist") || strstr(d, "Peer URLs already exists") ? -EEXIST
                                                                                                   : -EPROTO;
                break;
        case GRPC_STATUS_NOT_FOUND:
                r = -ENOENT; /* "etcdserver: member not found" */
                break;
        case GRPC_STATUS_INVALID_ARGUMENT:
                r = -EINVAL; /* "etcdserver: given member URLs are invalid", "... key is not provided" */
                break;
        case GRPC_STATUS_UNKNOWN:
                /* etcd's maintenance calls (Snapshot, HashKV) return its auth errors unconverted:
                 * "auth: permission denied" with no code. */
                if (startswith(d, "auth: ")) {
                        r = -EKEYREJECTED;
                        hint = " (with etcd authentication on, snapshots and HashKV need the root role)";
                } else
                        r = -EPROTO;
                break;
        default:
                r = -EPROTO;
        }

        /* error_string is gRPC's debugging dump; only worth showing when there is nothing else.
         * Either may hold whatever the peer sent (anything may listen at the endpoint), and
         * the message becomes a property: made valid UTF-8 without control characters. */
        why = utf8_sanitize(!isempty(d) ? d : strna(error_string), PEER_TEXT_MAX);
        if (!why)
                return -ENOMEM;
        if (progress)
                return set_message(ret_message, r, "etcd at %s broke off the %s stream after %s: %s", c->url, what, progress,
                                   why);
        return set_message(ret_message, r, "etcd %s call to %s failed: %s%s", what, c->url, why, hint);
}

/* One call on its own completion queue, and what the stream loop needs to know about it. */
typedef struct Call {
        grpc_completion_queue *cq;
        grpc_call *call;
        grpc_metadata_array initial_metadata;
        grpc_metadata_array trailing_metadata;
        grpc_status_code status;
        grpc_slice details;
        const char *error_string;
        grpc_byte_buffer *request;
        grpc_byte_buffer *response;
} Call;

enum { TAG_START = 1, TAG_STATUS, TAG_MESSAGE };

static void call_done(Call *k) {
        if (k->call)
                grpc_call_unref(k->call);
        if (k->cq) {
                grpc_completion_queue_shutdown(k->cq);
                /* A next() queue must be drained to its shutdown event before it may be destroyed. */
                while (grpc_completion_queue_next(k->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
                       GRPC_QUEUE_SHUTDOWN)
                        ;
                grpc_completion_queue_destroy(k->cq);
        }
        grpc_metadata_array_destroy(&k->initial_metadata);
        grpc_metadata_array_destroy(&k->trailing_metadata);
        grpc_slice_unref(k->details);
        gpr_free((void *) k->error_string);
        if (k->request)
                grpc_byte_buffer_destroy(k->request);
        if (k->response)
                grpc_byte_buffer_destroy(k->response);
}

static int call_start(EtcdClient *c, Call *k, const char *method, const ProtobufCMessage *request, usec_t timeout) {
        size_t n;
        grpc_slice s;

        *k = (Call) { .details = grpc_empty_slice() };
        grpc_metadata_array_init(&k->initial_metadata);
        grpc_metadata_array_init(&k->trailing_metadata);

        n = protobuf_c_message_get_packed_size(request);
        if (n > REQUEST_MAX)
                return -E2BIG;
        s = grpc_slice_malloc(n);
        protobuf_c_message_pack(request, GRPC_SLICE_START_PTR(s));
        k->request = grpc_raw_byte_buffer_create(&s, 1);
        grpc_slice_unref(s);

        k->cq = grpc_completion_queue_create_for_next(NULL);
        k->call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, k->cq,
                                           grpc_slice_from_static_string(method), /* host= */ NULL,
                                           deadline_after(timeout), NULL);
        if (!k->request || !k->cq || !k->call)
                return -ENOMEM;

        grpc_op start[] = {
                { .op = GRPC_OP_SEND_INITIAL_METADATA },
                { .op = GRPC_OP_SEND_MESSAGE, .data.send_message.send_message = k->request },
                { .op = GRPC_OP_SEND_CLOSE_FROM_CLIENT },
                { .op = GRPC_OP_RECV_INITIAL_METADATA, .data.recv_initial_metadata.recv_initial_metadata = &k->initial_metadata },
        };
        grpc_op status[] = {
                /* Asked for up front: it completes only once the call is over, whatever the reason. */
                { .op = GRPC_OP_RECV_STATUS_ON_CLIENT,
                  .data.recv_status_on_client = {
                          .trailing_metadata = &k->trailing_metadata,
                          .status = &k->status,
                          .status_details = &k->details,
                          .error_string = &k->error_string,
                  } },
        };
        if (grpc_call_start_batch(k->call, start, ELEMENTSOF(start), (void *) (intptr_t) TAG_START, NULL) != GRPC_CALL_OK ||
            grpc_call_start_batch(k->call, status, ELEMENTSOF(status), (void *) (intptr_t) TAG_STATUS, NULL) != GRPC_CALL_OK)
                return -EIO;
        return 0;
}

static int call_recv_message(Call *k) {
        grpc_op op = { .op = GRPC_OP_RECV_MESSAGE, .data.recv_message.recv_message = &k->response };

        return grpc_call_start_batch(k->call, &op, 1, (void *) (intptr_t) TAG_MESSAGE, NULL) == GRPC_CALL_OK ? 0 : -EIO;
}

/* Takes the received message out of the call, flattened (gRPC may hold it in several slices). */
static grpc_slice call_take_message(Call *k) {
        grpc_byte_buffer_reader reader;
        grpc_slice s = grpc_empty_slice();

        if (grpc_byte_buffer_reader_init(&reader, k->response)) {
                s = grpc_byte_buffer_reader_readall(&reader);
                grpc_byte_buffer_reader_destroy(&reader);
        }
        grpc_byte_buffer_destroy(k->response);
        k->response = NULL;
        return s;
}

/* How a call's stream is held to account: a deadline for the whole call, and a stall rule. */
typedef struct CallLimits {
        usec_t deadline;        /* CLOCK_MONOTONIC; USEC_INFINITY for none */
        usec_t stall_timeout;   /* USEC_INFINITY for none */
        size_t stall_min_bytes; /* what counts as progress within stall_timeout */
        const atomic_bool *cancel;
} CallLimits;

/*
 * Drives a started call to its end: requests one message after the other, hands each to
 * on_message(), until the stream and the status are in. Between events, which it waits for in
 * short slices, it looks at the cancel flag, the deadline and the progress. Progress means at
 * least stall_min_bytes of messages since the last progress, so that a peer trickling a byte
 * now and then cannot hold the stream open. Returns 0 when the call ended by itself (its
 * status says how), else the reason it was cut short: -ECANCELED, -ETIME for the deadline,
 * -ETIMEDOUT for a stall, or on_message()'s error.
 */
static int call_run(Call *k, const CallLimits *l, int (*on_message)(grpc_slice s, void *userdata), void *userdata) {
        usec_t last_progress = now(CLOCK_MONOTONIC);
        size_t since_progress = 0;
        unsigned pending = 2; /* the start batch and the status */
        int error = 0;

        if (call_recv_message(k) < 0) {
                grpc_call_cancel(k->call, NULL);
                error = -EIO;
        } else
                pending++;

        while (pending > 0) {
                grpc_event ev = grpc_completion_queue_next(
                        k->cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(STREAM_POLL_MSEC, GPR_TIMESPAN)),
                        NULL);
                usec_t t = now(CLOCK_MONOTONIC);

                /* Looked at after every event, not only in quiet moments: a busy stream must
                 * still notice a cancel request. Cancelling makes every batch complete. */
                if (error >= 0) {
                        if (l->cancel && atomic_load(l->cancel))
                                error = -ECANCELED;
                        else if (l->deadline != USEC_INFINITY && t > l->deadline)
                                error = -ETIME;
                        else if (l->stall_timeout != USEC_INFINITY && t - last_progress > l->stall_timeout)
                                error = -ETIMEDOUT;
                        if (error < 0)
                                grpc_call_cancel(k->call, NULL);
                }
                if (ev.type == GRPC_QUEUE_TIMEOUT)
                        continue;
                if (ev.type != GRPC_OP_COMPLETE)
                        break;

                pending--;
                if ((intptr_t) ev.tag != TAG_MESSAGE || !k->response)
                        continue;

                grpc_slice s = call_take_message(k);
                since_progress += GRPC_SLICE_LENGTH(s);
                if (since_progress >= l->stall_min_bytes) {
                        last_progress = t;
                        since_progress = 0;
                }
                if (error >= 0)
                        error = on_message(s, userdata);
                grpc_slice_unref(s);

                if (error < 0)
                        grpc_call_cancel(k->call, NULL);
                else if (call_recv_message(k) >= 0)
                        pending++;
        }
        return error;
}

/* Our own deadline ends the call; gRPC's, a little later, is only a backstop, so that an
 * expired deadline is reported as ours and not as etcd breaking off the stream. */
#define GRPC_DEADLINE_SLACK_USEC (5 * USEC_PER_SEC)

static usec_t grpc_timeout(usec_t timeout) {
        return timeout == USEC_INFINITY || timeout > USEC_INFINITY - GRPC_DEADLINE_SLACK_USEC ? USEC_INFINITY
                                                                                                 : timeout + GRPC_DEADLINE_SLACK_USEC;
}

static usec_t deadline_in(usec_t timeout) {
        usec_t n = now(CLOCK_MONOTONIC);
        return timeout == USEC_INFINITY || timeout > USEC_INFINITY - n ? USEC_INFINITY : n + timeout;
}

/* Where a unary call's one answer goes. */
typedef struct Unary {
        const ProtobufCMessageDescriptor *descriptor;
        ProtobufCMessage *response;
} Unary;

static int unary_message(grpc_slice s, void *userdata) {
        Unary *u = userdata;

        if (u->response) /* a unary call answers once */
                return -EBADMSG;
        u->response = protobuf_c_message_unpack(u->descriptor, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
        return u->response ? 0 : -EBADMSG;
}

/*
 * The one place a unary call is made: request out, one answer back, within timeout and until
 * cancel is set. On success *ret is the answer (protobuf_c_message_free_unpacked() it). The gRPC
 * status the call ended with goes to *ret_status (GRPC_STATUS_OK unless etcd refused it), for
 * callers that tell apart what one errno covers.
 */
static int unary_call(EtcdClient *c, const Method *m, const ProtobufCMessage *request, usec_t timeout,
                      const atomic_bool *cancel, ProtobufCMessage **ret, grpc_status_code *ret_status,
                      char **ret_message) {
        Unary u = { .descriptor = m->response };
        Call k;
        int r;

        if (ret_status)
                *ret_status = GRPC_STATUS_OK;

        CallLimits limits = { .deadline = deadline_in(timeout), .stall_timeout = USEC_INFINITY, .cancel = cancel };
        r = call_start(c, &k, m->path, request, grpc_timeout(timeout));
        if (r < 0) {
                call_done(&k);
                return set_message(ret_message, r, "Cannot start the etcd %s call: %s", m->name, strerror(-r));
        }
        r = call_run(&k, &limits, unary_message, &u);

        if (r == -ECANCELED)
                r = set_message(ret_message, r, "Cancelled while waiting for etcd at %s to answer the %s call", c->url,
                                m->name);
        else if (r == -ETIME)
                r = set_message(ret_message, -ETIMEDOUT, "etcd at %s did not answer the %s call within %.1f s", c->url,
                                m->name, (double) timeout / USEC_PER_SEC);
        else if (r == -EBADMSG || (r >= 0 && k.status == GRPC_STATUS_OK && !u.response))
                r = set_message(ret_message, -EBADMSG, "etcd at %s sent a %s answer that cannot be decoded", c->url,
                                m->name);
        else if (k.status != GRPC_STATUS_OK) {
                if (ret_status)
                        *ret_status = k.status;
                r = status_to_error(c, m->name, k.status, k.details, k.error_string, /* progress= */ NULL,
                                    ret_message);
        } else if (r < 0)
                r = set_message(ret_message, r, "etcd %s call to %s failed: %s", m->name, c->url, strerror(-r));
        else
                *ret = TAKE_PTR(u.response);

        if (u.response)
                protobuf_c_message_free_unpacked(u.response, NULL);
        call_done(&k);
        return r;
}

static EtcdHeader header_from_pb(const Etcdserverpb__ResponseHeader *h) {
        if (!h)
                return (EtcdHeader) {};
        return (EtcdHeader) {
                .cluster_id = h->cluster_id,
                .member_id = h->member_id,
                .revision = h->revision,
                .raft_term = h->raft_term,
        };
}

int etcd_client_status(EtcdClient *c, usec_t timeout, const atomic_bool *cancel, EtcdStatus *ret,
                       char **ret_message) {
        Etcdserverpb__StatusRequest req = ETCDSERVERPB__STATUS_REQUEST__INIT;
        Etcdserverpb__StatusResponse *resp = NULL;
        ProtobufCMessage *answer = NULL;
        int r;

        r = unary_call(c, &method_status, &req.base, timeout, cancel, &answer, NULL, ret_message);
        resp = (Etcdserverpb__StatusResponse *) answer;
        if (r >= 0) {
                EtcdHeader h = header_from_pb(resp->header);
                *ret = (EtcdStatus) {
                        .cluster_id = h.cluster_id,
                        .member_id = h.member_id,
                        .revision = h.revision,
                        .raft_term = resp->raftterm,
                        .raft_index = resp->raftindex,
                        .leader = resp->leader,
                        .db_size = resp->dbsize > 0 ? (uint64_t) resp->dbsize : 0,
                        .db_size_in_use = resp->dbsizeinuse > 0 ? (uint64_t) resp->dbsizeinuse : 0,
                        .is_learner = resp->islearner,
                };
                /* It goes into file metadata and messages: keep what a version string may hold. */
                for (size_t i = 0, j = 0; resp->version && resp->version[i] && j < sizeof(ret->version) - 1; i++)
                        if (strchr("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.+-_~", resp->version[i]))
                                ret->version[j++] = resp->version[i];
                if (resp->n_errors > 0) {
                        _cleanup_free_ char *errors = strv_join_n(resp->errors, resp->n_errors, "; ");
                        ret->errors = errors ? utf8_sanitize(errors, PEER_TEXT_MAX) : NULL;
                        if (!ret->errors)
                                r = -ENOMEM;
                }
        }

        if (resp)
                etcdserverpb__status_response__free_unpacked(resp, NULL);
        return r;
}

/* etcd's GetPrefixRangeEnd: the key with its last byte below 0xff raised by one and what follows
 * it cut off; "\0" (every key from key on) when there is none. */
static int prefix_range_end(const char *key, ProtobufCBinaryData *ret) {
        size_t n = strlen(key);
        uint8_t *end;

        while (n > 0 && (uint8_t) key[n - 1] == 0xff)
                n--;
        end = malloc(MAX(n, 1U));
        if (!end)
                return -ENOMEM;
        if (n == 0)
                end[0] = 0;
        else {
                memcpy(end, key, n);
                end[n - 1]++;
        }
        *ret = (ProtobufCBinaryData) { .len = MAX(n, 1U), .data = end };
        return 0;
}

static char *memdup_suffix0(const void *p, size_t n) {
        char *d = malloc(n + 1);

        if (d) {
                if (n > 0)
                        memcpy(d, p, n);
                d[n] = 0;
        }
        return d;
}

/* Copies the kvs of an answer into ret, up to ETCD_RANGE_KEEP_BYTES of keys and values. */
static int range_take(const Etcdserverpb__RangeResponse *resp, EtcdRange *ret) {
        size_t kept = 0;

        *ret = (EtcdRange) {
                .header = header_from_pb(resp->header),
                .count = resp->count,
                .more = resp->more,
        };
        ret->kvs = new0(EtcdKeyValue, resp->n_kvs);
        if (!ret->kvs)
                return -ENOMEM;
        for (size_t i = 0; i < resp->n_kvs; i++) {
                const Etcdserverpb__KeyValue *kv = resp->kvs[i];
                EtcdKeyValue *to = ret->kvs + ret->n_kvs;

                if (kv->key.len + kv->value.len > ETCD_RANGE_KEEP_BYTES - kept) {
                        ret->truncated = true;
                        break;
                }
                kept += kv->key.len + kv->value.len;
                *to = (EtcdKeyValue) {
                        .key = memdup_suffix0(kv->key.data, kv->key.len),
                        .key_size = kv->key.len,
                        .value = memdup_suffix0(kv->value.data, kv->value.len),
                        .value_size = kv->value.len,
                        .create_revision = kv->create_revision,
                        .mod_revision = kv->mod_revision,
                        .version = kv->version,
                        .lease = kv->lease,
                };
                ret->n_kvs++;
                if (!to->key || !to->value)
                        return -ENOMEM;
        }
        return 0;
}

static int range_call(EtcdClient *c, const EtcdRangeRequest *q, usec_t timeout, const atomic_bool *cancel,
                      EtcdRange *ret, grpc_status_code *ret_status, char **ret_message) {
        Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
        _cleanup_free_ uint8_t *end = NULL;
        ProtobufCMessage *answer = NULL;
        int r;

        /* etcd refuses an empty key; "every key" is "\0" to "\0". */
        if (q->prefix && isempty(q->key))
                req.key = req.range_end = (ProtobufCBinaryData) { .len = 1, .data = (uint8_t *) "" };
        else {
                req.key = (ProtobufCBinaryData) { .len = strlen(q->key), .data = (uint8_t *) q->key };
                if (q->prefix) {
                        r = prefix_range_end(q->key, &req.range_end);
                        if (r < 0)
                                return r;
                        end = req.range_end.data;
                } else if (q->range_end)
                        req.range_end = (ProtobufCBinaryData) { .len = strlen(q->range_end),
                                                                .data = (uint8_t *) q->range_end };
        }
        req.limit = q->limit;
        req.revision = q->revision;
        req.serializable = q->serializable;
        req.count_only = q->count_only;
        req.keys_only = q->keys_only;

        r = unary_call(c, &method_range, &req.base, timeout, cancel, &answer, ret_status, ret_message);
        if (r == -ESTALE)
                return set_message(ret_message, r, "etcd at %s no longer has revision %" PRIi64 ": required revision has been compacted",
                                   c->url, q->revision);
        if (r == -ERANGE)
                return set_message(ret_message, r, "etcd at %s does not have revision %" PRIi64 " yet: required revision is a future revision",
                                   c->url, q->revision);
        if (r == -E2BIG)
                return set_message(ret_message, r, "A Range request for a key of %zu bytes is larger than etcd takes",
                                   strlen(q->key));
        if (r < 0)
                return r;
        r = range_take((Etcdserverpb__RangeResponse *) answer, ret);
        protobuf_c_message_free_unpacked(answer, NULL);
        if (r < 0)
                etcd_range_done(ret);
        return r;
}

int etcd_client_range(EtcdClient *c, const EtcdRangeRequest *req, usec_t timeout, const atomic_bool *cancel,
                      EtcdRange *ret, char **ret_message) {
        return range_call(c, req, timeout, cancel, ret, /* ret_status= */ NULL, ret_message);
}

static int strv_copy_n(char * const *l, size_t n, char ***ret) {
        _cleanup_(strv_freep) char **copy = new0(char *, n + 1);

        if (!copy)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (!(copy[i] = strdup(l[i])))
                        return -ENOMEM;
        *ret = TAKE_PTR(copy);
        return 0;
}

/* Copies the members of an answer, for MemberList and the membership changes alike. */
static int members_take(EtcdClient *c, const char *what, const Etcdserverpb__ResponseHeader *header,
                        Etcdserverpb__Member * const *members, size_t n_members, EtcdMemberList *ret,
                        char **ret_message) {
        int r = 0;

        *ret = (EtcdMemberList) { .header = header_from_pb(header) };
        if (n_members > ETCD_MEMBERS_MAX)
                return set_message(ret_message, -EBADMSG, "etcd at %s lists %zu members in its %s answer, more than the %u a cluster may have here",
                                   c->url, n_members, what, ETCD_MEMBERS_MAX);
        if (!(ret->members = new0(EtcdMember, n_members)))
                return -ENOMEM;
        for (size_t i = 0; r >= 0 && i < n_members; i++) {
                const Etcdserverpb__Member *m = members[i];
                EtcdMember *to = ret->members + ret->n_members++;

                *to = (EtcdMember) { .id = m->id, .is_learner = m->islearner };
                if (!(to->name = strdup(strempty(m->name))) ||
                    strv_copy_n(m->peerurls, m->n_peerurls, &to->peer_urls) < 0 ||
                    strv_copy_n(m->clienturls, m->n_clienturls, &to->client_urls) < 0)
                        r = -ENOMEM;
        }
        if (r < 0)
                etcd_member_list_done(ret);
        return r;
}

const EtcdMember *etcd_member_list_find(const EtcdMemberList *l, uint64_t id) {
        for (size_t i = 0; i < l->n_members; i++)
                if (l->members[i].id == id)
                        return l->members + i;
        return NULL;
}

int etcd_member_list_initial_cluster(const EtcdMemberList *l, uint64_t self_id, const char *self_name, char **ret,
                                     char **ret_message) {
        _cleanup_free_ char *s = NULL;
        size_t n = 0;

        if (isempty(self_name))
                return set_message(ret_message, -EINVAL, "The joining member needs a name for --initial-cluster");
        if (!etcd_member_list_find(l, self_id))
                return set_message(ret_message, -ENOENT, "Member %" PRIx64 " is not in the cluster's member list", self_id);

        for (size_t i = 0; i < l->n_members; i++) {
                const EtcdMember *m = l->members + i;
                const char *name = m->id == self_id ? self_name : m->name;

                if (isempty(name))
                        return set_message(ret_message, -EBUSY,
                                           "Member %" PRIx64 " was added to the cluster but has not started: it must start or be removed before another member joins",
                                           m->id);
                /* "," and "=" separate the list; etcd's own names and URLs never hold them. */
                if (strpbrk(name, ",= \t\n"))
                        return set_message(ret_message, -EINVAL, "Member name \"%s\" cannot be written in --initial-cluster", name);
                if (!m->peer_urls || !m->peer_urls[0])
                        return set_message(ret_message, -EINVAL, "Member %" PRIx64 " has no peer URL", m->id);
                STRV_FOREACH(u, m->peer_urls) {
                        char *t;

                        if (strpbrk(*u, ",= \t\n"))
                                return set_message(ret_message, -EINVAL, "Peer URL \"%s\" cannot be written in --initial-cluster", *u);
                        if (asprintf(&t, "%s%s%s=%s", strempty(s), n > 0 ? "," : "", name, *u) < 0)
                                return -ENOMEM;
                        free(s);
                        s = t;
                        n++;
                }
        }
        *ret = TAKE_PTR(s);
        return 0;
}

/*
 * The Cluster calls: request out, the members the answer lists back (into ret, if not NULL, on
 * success only), and for MemberAdd the id of the member added. The answers are types of their
 * own, alike but for MemberAdd's added member.
 */
static int members_call(EtcdClient *c, const Method *m, const ProtobufCMessage *request, usec_t timeout,
                        const atomic_bool *cancel, EtcdMemberList *ret, uint64_t *ret_added, char **ret_message) {
        const Etcdserverpb__ResponseHeader *header;
        const Etcdserverpb__Member *added = NULL;
        Etcdserverpb__Member **members;
        ProtobufCMessage *answer = NULL;
        EtcdMemberList l = {};
        size_t n;
        int r;

        r = unary_call(c, m, request, timeout, cancel, &answer, NULL, ret_message);
        if (r < 0)
                return r;
        if (m == &method_member_add) {
                Etcdserverpb__MemberAddResponse *a = (Etcdserverpb__MemberAddResponse *) answer;
                header = a->header, members = a->members, n = a->n_members, added = a->member;
        } else if (m == &method_member_remove) {
                Etcdserverpb__MemberRemoveResponse *a = (Etcdserverpb__MemberRemoveResponse *) answer;
                header = a->header, members = a->members, n = a->n_members;
        } else if (m == &method_member_promote) {
                Etcdserverpb__MemberPromoteResponse *a = (Etcdserverpb__MemberPromoteResponse *) answer;
                header = a->header, members = a->members, n = a->n_members;
        } else {
                Etcdserverpb__MemberListResponse *a = (Etcdserverpb__MemberListResponse *) answer;
                header = a->header, members = a->members, n = a->n_members;
        }
        r = members_take(c, m->name, header, members, n, &l, ret_message);
        /* The id is what the caller promotes or removes later, and what it finds itself by in
         * the list it builds --initial-cluster from: both must be there. */
        if (r >= 0 && ret_added) {
                if (!added || added->id == 0 || !etcd_member_list_find(&l, added->id))
                        r = set_message(ret_message, -EBADMSG,
                                        "etcd at %s answered MemberAdd without the added member in its member list", c->url);
                else
                        *ret_added = added->id;
        }
        protobuf_c_message_free_unpacked(answer, NULL);
        if (r >= 0 && ret)
                *ret = l;
        else
                etcd_member_list_done(&l);
        return r;
}

int etcd_client_member_list(EtcdClient *c, bool linearizable, usec_t timeout, const atomic_bool *cancel,
                            EtcdMemberList *ret, char **ret_message) {
        Etcdserverpb__MemberListRequest req = ETCDSERVERPB__MEMBER_LIST_REQUEST__INIT;

        req.linearizable = linearizable;
        return members_call(c, &method_member_list, &req.base, timeout, cancel, ret, NULL, ret_message);
}

int etcd_client_member_add(EtcdClient *c, char * const *peer_urls, bool is_learner, usec_t timeout,
                           const atomic_bool *cancel, uint64_t *ret_id, EtcdMemberList *ret, char **ret_message) {
        Etcdserverpb__MemberAddRequest req = ETCDSERVERPB__MEMBER_ADD_REQUEST__INIT;

        if (!peer_urls || !peer_urls[0])
                return set_message(ret_message, -EINVAL, "A member to add needs at least one peer URL");

        req.peerurls = (char **) peer_urls;
        req.n_peerurls = strv_length(peer_urls);
        req.islearner = is_learner;
        return members_call(c, &method_member_add, &req.base, timeout, cancel, ret, ret_id, ret_message);
}

int etcd_client_member_remove(EtcdClient *c, uint64_t id, usec_t timeout, const atomic_bool *cancel,
                              EtcdMemberList *ret, char **ret_message) {
        Etcdserverpb__MemberRemoveRequest req = ETCDSERVERPB__MEMBER_REMOVE_REQUEST__INIT;

        req.id = id;
        return members_call(c, &method_member_remove, &req.base, timeout, cancel, ret, NULL, ret_message);
}

int etcd_client_member_promote(EtcdClient *c, uint64_t id, usec_t timeout, const atomic_bool *cancel,
                               EtcdMemberList *ret, char **ret_message) {
        Etcdserverpb__MemberPromoteRequest req = ETCDSERVERPB__MEMBER_PROMOTE_REQUEST__INIT;

        req.id = id;
        return members_call(c, &method_member_promote, &req.base, timeout, cancel, ret, NULL, ret_message);
}

int etcd_client_hash_kv(EtcdClient *c, int64_t revision, usec_t timeout, const atomic_bool *cancel,
                        EtcdHashKV *ret, char **ret_message) {
        Etcdserverpb__HashKVRequest req = ETCDSERVERPB__HASH_KVREQUEST__INIT;
        Etcdserverpb__HashKVResponse *resp;
        ProtobufCMessage *answer = NULL;
        int r;

        req.revision = revision;
        r = unary_call(c, &method_hash_kv, &req.base, timeout, cancel, &answer, NULL, ret_message);
        if (r < 0)
                return r;
        resp = (Etcdserverpb__HashKVResponse *) answer;
        *ret = (EtcdHashKV) {
                .header = header_from_pb(resp->header),
                .hash = resp->hash,
                .compact_revision = resp->compact_revision,
                .hash_revision = resp->hash_revision,
        };
        protobuf_c_message_free_unpacked(answer, NULL);
        return 0;
}

static usec_t time_left(usec_t deadline) {
        usec_t n;

        if (deadline == USEC_INFINITY)
                return USEC_INFINITY;
        n = now(CLOCK_MONOTONIC);
        return deadline > n ? deadline - n : 0;
}

/* A step of the health check whose call failed: the call's message, with the check's own timeout
 * when it ran out (each call only had what was left of it). */
static int health_call_failed(EtcdClient *c, int r, const char *what, usec_t timeout, char **ret_message) {
        if (r == -ETIMEDOUT)
                return set_message(ret_message, r, "etcd at %s did not answer the health check's %s within %.1f s", c->url,
                                   what, (double) timeout / USEC_PER_SEC);
        return r;
}

int etcd_client_check_health(EtcdClient *c, const EtcdHealthExpect *expect, usec_t timeout,
                             const atomic_bool *cancel, EtcdHealth *ret, char **ret_message) {
        usec_t deadline = deadline_in(timeout);
        _cleanup_(etcd_range_done) EtcdRange range = {};
        grpc_status_code status;
        int r;

        *ret = (EtcdHealth) {};

        /* 1. The member answers, is part of a cluster with a leader, and has no alarm raised.
         * Status lists "etcdserver: no leader" among its errors too: the leader goes first. */
        r = etcd_client_status(c, time_left(deadline), cancel, &ret->status, ret_message);
        if (r < 0)
                return health_call_failed(c, r, "Status call", timeout, ret_message);
        ret->header = (EtcdHeader) {
                .cluster_id = ret->status.cluster_id,
                .member_id = ret->status.member_id,
                .revision = ret->status.revision,
                .raft_term = ret->status.raft_term,
        };
        if (ret->status.leader == 0)
                return set_message(ret_message, -ENOTCONN,
                                   "etcd at %s runs but has no leader: it cannot serve until its cluster elects one (do its other members run? do --initial-cluster and the data dir agree?)",
                                   c->url);
        if (ret->status.errors)
                return set_message(ret_message, strstr(ret->status.errors, "NOSPACE") ? -ENOSPC : -EUCLEAN,
                                   "etcd at %s has an alarm raised: %s (see etcdctl alarm list; NOSPACE wants --quota-backend-bytes raised or a compaction and defragmentation, then etcdctl alarm disarm; CORRUPT wants the data checked)",
                                   c->url, ret->status.errors);

        /* 2. A linearizable read: it only succeeds through raft, with a quorum. */
        r = range_call(c, &(EtcdRangeRequest) { .key = HEALTH_KEY, .count_only = true }, time_left(deadline), cancel,
                       &range, &status, ret_message);
        if (r == -EKEYREJECTED && status == GRPC_STATUS_PERMISSION_DENIED)
                /* Refused after it passed raft: etcd checks permissions last. etcdctl endpoint
                 * health counts this as healthy too. The revision stays the one Status saw. */
                ret->read_refused = true;
        else if (r < 0)
                return health_call_failed(c, r, "linearizable read", timeout, ret_message);
        else
                ret->header = range.header;

        /* 3. The data etcd serves is the data the restore put there. */
        if (expect->min_revision > 0 && ret->header.revision < expect->min_revision)
                return set_message(ret_message, -ENODATA,
                                   "etcd at %s serves revision %" PRIi64 ", expected at least %" PRIi64 ": the restored data is not what etcd runs",
                                   c->url, ret->header.revision, expect->min_revision);

        /* 4. Revisions before the restore are compacted, so that watchers relist. etcd checks
         * permissions before it looks at the revision: with reads refused this cannot be seen,
         * and the revision (3.) is what shows that the bumped data runs. */
        if (expect->compacted_revision > 0 && !ret->read_refused) {
                etcd_range_done(&range);
                r = range_call(c,
                               &(EtcdRangeRequest) { .key = HEALTH_KEY, .count_only = true, .revision = expect->compacted_revision },
                               time_left(deadline), cancel, &range, &status, ret_message);
                if (r == -ERANGE)
                        return set_message(ret_message, -ENODATA,
                                           "etcd at %s has not reached revision %" PRIi64 ", which the restore should have left compacted: the restored data is not what etcd runs",
                                           c->url, expect->compacted_revision);
                if (r >= 0)
                        return set_message(ret_message, -EEXIST,
                                           "etcd at %s still serves revision %" PRIi64 ", which the restore should have left compacted: watchers would not be told to relist",
                                           c->url, expect->compacted_revision);
                if (r != -ESTALE)
                        return health_call_failed(c, r, "read at a compacted revision", timeout, ret_message);
                /* The message of the expected failure is not ours to pass on. */
                if (ret_message)
                        *ret_message = mfree(*ret_message);
        }
        return 0;
}

/* Where the stream stands; the checks in stream_message() keep it to etcd's protocol. */
typedef struct Stream {
        EtcdClient *client;
        const EtcdSnapshotSink *sink;
        char **ret_message;
        uint64_t db_size;
        uint64_t received; /* database bytes so far, the digest not counted */
        bool begun;
        bool have_digest;
} Stream;

static int stream_message(grpc_slice s, void *userdata) {
        Stream *st = userdata;
        const char *url = st->client->url;
        Etcdserverpb__SnapshotResponse *m;
        int r = 0;

        m = etcdserverpb__snapshot_response__unpack(NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
        if (!m)
                return set_message(st->ret_message, -EBADMSG, "etcd at %s sent a snapshot message that cannot be decoded",
                                   url);

        if (!st->begun) {
                /* remaining_bytes counts what is left after this chunk. */
                st->db_size = m->remaining_bytes + m->blob.len;
                st->begun = true;
                r = st->sink->begin(st->db_size, st->sink->userdata);
        }

        if (r >= 0) {
                if (st->have_digest)
                        r = set_message(st->ret_message, -EBADMSG, "etcd at %s sent data after the snapshot's checksum", url);
                else if (st->received < st->db_size) {
                        if (m->blob.len > st->db_size - st->received ||
                            m->remaining_bytes != st->db_size - st->received - m->blob.len)
                                r = set_message(st->ret_message, -EBADMSG,
                                                "etcd at %s sent a snapshot chunk that does not fit the announced size of %" PRIu64 " bytes",
                                                url, st->db_size);
                        else {
                                st->received += m->blob.len;
                                r = st->sink->data(m->blob.data, m->blob.len, st->sink->userdata);
                        }
                } else if (m->blob.len != ETCD_SNAPSHOT_DIGEST_SIZE)
                        r = set_message(st->ret_message, -EBADMSG,
                                        "etcd at %s ended the snapshot with a %zu byte message, not a SHA-256", url,
                                        m->blob.len);
                else {
                        st->have_digest = true;
                        r = st->sink->data(m->blob.data, m->blob.len, st->sink->userdata);
                }
        }

        etcdserverpb__snapshot_response__free_unpacked(m, NULL);
        return r;
}

int etcd_client_snapshot(EtcdClient *c, const EtcdSnapshotOptions *o, const EtcdSnapshotSink *sink,
                         char **ret_message) {
        Etcdserverpb__SnapshotRequest req = ETCDSERVERPB__SNAPSHOT_REQUEST__INIT;
        Stream st = { .client = c, .sink = sink, .ret_message = ret_message };
        Call k;
        int r;

        CallLimits limits = {
                .deadline = deadline_in(o->timeout),
                .stall_timeout = o->stall_timeout,
                .stall_min_bytes = o->stall_min_bytes,
                .cancel = o->cancel,
        };
        r = call_start(c, &k, METHOD_SNAPSHOT, &req.base, grpc_timeout(o->timeout));
        if (r < 0) {
                call_done(&k);
                return set_message(ret_message, r, "Cannot start the etcd Snapshot call: %s", strerror(-r));
        }
        r = call_run(&k, &limits, stream_message, &st);

        if (r == -ECANCELED && !(ret_message && *ret_message))
                r = set_message(ret_message, r, "Snapshot cancelled");
        else if (r == -ETIME)
                r = set_message(ret_message, -ETIMEDOUT,
                                "The snapshot from etcd at %s did not complete within %" PRIu64 " min (%" PRIu64 " of %" PRIu64 " bytes); gave up so as not to hold its database open",
                                c->url, o->timeout / USEC_PER_MINUTE, st.received, st.db_size);
        else if (r == -ETIMEDOUT)
                r = set_message(ret_message, r,
                                "etcd at %s sent less than %zu KiB of snapshot data in %" PRIu64 " s (%" PRIu64 " of %" PRIu64 " bytes); gave up so as not to hold its database open",
                                c->url, o->stall_min_bytes / 1024, o->stall_timeout / USEC_PER_SEC, st.received, st.db_size);
        else if (r < 0)
                ; /* the sink's or stream_message()'s own error and message */
        else if (k.status != GRPC_STATUS_OK) {
                char progress[64];
                snprintf(progress, sizeof(progress), "%" PRIu64 " of %" PRIu64 " bytes", st.received, st.db_size);
                r = status_to_error(c, "Snapshot", k.status, k.details, k.error_string, st.begun ? progress : NULL,
                                    ret_message);
        }
        else if (!st.have_digest)
                r = set_message(ret_message, -EPROTO,
                                "etcd at %s ended the snapshot stream after %" PRIu64 " of %" PRIu64 " bytes, without its checksum",
                                c->url, st.received, st.db_size);

        call_done(&k);
        return r;
}
