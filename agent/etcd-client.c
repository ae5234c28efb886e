/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The etcd client over gRPC core. Each call gets its own completion queue and is driven by
 * grpc_completion_queue_next() on the calling (worker) thread: gRPC only makes progress while a
 * thread sits in next(), so the stream loop waits in short slices and uses the gaps to notice a
 * cancel request or a stalled stream. The snapshot protocol is etcd's (maintenance.go): chunks of
 * the bbolt file, remaining_bytes counting down, then one extra message with the SHA-256 of the
 * file. etcd never fills in the header of these messages, so the size is learnt from the first
 * chunk and the digest is told apart by position, not by remaining_bytes == 0.
 */

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <inttypes.h>
#include <stdio.h>

#include "etcd-client.h"
#include "etcd.pb-c.h"
#include "fs-util.h"
#include "string-util.h"
#include "time-util.h"

#define METHOD_STATUS "/etcdserverpb.Maintenance/Status"
#define METHOD_SNAPSHOT "/etcdserverpb.Maintenance/Snapshot"

/* The slice the stream loop waits in before it looks at the cancel flag and the stall clock. */
#define STREAM_POLL_MSEC 250
/* PEM files larger than this are not certificates. */
#define PEM_FILE_MAX (1024U * 1024U)

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

int etcd_endpoint_parse_url(const char *url, char **ret_target, bool *ret_tls) {
        const char *rest;
        bool tls;
        size_t n;
        char *t;

        if ((rest = startswith(url, "https://")))
                tls = true;
        else if ((rest = startswith(url, "http://")))
                tls = false;
        else
                return -EINVAL;

        /* etcd's client URLs are bare authorities; a trailing slash is harmless, a path is not. */
        n = strcspn(rest, "/?#");
        if (n == 0 || (rest[n] && !streq(rest + n, "/")))
                return -EINVAL;
        if (strcspn(rest, " \t@") < n)
                return -EINVAL;

        /* No port: etcd's default client port. An IPv6 literal's colons sit inside brackets. */
        const char *last_colon = memrchr(rest, ':', n), *bracket = memrchr(rest, ']', n);
        bool has_port = last_colon && (!bracket || last_colon > bracket);
        if (has_port && (size_t) (last_colon - rest) == n - 1)
                return -EINVAL;
        if (asprintf(&t, "%.*s%s", (int) n, rest, has_port ? "" : ":2379") < 0)
                return -ENOMEM;

        *ret_target = t;
        *ret_tls = tls;
        return 0;
}

static int read_pem(const char *what, const char *path, char **ret, char **ret_message) {
        int r;

        r = read_full_file(path, PEM_FILE_MAX, ret, NULL);
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
        _cleanup_free_ char *d = grpc_slice_to_c_string(details);
        const char *hint = "";
        int r;

        switch (status) {
        case GRPC_STATUS_UNAVAILABLE:
                r = -EHOSTUNREACH;
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
                hint = " (a snapshot needs the root role when etcd authentication is on)";
                break;
        case GRPC_STATUS_UNIMPLEMENTED:
                r = -EOPNOTSUPP;
                break;
        default:
                r = -EPROTO;
        }

        /* error_string is gRPC's debugging dump; only worth showing when there is nothing else. */
        const char *why = !isempty(d) ? d : strna(error_string);
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
        uint8_t buf[64];
        size_t n;
        grpc_slice s;

        *k = (Call) { .details = grpc_empty_slice() };
        grpc_metadata_array_init(&k->initial_metadata);
        grpc_metadata_array_init(&k->trailing_metadata);

        /* Our requests are empty messages or nearly so. */
        n = protobuf_c_message_get_packed_size(request);
        if (n > sizeof(buf))
                return -E2BIG;
        protobuf_c_message_pack(request, buf);
        s = grpc_slice_from_copied_buffer((const char *) buf, n);
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

static int status_message(grpc_slice s, void *userdata) {
        Etcdserverpb__StatusResponse **resp = userdata;

        if (*resp) /* a unary call answers once */
                return -EBADMSG;
        *resp = etcdserverpb__status_response__unpack(NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
        return *resp ? 0 : -EBADMSG;
}

int etcd_client_status(EtcdClient *c, usec_t timeout, const atomic_bool *cancel, EtcdStatus *ret,
                       char **ret_message) {
        Etcdserverpb__StatusRequest req = ETCDSERVERPB__STATUS_REQUEST__INIT;
        Etcdserverpb__StatusResponse *resp = NULL;
        Call k;
        int r;

        CallLimits limits = { .deadline = deadline_in(timeout), .stall_timeout = USEC_INFINITY, .cancel = cancel };
        r = call_start(c, &k, METHOD_STATUS, &req.base, grpc_timeout(timeout));
        if (r < 0) {
                call_done(&k);
                return set_message(ret_message, r, "Cannot start the etcd Status call: %s", strerror(-r));
        }
        r = call_run(&k, &limits, status_message, &resp);

        if (r == -ECANCELED)
                r = set_message(ret_message, r, "Cancelled while asking etcd at %s for its status", c->url);
        else if (r == -ETIME)
                r = set_message(ret_message, -ETIMEDOUT, "etcd at %s did not answer the Status call within %" PRIu64 " s",
                                c->url, timeout / USEC_PER_SEC);
        else if (r == -EBADMSG || (r >= 0 && k.status == GRPC_STATUS_OK && !resp))
                r = set_message(ret_message, -EBADMSG, "etcd at %s sent a Status answer that cannot be decoded", c->url);
        else if (k.status != GRPC_STATUS_OK)
                r = status_to_error(c, "Status", k.status, k.details, k.error_string, /* progress= */ NULL,
                                    ret_message);
        else {
                *ret = (EtcdStatus) {
                        .cluster_id = resp->header ? resp->header->cluster_id : 0,
                        .member_id = resp->header ? resp->header->member_id : 0,
                        .revision = resp->header ? resp->header->revision : 0,
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
                        ret->errors = strv_join(resp->errors, "; ");
                        if (!ret->errors)
                                r = -ENOMEM;
                }
        }

        if (resp)
                etcdserverpb__status_response__free_unpacked(resp, NULL);
        call_done(&k);
        return r;
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
