/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Logging for the daemon. Under systemd (stderr connected to the journal, as $JOURNAL_STREAM
 * says) messages go through sd_journal_send() with structured fields, so that
 * `journalctl BACKUP_ID=...` finds everything about one backup; anywhere else they go to stderr.
 * Every function returns -abs(error), so that a caller can log and return in one statement.
 */

#include <syslog.h>

#include "macro.h"

void log_open(void);
void log_set_max_level(int level);

_printf_(3, 4) int log_full_errno(int level, int error, const char *fmt, ...);
/* As log_full_errno(), with extra journal fields: "KEY=value" strings, NULL-terminated. */
_printf_(4, 5) int log_fields_errno(int level, int error, char * const *fields, const char *fmt, ...);

#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)
#define log_oom() log_full_errno(LOG_ERR, ENOMEM, "Out of memory.")
