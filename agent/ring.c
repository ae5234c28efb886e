/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The byte ring between a backup's stream and its compressor (see ring.h). */

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ring.h"

struct Ring {
        pthread_mutex_t lock;
        pthread_cond_t cond; /* "there is data" for the consumer, "there is room" for the producer */
        uint8_t *data;
        size_t size;
        size_t head, count; /* guarded by lock */
        bool closed;        /* the producer is done */
        int error;          /* aborted, from either side: stop now */
        unsigned waits;
        const atomic_bool *cancel;
};

int ring_new(size_t size, const atomic_bool *cancel, Ring **ret) {
        Ring *r;

        if (size == 0)
                return -EINVAL;
        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->data = malloc(size);
        if (!r->data) {
                free(r);
                return -ENOMEM;
        }
        r->size = size;
        r->cancel = cancel;
        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->cond, NULL);
        *ret = r;
        return 0;
}

Ring *ring_free(Ring *r) {
        if (!r)
                return NULL;
        pthread_cond_destroy(&r->cond);
        pthread_mutex_destroy(&r->lock);
        free(r->data);
        free(r);
        return NULL;
}

static bool ring_cancelled(Ring *r) {
        return r->cancel && atomic_load(r->cancel);
}

int ring_write(Ring *r, const void *p, size_t n) {
        const uint8_t *s = p;
        int ret = 0;

        pthread_mutex_lock(&r->lock);
        while (n > 0) {
                size_t k;

                if (r->count == r->size && r->error == 0 && !ring_cancelled(r))
                        r->waits++;
                while (r->count == r->size && r->error == 0 && !ring_cancelled(r)) {
                        /* Wakes up now and then: the cancel flag is set by another thread,
                         * which does not signal us. */
                        struct timespec ts;
                        clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_sec += 1;
                        (void) pthread_cond_timedwait(&r->cond, &r->lock, &ts);
                }
                if (r->error < 0 || ring_cancelled(r)) {
                        ret = r->error ?: -ECANCELED;
                        break;
                }
                k = MIN(n, r->size - r->count);
                k = MIN(k, r->size - r->head);
                /* The consumer reads only below count, so this copy needs no lock. */
                pthread_mutex_unlock(&r->lock);
                memcpy(r->data + r->head, s, k);
                pthread_mutex_lock(&r->lock);
                r->head = (r->head + k) % r->size;
                r->count += k;
                s += k;
                n -= k;
                pthread_cond_broadcast(&r->cond);
        }
        pthread_mutex_unlock(&r->lock);
        return ret;
}

void ring_close(Ring *r) {
        pthread_mutex_lock(&r->lock);
        r->closed = true;
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->lock);
}

int ring_peek(Ring *r, const uint8_t **ret_p, size_t *ret_n) {
        size_t tail, n;
        int ret;

        pthread_mutex_lock(&r->lock);
        while (r->count == 0 && !r->closed && r->error == 0)
                pthread_cond_wait(&r->cond, &r->lock);
        if (r->error < 0)
                ret = r->error;
        else if (r->count == 0)
                ret = 0; /* closed and drained */
        else {
                tail = (r->head + r->size - r->count) % r->size;
                n = MIN(r->count, r->size - tail);
                *ret_p = r->data + tail;
                *ret_n = n;
                ret = 1;
        }
        pthread_mutex_unlock(&r->lock);
        return ret;
}

void ring_release(Ring *r, size_t n) {
        pthread_mutex_lock(&r->lock);
        r->count -= MIN(n, r->count);
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->lock);
}

void ring_abort(Ring *r, int error) {
        pthread_mutex_lock(&r->lock);
        if (r->error == 0)
                r->error = error < 0 ? error : -ECANCELED;
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->lock);
}

unsigned ring_producer_waits(Ring *r) {
        unsigned n;

        pthread_mutex_lock(&r->lock);
        n = r->waits;
        pthread_mutex_unlock(&r->lock);
        return n;
}
