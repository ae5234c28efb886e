/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The ring between a backup's stream and its compressor: data through it intact across the
 * wrap, and a producer that waits for room (the compressor stuck on a disk that does not
 * answer) still stopped by a cancel or by the consumer giving up.
 */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "ring.h"
#include "tap.h"
#include "time-util.h"

#define SIZE 4096U

typedef struct Producer {
        Ring *ring;
        const uint8_t *data;
        size_t size;
        size_t chunk;
        bool close; /* when all is written */
        int result;
} Producer;

static void *producer_run(void *userdata) {
        Producer *p = userdata;

        p->result = 0;
        for (size_t off = 0; off < p->size && p->result == 0; off += p->chunk)
                p->result = ring_write(p->ring, p->data + off, MIN(p->chunk, p->size - off));
        if (p->close)
                ring_close(p->ring);
        return NULL;
}

/* Joins within ms milliseconds; false if the thread is still running then. */
static bool joined_within(pthread_t t, unsigned ms) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (long) (ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        return pthread_timedjoin_np(t, NULL, &ts) == 0;
}

/* Fills the ring (nobody consumes), then starts a producer of one more chunk and waits until
 * it is blocked waiting for room. */
static pthread_t start_blocked_producer(Ring *r, Producer *p) {
        static uint8_t full[SIZE], more[1000];
        pthread_t t;

        CHECK_EQ(ring_write(r, full, sizeof(full)), 0);
        CHECK_EQ(ring_producer_waits(r), 0);
        *p = (Producer) { .ring = r, .data = more, .size = sizeof(more), .chunk = sizeof(more), .result = 1 };
        CHECK_EQ(pthread_create(&t, NULL, producer_run, p), 0);
        for (unsigned i = 0; i < 5000 && ring_producer_waits(r) == 0; i++)
                usleep(1000);
        /* Counted under the lock just before it waits: from here it is in the wait, or woken. */
        CHECK_EQ(ring_producer_waits(r), 1);
        CHECK(!joined_within(t, 200));
        return t;
}

TEST(data_through_the_wrap) {
        size_t size = 1024 * 1024 + 17;
        uint8_t *data = malloc(size), *out = malloc(size);
        Producer p;
        Ring *r = NULL;
        pthread_t t;
        size_t got = 0;
        int k;

        for (size_t i = 0; i < size; i++)
                data[i] = (uint8_t) (i * 7 + i / 251);
        CHECK_EQ(ring_new(SIZE, NULL, &r), 0);
        /* A chunk size prime to the ring's, so that writes and runs straddle the end. */
        p = (Producer) { .ring = r, .data = data, .size = size, .chunk = 1237, .close = true };
        CHECK_EQ(pthread_create(&t, NULL, producer_run, &p), 0);
        for (;;) {
                const uint8_t *run;
                size_t n, take;

                k = ring_peek(r, &run, &n);
                if (k <= 0)
                        break;
                CHECK(n <= SIZE && got + n <= size);
                if (got + n > size)
                        break;
                /* Releasing less than the run, sometimes: the rest comes back with the next peek. */
                take = n > 100 && got % 3 == 0 ? n / 2 : n;
                memcpy(out + got, run, take);
                got += take;
                ring_release(r, take);
        }
        CHECK_EQ(k, 0);
        CHECK(joined_within(t, 5000));
        CHECK_EQ(p.result, 0);
        CHECK_EQ(got, size);
        CHECK(memcmp(out, data, size) == 0);
        CHECK(ring_producer_waits(r) > 0); /* the consumer was the slower side at times */
        ring_free(r);
        free(data);
        free(out);
}

TEST(closed_and_drained) {
        Ring *r = NULL;
        const uint8_t *run;
        size_t n;

        CHECK_EQ(ring_new(SIZE, NULL, &r), 0);
        CHECK_EQ(ring_write(r, "abc", 3), 0);
        ring_close(r);
        CHECK_EQ(ring_peek(r, &run, &n), 1);
        CHECK_EQ(n, 3);
        CHECK(memcmp(run, "abc", 3) == 0);
        ring_release(r, n);
        CHECK_EQ(ring_peek(r, &run, &n), 0);
        ring_free(r);
}

/* The case that matters: the producer waits for room, and then the cancel comes. */
TEST(cancel_unblocks_a_waiting_producer) {
        atomic_bool cancel = false;
        Producer p;
        Ring *r = NULL;
        pthread_t t;
        usec_t start;
        bool returned;

        CHECK_EQ(ring_new(SIZE, &cancel, &r), 0);
        t = start_blocked_producer(r, &p);
        start = now(CLOCK_MONOTONIC);
        atomic_store(&cancel, true);
        /* The flag is polled once a second while waiting: well within three. */
        returned = joined_within(t, 3000);
        CHECK(returned);
        CHECK_EQ(p.result, -ECANCELED);
        if (returned)
                printf("#   the producer returned %.2f s after the cancel\n", (double) (now(CLOCK_MONOTONIC) - start) / 1e6);
        else {
                /* Not stopped by the cancel: stop it otherwise, so the test ends. */
                ring_abort(r, -ECANCELED);
                (void) pthread_join(t, NULL);
        }
        ring_free(r);
}

/* The consumer giving up (a write error) reaches a waiting producer at once, with its error. */
TEST(abort_unblocks_a_waiting_producer) {
        Producer p;
        Ring *r = NULL;
        const uint8_t *run;
        size_t n;
        pthread_t t;

        CHECK_EQ(ring_new(SIZE, NULL, &r), 0);
        t = start_blocked_producer(r, &p);
        ring_abort(r, -ENOSPC);
        CHECK(joined_within(t, 500));
        CHECK_EQ(p.result, -ENOSPC);
        /* The first error counts, for both sides. */
        ring_abort(r, -ECANCELED);
        CHECK_EQ(ring_write(r, "x", 1), -ENOSPC);
        CHECK_EQ(ring_peek(r, &run, &n), -ENOSPC);
        ring_free(r);
}

TEST(cancelled_before_writing) {
        atomic_bool cancel = true;
        Ring *r = NULL;

        CHECK_EQ(ring_new(SIZE, &cancel, &r), 0);
        CHECK_EQ(ring_write(r, "x", 1), -ECANCELED);
        CHECK_EQ(ring_producer_waits(r), 0);
        ring_free(r);
}

int main(void) {
        RUN(data_through_the_wrap);
        RUN(closed_and_drained);
        RUN(cancel_unblocks_a_waiting_producer);
        RUN(abort_unblocks_a_waiting_producer);
        RUN(cancelled_before_writing);
        return tap_finish();
}
