/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The command line's options, as parse_argv() left them, read by the verbs. */

#include <stdbool.h>
#include <stdint.h>

typedef enum JsonMode { JSON_OFF, JSON_SHORT, JSON_PRETTY } JsonMode;

extern JsonMode arg_json;
extern bool arg_legend;
extern bool arg_no_pager;
extern bool arg_full;  /* -l: tables not fitted to the terminal */
extern bool arg_quiet; /* -q: no informational messages (errors are still printed) */
extern bool arg_ask_password;
extern bool arg_wait;
extern bool arg_scheduled;
extern const char *arg_schedule;
extern int64_t arg_keep; /* -1: not given */
extern int arg_enabled;  /* -1: not given */
extern const char *arg_config; /* import: file it under this configuration */
/* restore: the Restore() options given (NULL, -1: not given). */
extern bool arg_dry_run;
extern const char *arg_name;
extern const char *arg_initial_cluster;
extern const char *arg_initial_advertise_peer_urls;
extern const char *arg_initial_cluster_token;
extern uint64_t arg_revision_bump;
extern bool arg_revision_bump_set;
extern int64_t arg_start_timeout;
extern const char *arg_endpoint;   /* rejoin */
extern uint64_t arg_cluster_id;    /* rejoin; 0: not given */

/* 1: go on with the verb at argv[optind]; 0: done (--help, --version); negative: refused, said
 * why on stderr. */
int parse_argv(int argc, char *argv[]);
