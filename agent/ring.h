/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A fixed byte ring between two threads: one producer (the thread reading a stream) copies data
 * in, one consumer (a compressor) works on it in place and then releases it. The producer blocks
 * while the ring is full, but never past a set cancel flag or the consumer giving up, so that a
 * stuck consumer (a disk that does not answer) cannot make a backup impossible to cancel.
 * Non-logging.
 */

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

typedef struct Ring Ring;

/* cancel (may be NULL) is read by the producer while it waits; it must outlive the ring. */
int ring_new(size_t size, const atomic_bool *cancel, Ring **ret);
Ring *ring_free(Ring *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(Ring *, ring_free);

/* Producer: copies all n bytes in, waiting for room as needed. 0, -ECANCELED once the cancel
 * flag is set (checked at least once a second while waiting), or the error the ring was
 * aborted with. */
int ring_write(Ring *r, const void *p, size_t n);
/* Producer: nothing more comes; the consumer drains what is left. */
void ring_close(Ring *r);

/* Consumer: waits for data and gives the longest contiguous run of it (> 0), 0 once the ring
 * is closed and drained, or the error it was aborted with. The run stays the consumer's until
 * ring_release(). */
int ring_peek(Ring *r, const uint8_t **ret_p, size_t *ret_n);
/* Consumer: gives back the first n bytes of the last peek. */
void ring_release(Ring *r, size_t n);

/* Either side: stop now. The first error (negative) counts; ring_write() and ring_peek()
 * return it from then on. */
void ring_abort(Ring *r, int error);

/* How often the producer found the ring full and had to wait (for tests and statistics). */
unsigned ring_producer_waits(Ring *r);
