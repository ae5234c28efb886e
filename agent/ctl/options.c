/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The command line: every option, --help, and parse_argv(), which leaves the options in the
 * arg_* variables the verbs read. A new verb's options and its lines of --help go here, its
 * entry in the verb table in etcd-backupctl.c.
 */

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <stdio.h>

#include "macro.h"
#include "options.h"
#include "string-util.h"

JsonMode arg_json = JSON_OFF;
bool arg_legend = true;
bool arg_no_pager = false;
bool arg_full = false;
bool arg_quiet = false;
bool arg_ask_password = true;
bool arg_wait = true;
bool arg_scheduled = false;
const char *arg_schedule = NULL;
int64_t arg_keep = -1;
int arg_enabled = -1;
const char *arg_config = NULL;
bool arg_dry_run = false;
const char *arg_name = NULL;
const char *arg_initial_cluster = NULL;
const char *arg_initial_advertise_peer_urls = NULL;
const char *arg_initial_cluster_token = NULL;
uint64_t arg_revision_bump = 0;
bool arg_revision_bump_set = false;
int64_t arg_start_timeout = -1;
const char *arg_endpoint = NULL;
uint64_t arg_cluster_id = 0;

static void help(void) {
        printf("%s [OPTIONS...] COMMAND ...\n\n"
               "Take, list, check and restore etcd backups, and schedule them, through etcd-backupd.\n\n"
               "Commands:\n"
               "  status                 Show the agent's state and each configuration's last\n"
               "                         result and next run\n"
               "  backup [CONFIG]        Take a backup now (of configuration 'default' if none is\n"
               "                         given), wait for it and print its id\n"
               "  list-backups [CONFIG]  List completed backups, newest first\n"
               "  verify ID              Check a backup end to end\n"
               "  delete-backup ID       Delete a backup\n"
               "  import FILE            Copy a backup file taken on another node into storage,\n"
               "                         after verifying it, and print its id (FILE - reads it\n"
               "                         from standard input)\n"
               "  list-configs           List the backup configurations\n"
               "  add-config NAME --schedule=S [--keep=N]\n"
               "                         Add a configuration (enabled)\n"
               "  set-config NAME [--schedule=S] [--keep=N] [--enable|--disable]\n"
               "                         Change a configuration\n"
               "  remove-config NAME     Remove a configuration (its backups stay)\n"
               "  restore ID             Restore etcd and the control plane to a backup, showing\n"
               "                         each phase; exit status 0 only if it completed\n"
               "  cancel-restore ID      Cancel a restore before it stops the control plane\n"
               "  list-restores          List restores, newest first\n"
               "  restore-status ID      Show a restore\n"
               "  stop-control-plane     Stop the control plane and etcd on this node and keep them\n"
               "                         stopped: the first step on the other members of a cluster\n"
               "                         restored through one node\n"
               "  rejoin --endpoint=URL [--cluster-id=ID]\n"
               "                         Make this node's etcd a new member of the restored cluster\n"
               "                         that URL serves, then start the control plane again\n\n"
               "Schedules: hourly, daily, weekly, monthly (optionally \"daily at 02:30\",\n"
               "\"hourly at :15\"); \"@every 20m\", \"@every 6h from 02:00\"; cron's five fields\n"
               "(\"0 2 * * *\"); or a systemd calendar (\"Mon..Fri *-*-* 01:30\").\n\n"
               "Options:\n"
               "  -h --help              Show this help\n"
               "     --version           Show the version\n"
               "     --json[=short|pretty|off|help]\n"
               "                         Print one JSON document instead of tables\n"
               "     --no-legend         Print tables without header and footer\n"
               "     --no-pager          Do not pipe output into a pager\n"
               "  -l --full              Do not ellipsize table cells to fit the terminal\n"
               "  -q --quiet             Do not print informational messages (errors are still\n"
               "                         printed)\n"
               "     --no-ask-password   Do not ask for a password to authorize an action\n"
               "     --no-wait           backup, restore, cancel-restore: return once it has\n"
               "                         started (or was asked for)\n"
               "     --scheduled         backup: as a timer does it: join a running backup of the\n"
               "                         same configuration, wait for one of another or for a\n"
               "                         busy agent (a restore), at most 1 hour\n"
               "     --schedule=S        add-config, set-config: when to back up\n"
               "     --keep=N            add-config, set-config: backups to keep (without it: the\n"
               "                         schedule's default, hourly 24, daily 7, weekly 4,\n"
               "                         monthly 3, else 20)\n"
               "     --enable --disable  add-config, set-config: whether its timer runs\n"
               "     --config=NAME       import: file it under configuration NAME instead of the\n"
               "                         one it was taken for\n"
               "     --dry-run           restore: verify and stage only; nothing is stopped\n"
               "     --name=NAME --initial-cluster=NAME=URL,... --initial-advertise-peer-urls=URL,...\n"
               "     --endpoint=URL      rejoin: a client URL of the restored cluster\n"
               "     --cluster-id=ID     rejoin: refuse unless that cluster has this id (hex, as\n"
               "                         etcdctl prints it)\n"
               "     --initial-cluster-token=TOKEN\n"
               "                         restore: the restored member's membership (default:\n"
               "                         [Etcd] in agent.conf)\n"
               "     --revision-bump=N   restore: raise the revision by N and mark older ones\n"
               "                         compacted (default 1000000000; 0: no bump)\n"
               "     --start-timeout=SEC restore: how long etcd, then each control-plane unit, may\n"
               "                         take to be healthy (default: sized to the database)\n"
               "\nSee the %s(1) man page for details.\n",
               program_invocation_short_name,
               program_invocation_short_name);
}

int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_JSON,
                ARG_NO_LEGEND,
                ARG_NO_PAGER,
                ARG_NO_ASK_PASSWORD,
                ARG_NO_WAIT,
                ARG_SCHEDULED,
                ARG_SCHEDULE,
                ARG_KEEP,
                ARG_ENABLE,
                ARG_DISABLE,
                ARG_CONFIG,
                ARG_DRY_RUN,
                ARG_NAME,
                ARG_INITIAL_CLUSTER,
                ARG_INITIAL_ADVERTISE_PEER_URLS,
                ARG_INITIAL_CLUSTER_TOKEN,
                ARG_ENDPOINT,
                ARG_CLUSTER_ID,
                ARG_REVISION_BUMP,
                ARG_START_TIMEOUT,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "json", optional_argument, NULL, ARG_JSON },
                { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
                { "no-pager", no_argument, NULL, ARG_NO_PAGER },
                { "quiet", no_argument, NULL, 'q' },
                { "full", no_argument, NULL, 'l' },
                { "no-ask-password", no_argument, NULL, ARG_NO_ASK_PASSWORD },
                { "no-wait", no_argument, NULL, ARG_NO_WAIT },
                { "scheduled", no_argument, NULL, ARG_SCHEDULED },
                { "schedule", required_argument, NULL, ARG_SCHEDULE },
                { "keep", required_argument, NULL, ARG_KEEP },
                { "enable", no_argument, NULL, ARG_ENABLE },
                { "disable", no_argument, NULL, ARG_DISABLE },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "dry-run", no_argument, NULL, ARG_DRY_RUN },
                { "name", required_argument, NULL, ARG_NAME },
                { "initial-cluster", required_argument, NULL, ARG_INITIAL_CLUSTER },
                { "initial-advertise-peer-urls", required_argument, NULL, ARG_INITIAL_ADVERTISE_PEER_URLS },
                { "initial-cluster-token", required_argument, NULL, ARG_INITIAL_CLUSTER_TOKEN },
                { "endpoint", required_argument, NULL, ARG_ENDPOINT },
                { "cluster-id", required_argument, NULL, ARG_CLUSTER_ID },
                { "revision-bump", required_argument, NULL, ARG_REVISION_BUMP },
                { "start-timeout", required_argument, NULL, ARG_START_TIMEOUT },
                {},
        };
        unsigned keep, sec;
        int c;

        while ((c = getopt_long(argc, argv, "hlq", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("etcd-backupctl %s\n", PROJECT_VERSION);
                        return 0;
                case ARG_JSON:
                        if (!optarg || streq(optarg, "short"))
                                arg_json = JSON_SHORT;
                        else if (streq(optarg, "pretty"))
                                arg_json = JSON_PRETTY;
                        else if (streq(optarg, "off"))
                                arg_json = JSON_OFF;
                        else if (streq(optarg, "help")) {
                                printf("short\npretty\noff\n");
                                return 0;
                        } else {
                                fprintf(stderr, "Unknown --json= mode '%s': expected short, pretty or off (--json=help lists them).\n",
                                        optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_NO_LEGEND:
                        arg_legend = false;
                        break;
                case ARG_NO_PAGER:
                        arg_no_pager = true;
                        break;
                case 'l':
                        arg_full = true;
                        break;
                case 'q':
                        arg_quiet = true;
                        break;
                case ARG_NO_ASK_PASSWORD:
                        arg_ask_password = false;
                        break;
                case ARG_NO_WAIT:
                        arg_wait = false;
                        break;
                case ARG_SCHEDULED:
                        arg_scheduled = true;
                        break;
                case ARG_SCHEDULE:
                        arg_schedule = optarg;
                        break;
                case ARG_KEEP:
                        if (safe_atou(optarg, &keep) < 0) {
                                fprintf(stderr, "Invalid --keep=%s: expected a number of backups.\n", optarg);
                                return -EINVAL;
                        }
                        arg_keep = keep;
                        break;
                case ARG_ENABLE:
                        arg_enabled = 1;
                        break;
                case ARG_DISABLE:
                        arg_enabled = 0;
                        break;
                case ARG_CONFIG:
                        arg_config = optarg;
                        break;
                case ARG_DRY_RUN:
                        arg_dry_run = true;
                        break;
                case ARG_NAME:
                        arg_name = optarg;
                        break;
                case ARG_INITIAL_CLUSTER:
                        arg_initial_cluster = optarg;
                        break;
                case ARG_INITIAL_ADVERTISE_PEER_URLS:
                        arg_initial_advertise_peer_urls = optarg;
                        break;
                case ARG_ENDPOINT:
                        arg_endpoint = optarg;
                        break;
                case ARG_CLUSTER_ID: {
                        char *end = NULL;
                        errno = 0;
                        arg_cluster_id = strtoull(optarg, &end, 16);
                        if (errno != 0 || !end || *end || end == optarg || arg_cluster_id == 0 || optarg[0] == '-') {
                                fprintf(stderr, "Invalid --cluster-id=%s: expected a cluster id in hex, as etcdctl prints it.\n", optarg);
                                return -EINVAL;
                        }
                        break;
                }
                case ARG_INITIAL_CLUSTER_TOKEN:
                        arg_initial_cluster_token = optarg;
                        break;
                case ARG_REVISION_BUMP:
                        if (safe_atou64(optarg, &arg_revision_bump) < 0) {
                                fprintf(stderr, "Invalid --revision-bump=%s: expected a number of revisions (0: no bump).\n",
                                        optarg);
                                return -EINVAL;
                        }
                        arg_revision_bump_set = true;
                        break;
                case ARG_START_TIMEOUT:
                        if (safe_atou(optarg, &sec) < 0 || sec == 0) {
                                fprintf(stderr, "Invalid --start-timeout=%s: expected a number of seconds, at least 1.\n", optarg);
                                return -EINVAL;
                        }
                        arg_start_timeout = sec;
                        break;
                default:
                        return -EINVAL;
                }
        return 1;
}
