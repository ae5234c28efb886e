/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The verbs, one file per kind of object, each listed in the verb table of etcd-backupctl.c.
 * A verb gets the bus, and argv with the verb itself at argv[0]; it returns 0, a negative
 * errno after saying why on stderr (exit status 1), or a positive exit status of its own (the
 * restore verbs: RestoreExit). The restore verbs (restore, cancel-restore, list-restores,
 * restore-status; later stop-control-plane and rejoin) are in verb-restores.c, following a
 * Restore with wait.h as backup follows a Backup; import makes a Backup and is with the backup
 * verbs.
 */

#include <systemd/sd-bus.h>

#include "objects.h"
#include "wait.h"

/* verb-status.c */
int verb_status(sd_bus *bus, int argc, char *argv[]);
/* status's exit status: 0 when every configuration is CONFIG_OK, else STATUS_EXIT_NOT_OK (3, as
 * systemctl status for a unit that is not active; 1 stays "could not ask"). */
#define STATUS_EXIT_NOT_OK 3
int status_exit_status(const ConfigInfo *configs, size_t n, uint64_t now_usec);

/* verb-backups.c */
int verb_backup(sd_bus *bus, int argc, char *argv[]);
int verb_list_backups(sd_bus *bus, int argc, char *argv[]);
int verb_verify(sd_bus *bus, int argc, char *argv[]);
int verb_delete_backup(sd_bus *bus, int argc, char *argv[]);
int verb_import(sd_bus *bus, int argc, char *argv[]);

/* A Backup as a Waiter follows it. */
extern const WaitKind backup_wait_kind;

/* How a scheduled backup waits for an agent that answers Busy with no backup running that it
 * could follow (during a restore): it asks again at each change of the Manager, and at the
 * latest after a wait that starts at initial and doubles up to max; from the first Busy
 * answer on it waits at most bound in all, a backup of another configuration it follows
 * included, then gives up. */
typedef struct BusyBackoff {
        usec_t initial;
        usec_t max;
        usec_t bound;
} BusyBackoff;

/* 1 s doubling to 1 min, for at most 1 h: the man page and etcd-backup@.service say so. */
extern const BusyBackoff scheduled_busy_backoff;

/* StartBackup of config; the path of the Backup to follow into ret_path. With busy (the
 * --scheduled way), a Busy agent is waited for as a timer wants it: a running backup of the
 * same configuration is joined (its path returned), one of another is followed to its end, any
 * other Busy is waited out as busy says; -ETIME once busy->bound has passed, -ECANCELED on
 * Ctrl-C. Without busy, Busy is an error like any other. w was set up with backup_wait_kind. */
int backup_start(Waiter *w, const char *config, const BusyBackoff *busy, char **ret_path);

/* verb-restores.c */
int verb_restore(sd_bus *bus, int argc, char *argv[]);
int verb_cancel_restore(sd_bus *bus, int argc, char *argv[]);
int verb_list_restores(sd_bus *bus, int argc, char *argv[]);
int verb_restore_status(sd_bus *bus, int argc, char *argv[]);
int verb_stop_control_plane(sd_bus *bus, int argc, char *argv[]);
int verb_rejoin(sd_bus *bus, int argc, char *argv[]);

/* A Restore as a Waiter follows it: a line per phase, the progress on a terminal. */
extern const WaitKind restore_wait_kind;

/* verb-configs.c */
int verb_list_configs(sd_bus *bus, int argc, char *argv[]);
int verb_add_config(sd_bus *bus, int argc, char *argv[]);
int verb_set_config(sd_bus *bus, int argc, char *argv[]);
int verb_remove_config(sd_bus *bus, int argc, char *argv[]);
