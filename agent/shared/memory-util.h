/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Handing memory back while the agent is idle, which is nearly always. Non-logging.
 */

/* Returns malloc's free memory to the kernel, and drops this process's resident pages of the
 * read-only mappings of the given libraries (matched by substring of their path, e.g.
 * "libgrpc") that hold no page of their own (copied on write or swapped). The pages stay in
 * the page cache: the next use faults them back in cheaply. Call it only while no thread runs
 * the libraries' code, or it merely faults back in. Returns the number of mappings handed
 * back. */
int memory_release(const char * const *libraries);
