/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Backup configurations: a name, a schedule, a retention count, enabled or not. Each is a file,
 * CONFIG_DIR/NAME.conf ([Backup] Schedule= Keep= Enabled=), written atomically by the agent and
 * editable by hand (picked up on reload), and a bus object /org/etcdbackup/Agent1/config/NAME.
 * "default" (@every 20m, keep 20) exists without a file. The last backup of each and its
 * result are kept in the state directory, so that they survive restarts.
 */

#include "backup.h"
#include "list.h"
#include "calendar.h"
#include "manager.h"
#include "schedule.h"

#define DEFAULT_SCHEDULE "@every 20m"
#define KEEP_MAX 100000U
/* Configurations the agent keeps, "default" included. Each is a timer in systemd and a few
 * calls of every pass over the timers; no node needs more than a handful. */
#define CONFIGS_MAX 100U

/* What a configuration says, from its file or from a method call. */
typedef struct BackupConfigSpec {
        char *schedule; /* as given */
        Schedule parsed;
        unsigned keep; /* 0: not given, the schedule's default */
        bool enabled;
} BackupConfigSpec;

void backup_config_spec_done(BackupConfigSpec *s);
/* Parses and checks schedule and keep (not yet with systemd's parser, for a raw calendar). On
 * refusal sets error to InvalidSchedule or InvalidRetention. */
int backup_config_spec_init(BackupConfigSpec *s, const char *schedule, unsigned keep, bool enabled,
                            sd_bus_error *error);
bool backup_config_spec_equal(const BackupConfigSpec *a, const BackupConfigSpec *b);

typedef struct BackupConfig BackupConfig;

struct BackupConfig {
        Manager *manager;
        LIST_FIELDS(BackupConfig, configs);
        char *name;
        char *object_path;
        BackupConfigSpec spec; /* schedule NULL: never loaded (its file was broken from the start) */
        bool broken;           /* its file cannot be used: the spec is the last good one, the timer stays */
        char *load_error;      /* why, for the LoadError property; NULL once the file is good */

        char last_backup_id[BACKUP_ID_STRING_MAX];
        usec_t last_backup;
        char *last_result; /* "completed", "failed" or NULL */
        char *last_error;  /* why the last backup failed, one line; NULL unless it did */
        uint64_t failures; /* failed backups since the agent started, for the metrics */

        usec_t next_run; /* its timer's next elapse, as timers.c learns it from systemd */
        bool retention_due; /* a backup of it completed; retention runs from the loop */
};

unsigned backup_config_keep(const BackupConfig *c);
BackupConfig *manager_find_config(Manager *m, const char *name);
size_t manager_n_configs(Manager *m);

/* Creates the configuration (taking the spec) and announces it on the bus. */
int backup_config_new(Manager *m, const char *name, BackupConfigSpec *spec, BackupConfig **ret);
BackupConfig *backup_config_free(BackupConfig *c);
/* Replaces the spec, announcing exactly what changed. */
void backup_config_set_spec(BackupConfig *c, BackupConfigSpec *spec);
void backup_config_set_next_run(BackupConfig *c, usec_t next);
/* error NULL: the file is good again. */
void backup_config_set_load_error(BackupConfig *c, const char *error);

/* A configuration's file: written atomically (before the configuration changes, so that a
 * failure changes nothing), or removed. "default" without a file is the built-in one. Logging;
 * error says what failed, with the path and the cause. */
int backup_config_save(Manager *m, const char *name, const BackupConfigSpec *spec, sd_bus_error *error);
int backup_config_remove_file(Manager *m, const char *name, sd_bus_error *error);

/* A configuration file's text, and back: pure, so that what is saved can be checked to read
 * back as what was accepted. The parse returns -EINVAL (or -EBADMSG for the syntax) with a
 * message, and the line it concerns in *ret_line (0: the file as a whole); warnings ("LINE:
 * Unknown key ...") go to *ret_warnings. Files may hold CONF_FILE_MAX (64 KiB). */
int backup_config_format(const char *name, const BackupConfigSpec *spec, char **ret);
int backup_config_parse(const char *text, BackupConfigSpec *ret, unsigned *ret_line, char **ret_message,
                        char ***ret_warnings);

/* Reads every configuration file and brings the configurations in line with them, once systemd
 * has checked the calendars among them. A broken file is reported (log, LoadError) and the
 * configuration it describes stays as it was, timer included. Then the timers follow, and done
 * (if not NULL) is called once they are in place. A change made through a method while a load
 * runs survives it: the method calls backup_configs_touch() once its file is written. */
typedef void (*backup_configs_loaded_t)(Manager *m, int r);
int backup_configs_load(Manager *m, backup_configs_loaded_t done);
bool backup_configs_loading(Manager *m);
void backup_configs_cancel_load(Manager *m);
void backup_configs_touch(Manager *m, const char *name);

/* A backup of c ended: remembers it (in memory, on the bus, in the state directory). */
void backup_config_record_result(BackupConfig *c, const Backup *b);
/* At start: the last results from the state directory, or from the backups on disk. */
void backup_configs_load_results(Manager *m);

/* After just_taken, a completed backup of c: the oldest beyond its Keep go (retention.h says
 * which; just_taken is never among them). */
void backup_config_apply_retention(BackupConfig *c, const Backup *just_taken);

/* The Config objects, for bus_object_kind_add() with the Manager. */
extern const BusObjectKind config_objects;
