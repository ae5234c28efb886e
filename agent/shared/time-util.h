/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Clocks and the human and machine forms of times and sizes. Non-logging. */

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "macro.h"

#define FORMAT_TIMESTAMP_MAX 32
#define FORMAT_BYTES_MAX 16
#define FORMAT_SECONDS_MAX 32

usec_t now(clockid_t clock);

/* RFC 3339 in UTC, second precision: "2026-11-25T10:00:00Z" (what --json and the docs promise). */
char *format_timestamp_rfc3339(char *buf, size_t l, usec_t t);
/* Local time as systemd prints it, with the weekday and the zone: "Wed 2026-12-02 14:20:00 UTC". */
char *format_timestamp_local(char *buf, size_t l, usec_t t);
/* How far t is from now, as systemctl list-timers says it: "5min left", "1h 10min ago",
 * "2 days ago" (the two largest units down to an hour, one from two days on). */
char *format_timestamp_relative(char *buf, size_t l, usec_t t, usec_t now_usec);
/* The compact UTC form used in backup file names: "20261125T100000Z". */
char *format_timestamp_compact(char *buf, size_t l, usec_t t);
/* A duration in seconds to the tenth, rounded: "12.3 s" (a restore's downtime). */
char *format_seconds(char *buf, size_t l, usec_t t);
/* Sizes exactly as systemd's format_bytes() prints them: 1023B, 4.0K, 12.3M, 1.2G (base 1024, the
 * tenths cut, not rounded); NULL for UINT64_MAX (which systemd prints as unset). */
char *format_bytes(char *buf, size_t l, uint64_t bytes);
