/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The agent's objects as the CLI reads them: one struct and property map per interface (the
 * Manager, a Backup, a Config, a Restore), and all objects at once from the ObjectManager. A new
 * kind of object gets its struct, map and _done() here and its branch in get_objects().
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "bus.h"

typedef struct ManagerInfo {
        char *state;
        char *version;
        char *storage;
        char *endpoint;
        char *running_backup;
        char *running_restore;
        char **detected; /* key, value, source; key, value, source; ... */
        char *detection_error;
} ManagerInfo;

extern const PropertyMap manager_map[];
void manager_info_done(ManagerInfo *i);

typedef struct BackupInfo {
        char *path;
        char *id;
        char *config;
        char *state;
        char *error_name;
        char *error;
        char *file;
        char *sha256;
        char *etcd_version;
        char *node;
        uint64_t size;
        uint64_t snapshot_size;
        uint64_t cluster_id;
        uint64_t member_id;
        uint64_t created;
        uint64_t completed;
        uint64_t bytes_done;
        uint64_t bytes_total;
        int64_t revision;
        uint32_t progress;
} BackupInfo;

extern const PropertyMap backup_map[];
void backup_info_done(BackupInfo *b);

typedef struct ConfigInfo {
        char *path;
        char *name;
        char *schedule;
        char *calendar;
        char *last_backup_id;
        char *last_result;
        char *load_error; /* why its file cannot be used; empty when it can */
        uint32_t keep;
        bool enabled;
        uint64_t last_backup;
        uint64_t next_run;
} ConfigInfo;

extern const PropertyMap config_map[];
void config_info_done(ConfigInfo *c);

/* How long past its NextRun an enabled configuration's timer may be before it is overdue: the
 * timer's AccuracySec= (1 min) and a loaded machine, with room to spare. */
#define CONFIG_OVERDUE_USEC (15 * 60 * 1000000ULL)
typedef enum ConfigHealth {
        CONFIG_OK,
        CONFIG_FAILED,  /* its last backup failed */
        CONFIG_OVERDUE, /* NextRun passed long ago: the timer does not fire */
        CONFIG_BROKEN,  /* its file cannot be used (the older one stays in force) */
} ConfigHealth;
/* Disabled configurations are OK whatever they say; pure, for status's exit status. */
ConfigHealth config_info_health(const ConfigInfo *c, uint64_t now_usec);

/* A restore, a stop of the control plane or a rejoin (Kind). */
typedef struct RestoreInfo {
        char *path;
        char *id;
        char *kind;
        char *backup;
        char *phase;
        char *error;
        char *error_name;
        char *previous_data;
        char *data_dir;
        char *etcd_unit;
        char **units;
        char *name;
        char *initial_cluster;
        char *endpoint;
        uint64_t cluster_id;
        uint64_t member_id;
        uint64_t started;
        uint64_t finished;
        uint64_t downtime_usec;
        uint64_t revision_bump;
        int64_t revision;
        uint32_t progress;
        bool dry_run;
        bool resumed;
} RestoreInfo;

extern const PropertyMap restore_map[];
void restore_info_done(RestoreInfo *r);

/* Everything the agent has, from one GetManagedObjects call: backups and restores newest
 * first, configurations in the agent's order. */
typedef struct Objects {
        BackupInfo *backups;
        size_t n_backups;
        ConfigInfo *configs;
        size_t n_configs;
        RestoreInfo *restores;
        size_t n_restores;
} Objects;

int get_objects(sd_bus *bus, Objects *ret);
void objects_done(Objects *o);
